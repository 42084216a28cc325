/**
 * Keeps every domain certified: reads the domains from the supervisor and
 * the stored certificates from the keyvault, orders what is missing or due
 * for renewal, and schedules the next look. Failure is normal here: each
 * failed name is retried on the schedule below, never sooner than the CA's
 * Retry-After, and every failure is an event that says what happened.
 * Orders in flight are journaled in state.db (order-journal.ts), so an
 * order cut short by a crash is taken up again by the next attempt.
 */
import {
  type AcmeEvent,
  DEFAULT_MAX_CONCURRENT_ORDERS,
  DEFAULT_NEW_ORDER_LIMIT,
  type RequestPayload,
} from '@gatehouse/gateway/ipc';
import type { Logger } from '@gatehouse/gateway/log';
import { type Account, AccountError, AcmeAccounts, deactivatedAction } from './account.js';
import type { AcmeIdentifier } from './acme/api.js';
import { HttpError, type HttpClient } from './acme/http.js';
import { AcmeProblemError, AcmeProtocolError } from './acme/problem.js';
import { IssuerError, IssuerRotation, type IssuerState, issuerStates } from './issuers.js';
import { type Ask, type ChallengeType, OrderError } from './order.js';
import { OrderJournal, obtainResumable } from './order-journal.js';
import { type DnsProvider, DnsProviderError } from './dns/provider.js';
import { IssuerQueues } from './issuer-queues.js';
import { describeWait } from './order-limiter.js';
import {
  type RenewalCertificate,
  RenewalPlanner,
  type RenewalPlan,
  newestCovering,
} from './renewal.js';
import { type RevokeResult, revokeCertificate } from './revocation.js';

/**
 * Retry delays after consecutive failures of one name: 10 s, 30 s, 1 min,
 * 5 min, 15 min, then hourly; each with up to 20% random jitter so that
 * many names failing together do not retry together.
 */
export const RETRY_SCHEDULE_MS = [10_000, 30_000, 60_000, 300_000, 900_000, 3_600_000];

/** After a CA fails for a name, how soon the next CA in the list is tried. */
const FAILOVER_DELAY_MS = 2_000;

export interface AgentOptions {
  readonly directoryUrl: string;
  readonly email: string | undefined;
  readonly http: HttpClient;
  readonly ask: Ask;
  readonly emit: (event: AcmeEvent) => void;
  readonly log: Logger;
  readonly challengeTypes?: readonly ChallengeType[];
  readonly retrySchedule?: readonly number[];
  /** For dns-01 (and so wildcards); none by default. */
  readonly dnsProvider?: DnsProvider | undefined;
  /**
   * The CAs to try in order, each with its caps (issuers.ts); without it,
   * the one CA at `directoryUrl`, with the default caps.
   */
  readonly issuers?: readonly IssuerState[];
}

export class CertificateAgent {
  readonly #issuers: readonly IssuerState[];
  readonly #rotation: IssuerRotation;
  /** Names waiting for an order, per CA (issuer-queues.ts). */
  readonly #queues: IssuerQueues;
  #drainTimer: { at: number; timer: NodeJS.Timeout } | undefined;
  /**
   * The ACME account at each CA, by directory URL (the keyvault keys
   * accounts the same way), and the operator's operations on it.
   */
  readonly accounts: AcmeAccounts;
  readonly #revoked = new Set<string>();
  readonly #timers = new Map<string, NodeJS.Timeout>();
  readonly #failures = new Map<string, number>();
  readonly #inFlight = new Set<string>();
  #reconciling: Promise<void> | undefined;
  /** Whether the new-order caps were charged with the last run's orders. */
  #capsRestored = false;
  #again = false;
  #stopped = false;
  /** Renewal information (RFC 9773) of each CA, in the order of #issuers. */
  readonly #planners: readonly RenewalPlanner[];
  /** Each name's current renewal plan, for the `replaces` of its next order (RFC 9773). */
  readonly #plans = new Map<string, RenewalPlan>();

  constructor(private readonly options: AgentOptions) {
    this.#issuers =
      options.issuers && options.issuers.length > 0
        ? options.issuers
        : issuerStates(
            [
              {
                directoryUrl: options.directoryUrl,
                ...(options.email ? { email: options.email } : {}),
                maxConcurrentOrders: DEFAULT_MAX_CONCURRENT_ORDERS,
                newOrderLimit: { ...DEFAULT_NEW_ORDER_LIMIT },
              },
            ],
            Date.now,
            () => options.http,
          );
    this.#rotation = new IssuerRotation(this.#issuers.length);
    this.#queues = new IssuerQueues(this.#issuers.length);
    this.accounts = new AcmeAccounts({
      directoryUrl: this.#issuers[0]?.config.directoryUrl ?? options.directoryUrl,
      issuer: (directoryUrl) =>
        this.#issuers.find((issuer) => issuer.config.directoryUrl === directoryUrl),
      ask: options.ask,
      emit: options.emit,
      log: options.log,
    });
    // Renewal information is asked of the CA that issued a certificate
    // (RFC 9773 section 4.3), which the keyvault keeps with it.
    this.#planners = this.#issuers.map(
      (issuer) =>
        new RenewalPlanner({
          directoryUrl: issuer.config.directoryUrl,
          http: issuer.http,
          log: options.log,
        }),
    );
  }

  /** Look at every domain now; safe to call at any time, calls overlap into one. */
  reconcile(): Promise<void> {
    if (this.#reconciling) {
      this.#again = true;
      return this.#reconciling;
    }
    this.#reconciling = (async () => {
      do {
        this.#again = false;
        await this.#reconcileOnce().catch((error: unknown) => {
          this.options.log.warn('could not read domains or certificates; retrying in 2 s', {
            error,
          });
          this.#schedule('*', 2_000);
        });
      } while (this.#again && !this.#stopped);
    })().finally(() => {
      this.#reconciling = undefined;
    });
    return this.#reconciling;
  }

  stop(): void {
    this.#stopped = true;
    for (const timer of this.#timers.values()) clearTimeout(timer);
    this.#timers.clear();
    if (this.#drainTimer) clearTimeout(this.#drainTimer.timer);
    this.#drainTimer = undefined;
  }

  async #reconcileOnce(): Promise<void> {
    if (!this.#capsRestored) {
      await this.#restoreCaps();
      this.#capsRestored = true;
    }
    const { domains } = await this.options.ask('supervisor.domains', {});
    // A revoked certificate covers nothing: its names are ordered again.
    const certificates = (await this.options.ask('keyvault.certificates', {})).certificates.filter(
      (certificate) =>
        certificate.revokedAt === null && !this.#revoked.has(certificate.certificateId),
    );
    const wanted = new Set(domains.map((domain) => domain.name));

    for (const [name, timer] of this.#timers) {
      if (name !== '*' && !wanted.has(name)) {
        clearTimeout(timer);
        this.#timers.delete(name);
        this.#rotation.forget(name);
      }
    }
    const now = Date.now();
    for (const name of wanted) {
      if (this.#inFlight.has(name) || this.#queues.has(name)) continue;
      const plan = await this.#planner(name, certificates, now).plan(
        certificates,
        identifierOf(name),
        now,
      );
      this.#plans.set(name, plan);
      if (plan.renewAt <= now) this.#enqueue(name);
      else if (!this.#timers.has(name)) this.#scheduleRenewal(name, plan, now);
    }
    for (const issuer of this.#issuers) {
      await this.#journal(issuer.config.directoryUrl).prune(
        (name) => this.#inFlight.has(name) || this.#queues.has(name),
      );
    }
    this.#drain();
  }

  /**
   * Charge each CA's new-order cap with the orders it created within its
   * period before this agent started, and restore the pauses a CA asked
   * for (both kept in state.db by the supervisor), so that a restart does
   * not hand out a fresh burst the CA still counts.
   */
  async #restoreCaps(): Promise<void> {
    const now = Date.now();
    const longest = Math.max(
      ...this.#issuers.map((issuer) => issuer.config.newOrderLimit.periodSeconds * 1000),
    );
    const { newOrders, pauses } = await this.options.ask('supervisor.order-caps', {
      since: Math.max(0, now - longest),
    });
    for (const pause of pauses) {
      const issuer = this.#issuers.find((each) => each.config.directoryUrl === pause.issuer);
      if (!issuer) continue;
      issuer.limiter.pauseUntil(pause.until);
      this.options.log.info('the CA asked for no new orders before a restart; still waiting', {
        issuer: pause.issuer,
        until: new Date(pause.until).toISOString(),
      });
    }
    for (const issuer of this.#issuers) {
      const { directoryUrl, newOrderLimit } = issuer.config;
      const since = now - newOrderLimit.periodSeconds * 1000;
      const created = newOrders
        .filter((order) => order.issuer === directoryUrl && order.createdAt >= since)
        .map((order) => order.createdAt);
      if (created.length === 0) continue;
      issuer.limiter.restore(created);
      this.options.log.info('new-order cap charged with the orders of the last run', {
        issuer: directoryUrl,
        orders: created.length,
        period_seconds: newOrderLimit.periodSeconds,
      });
    }
  }

  /** Start no order at this CA before `until`, also after a restart (state.db). */
  #pause(issuer: IssuerState, until: number): void {
    issuer.limiter.pauseUntil(until);
    const directoryUrl = issuer.config.directoryUrl;
    this.options
      .ask('supervisor.ca-paused', { issuer: directoryUrl, until })
      .catch((error: unknown) => {
        this.options.log.warn('could not keep the CA pause; it holds until a restart', {
          issuer: directoryUrl,
          error,
        });
      });
  }

  #enqueue(name: string): void {
    this.#queues.push(name, this.#rotation.current(name));
  }

  /**
   * The renewal planner of the CA that issued `name`'s current certificate
   * among `certificates`; for a certificate of no configured CA (imported,
   * or kept before the vault recorded its CA), of the CA the name's next
   * order goes to.
   */
  #planner(name: string, certificates: readonly RenewalCertificate[], now: number): RenewalPlanner {
    const issuedBy = newestCovering(certificates, identifierOf(name), now)?.directoryUrl;
    const index = this.#issuers.findIndex((issuer) => issuer.config.directoryUrl === issuedBy);
    const planner =
      this.#planners[index >= 0 ? index : this.#rotation.current(name)] ?? this.#planners[0];
    if (!planner) throw new Error('no ACME issuer configured');
    return planner;
  }

  /** The order journal of the CA at `issuer` (its directory URL). */
  #journal(issuer: string): OrderJournal {
    return new OrderJournal(this.options.ask, issuer, this.options.log);
  }

  /**
   * Start every queued name its CA's caps allow (order-limiter.ts); the
   * others stay queued, are told when they will be ordered, and are looked
   * at again when an order ends or the rate limit refills.
   */
  #drain(): void {
    if (this.#stopped) return;
    const wakeAt = this.#queues.drain(this.#issuers, {
      start: (name, index, release) => {
        const issuer = this.#issuers[index];
        if (!issuer) return;
        this.#inFlight.add(name);
        void this.#obtain(name, index, issuer).finally(() => {
          release();
          this.#inFlight.delete(name);
          this.#drain();
        });
      },
      waiting: (name, index, refusal, ahead) => {
        const issuer = this.#issuers[index];
        if (!issuer) return;
        this.options.emit({
          type: 'order_queued',
          identifiers: [identifierOf(name)],
          issuer: issuer.config.directoryUrl,
          ...describeWait(issuer.config, issuer.limiter.refillMs, refusal, ahead),
        });
      },
    });
    if (wakeAt !== undefined) this.#drainAt(wakeAt);
  }

  #drainAt(at: number): void {
    if (this.#stopped || (this.#drainTimer && this.#drainTimer.at <= at)) return;
    if (this.#drainTimer) clearTimeout(this.#drainTimer.timer);
    const timer = setTimeout(
      () => {
        this.#drainTimer = undefined;
        this.#drain();
      },
      Math.min(Math.max(0, at - Date.now()), 2_147_000_000),
    );
    timer.unref();
    this.#drainTimer = { at, timer };
  }

  async #obtain(name: string, index: number, issuer: IssuerState): Promise<void> {
    const identifiers = [identifierOf(name)];
    const { config } = issuer;
    try {
      const account = await this.#ensureAccount(issuer);
      const stored = await obtainResumable(
        {
          api: account.api,
          accountUrl: account.url,
          issuer: config.directoryUrl,
          thumbprint: account.thumbprint,
          ask: this.options.ask,
          emit: this.options.emit,
          log: this.options.log,
          challengeTypes: this.options.challengeTypes ?? ['tls-alpn-01', 'http-01'],
          dnsProvider: this.options.dnsProvider,
          preferredChain: config.preferredChain,
          profile: config.profile,
          replaces: replacesAt(this.#plans.get(name), config.directoryUrl),
        },
        this.#journal(config.directoryUrl),
        identifiers,
      );
      this.#failures.delete(name);
      const previous = this.#plans.get(name);
      this.#planners
        .find((planner) => planner.directoryUrl === previous?.issuer)
        ?.forget(previous?.replaces);
      this.#rotation.succeeded(name);
      const now = Date.now();
      const identifier = identifiers[0] ?? identifierOf(name);
      const plan = await this.#planner(name, [stored], now).plan([stored], identifier, now);
      this.#plans.set(name, plan);
      this.#scheduleRenewal(name, { ...plan, renewAt: Math.max(plan.renewAt, now + 1_000) }, now);
    } catch (error) {
      this.#failed(name, identifiers, index, issuer, error);
    }
  }

  /**
   * The attempt at `issuer` failed: the next attempt goes to the next CA in
   * the list, soon; once every CA failed, the schedule above applies.
   */
  #failed(
    name: string,
    identifiers: AcmeIdentifier[],
    index: number,
    issuer: IssuerState,
    error: unknown,
  ): void {
    const failures = (this.#failures.get(name) ?? 0) + 1;
    this.#failures.set(name, failures);
    const { next, wrapped } = this.#rotation.failed(name, index);
    const rounds = Math.ceil(failures / this.#issuers.length);
    const schedule = this.options.retrySchedule ?? RETRY_SCHEDULE_MS;
    const base = schedule[Math.min(rounds, schedule.length) - 1] ?? 3_600_000;
    let delay = wrapped ? base + Math.floor(Math.random() * base * 0.2) : FAILOVER_DELAY_MS;
    if (error instanceof AcmeProblemError && error.retryAfter !== undefined) {
      // A rate limit holds for the whole CA; another CA is not bound by it.
      if (error.kind === 'rateLimited') this.#pause(issuer, error.retryAfter);
      if (next === index) delay = Math.max(delay, error.retryAfter - Date.now());
    }
    // A key or account problem at the CA may mean the account is gone: make sure again next time.
    if (
      error instanceof AcmeProblemError &&
      ['unauthorized', 'accountDoesNotExist', 'userActionRequired'].includes(error.kind)
    ) {
      this.accounts.forget(issuer.config.directoryUrl);
    }
    const retryAt = new Date(Date.now() + delay).toISOString();
    const event = failureEvent(error, identifiers, issuer.config.directoryUrl, retryAt);
    this.options.emit(event);
    this.options.log.warn('certificate not obtained; will retry', {
      identifier: name,
      attempt: failures,
      issuer: issuer.config.directoryUrl,
      next_issuer: this.#issuers[next]?.config.directoryUrl,
      retry_in_ms: delay,
      error: error instanceof Error ? error.message : String(error),
    });
    this.#schedule(name, delay, 'retry');
  }

  /** Look again at the renewal moment, or sooner when the CA asked to be asked again. */
  #scheduleRenewal(name: string, plan: RenewalPlan, now: number): void {
    const at = Math.min(plan.renewAt, plan.recheckAt ?? Infinity);
    this.#schedule(name, at - now, 'renewal', plan);
  }

  #schedule(
    name: string,
    delayMs: number,
    why: 'renewal' | 'retry' | 'reconcile' = 'reconcile',
    plan?: RenewalPlan,
  ): void {
    if (this.#stopped) return;
    const existing = this.#timers.get(name);
    if (existing) clearTimeout(existing);
    // setTimeout holds at most 2^31-1 ms (24.8 days); a later renewal is looked at again then.
    const timer = setTimeout(
      () => {
        this.#timers.delete(name);
        void this.reconcile();
      },
      Math.min(delayMs, 2_147_000_000),
    );
    timer.unref();
    this.#timers.set(name, timer);
    if (why === 'renewal' && name !== '*') {
      this.options.emit({
        type: 'renewal_scheduled',
        identifiers: [identifierOf(name)],
        // The CA the renewal's order goes to first.
        issuer:
          this.#issuers[this.#rotation.current(name)]?.config.directoryUrl ??
          this.options.directoryUrl,
        renewAt: new Date(plan?.renewAt ?? Date.now() + delayMs).toISOString(),
        ...(plan?.window ? { windowStart: plan.window.start, windowEnd: plan.window.end } : {}),
        ...(plan?.explanationUrl ? { explanationUrl: plan.explanationUrl } : {}),
      });
    }
  }

  /** The account at this CA (RFC 8555 section 7.3): see account.ts. */
  #ensureAccount(issuer: IssuerState): Promise<Account> {
    return this.accounts.ensure(issuer.config.directoryUrl);
  }

  /**
   * Revoke a stored certificate (RFC 8555 section 7.6), then obtain a new
   * one for its names: the revoked one no longer counts as covering them.
   * The keyvault keeps the revocation; should that fail, it is remembered
   * here until the agent restarts.
   */
  async revoke(request: RequestPayload<'acme.certificate-revoke'>): Promise<RevokeResult> {
    const result = await revokeCertificate(this.accounts, this.options, request);
    this.#revoked.add(result.certificateId);
    await this.options
      .ask('keyvault.certificate-revoked', { certificateId: result.certificateId })
      .catch((error: unknown) => {
        this.options.log.warn('the keyvault did not keep a revocation; remembered until restart', {
          certificate_id: result.certificateId,
          error,
        });
      });
    for (const identifier of result.identifiers) {
      const timer = this.#timers.get(identifier.value);
      if (timer) clearTimeout(timer);
      this.#timers.delete(identifier.value);
    }
    void this.reconcile();
    return result;
  }
}

/** A plan's `replaces`, for an order at the CA `directoryUrl`: only the issuing CA knows it. */
function replacesAt(plan: RenewalPlan | undefined, directoryUrl: string): string | undefined {
  return plan?.issuer === directoryUrl ? plan.replaces : undefined;
}

/** A domain name from state.db as an ACME identifier (RFC 8738 for IP addresses). */
export function identifierOf(name: string): AcmeIdentifier {
  return /^[0-9.]+$/.test(name) || name.includes(':')
    ? { type: 'ip', value: name }
    : { type: 'dns', value: name };
}

function failureEvent(
  error: unknown,
  identifiers: AcmeIdentifier[],
  issuer: string,
  retryAt: string,
): AcmeEvent {
  const base = { type: 'certificate_failed' as const, identifiers, issuer, retryAt };
  if (error instanceof AcmeProblemError) {
    const action =
      error.kind === 'userActionRequired'
        ? 'The CA asks for an action (often new terms of service); see the problem instance URL and agree there.'
        : error.kind === 'unauthorized'
          ? 'The CA refused this account or name; check that the name points at this gateway and that the account is in good standing.'
          : error.kind === 'rateLimited'
            ? 'The CA rate-limited this request; Gatehouse waits as long as it asked.'
            : undefined;
    return { ...base, problem: error.problem, ...(action ? { action } : {}) };
  }
  if (error instanceof IssuerError) {
    return {
      ...base,
      problem: error.details.problem ?? { type: `gatehouse:${error.code}`, detail: error.message },
      ...(error.details.action ? { action: error.details.action } : {}),
    };
  }
  if (error instanceof AccountError && error.code === 'account_deactivated') {
    return {
      ...base,
      problem: error.problem ?? { type: `gatehouse:${error.code}`, detail: error.message },
      action: deactivatedAction(issuer),
    };
  }
  if (error instanceof OrderError) {
    return {
      ...base,
      problem: error.problem ?? { type: `gatehouse:${error.code}`, detail: error.message },
    };
  }
  if (error instanceof DnsProviderError) {
    const problem = { type: `gatehouse:${error.code}`, detail: error.message.slice(0, 4000) };
    return { ...base, problem, ...(error.action ? { action: error.action.slice(0, 1024) } : {}) };
  }
  if (error instanceof AcmeProtocolError || error instanceof HttpError) {
    return { ...base, problem: { type: `gatehouse:${error.code}`, detail: error.message } };
  }
  const message = error instanceof Error ? error.message : String(error);
  return { ...base, problem: { type: 'gatehouse:internal', detail: message.slice(0, 4000) } };
}
