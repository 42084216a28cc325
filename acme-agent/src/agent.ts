/**
 * Keeps every domain certified: reads the domains from the supervisor and
 * the stored certificates from the keyvault, orders what is missing or due
 * for renewal, and schedules the next look. Failure is normal here: each
 * failed name is retried on the schedule below, never sooner than the CA's
 * Retry-After, and every failure is an event that says what happened.
 *
 * Known gap: order state lives in memory only, so an order cut short by a
 * restart is not resumed; the next reconcile places a new order instead.
 */
import type { AcmeEvent, RequestResult } from '@gatehouse/gateway/ipc';
import type { Logger } from '@gatehouse/gateway/log';
import { AcmeApi, type AcmeIdentifier } from './acme/api.js';
import { HttpError, type HttpClient } from './acme/http.js';
import { AcmeProblemError, AcmeProtocolError } from './acme/problem.js';
import { AcmeWire, type Signer } from './acme/wire.js';
import { type Ask, type ChallengeType, OrderError, obtainCertificate } from './order.js';
import { RenewalPlanner, type RenewalPlan } from './renewal.js';

/**
 * Retry delays after consecutive failures of one name: 10 s, 30 s, 1 min,
 * 5 min, 15 min, then hourly; each with up to 20% random jitter so that
 * many names failing together do not retry together.
 */
export const RETRY_SCHEDULE_MS = [10_000, 30_000, 60_000, 300_000, 900_000, 3_600_000];

/** At most this many orders in flight at one CA. */
const MAX_CONCURRENT_ORDERS = 8;

export interface AgentOptions {
  readonly directoryUrl: string;
  readonly email: string | undefined;
  readonly http: HttpClient;
  readonly ask: Ask;
  readonly emit: (event: AcmeEvent) => void;
  readonly log: Logger;
  readonly challengeTypes?: readonly ChallengeType[];
  readonly retrySchedule?: readonly number[];
}

interface Account {
  readonly url: string;
  readonly thumbprint: string;
  readonly api: AcmeApi;
}

type CertificateSummary = RequestResult<'keyvault.certificates'>['certificates'][number];

export class CertificateAgent {
  #account: Promise<Account> | undefined;
  readonly #timers = new Map<string, NodeJS.Timeout>();
  readonly #failures = new Map<string, number>();
  readonly #inFlight = new Set<string>();
  #queue: string[] = [];
  #reconciling: Promise<void> | undefined;
  #again = false;
  #stopped = false;
  readonly #planner: RenewalPlanner;
  /** Each name's current renewal plan, for the `replaces` of its next order (RFC 9773). */
  readonly #plans = new Map<string, RenewalPlan>();

  constructor(private readonly options: AgentOptions) {
    this.#planner = new RenewalPlanner(options);
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
  }

  async #reconcileOnce(): Promise<void> {
    const { domains } = await this.options.ask('supervisor.domains', {});
    const { certificates } = await this.options.ask('keyvault.certificates', {});
    const wanted = new Set(domains.map((domain) => domain.name));

    for (const [name, timer] of this.#timers) {
      if (name !== '*' && !wanted.has(name)) {
        clearTimeout(timer);
        this.#timers.delete(name);
      }
    }
    const now = Date.now();
    for (const name of wanted) {
      if (this.#inFlight.has(name) || this.#queue.includes(name)) continue;
      const plan = await this.#planner.plan(certificates, identifierOf(name), now);
      this.#plans.set(name, plan);
      if (plan.renewAt <= now) this.#enqueue(name);
      else if (!this.#timers.has(name)) this.#scheduleRenewal(name, plan, now);
    }
  }

  #enqueue(name: string): void {
    this.#queue.push(name);
    this.#drain();
  }

  #drain(): void {
    while (!this.#stopped && this.#inFlight.size < MAX_CONCURRENT_ORDERS) {
      const name = this.#queue.shift();
      if (name === undefined) return;
      this.#inFlight.add(name);
      void this.#obtain(name).finally(() => {
        this.#inFlight.delete(name);
        this.#drain();
      });
    }
  }

  async #obtain(name: string): Promise<void> {
    const identifiers = [identifierOf(name)];
    try {
      const account = await this.#ensureAccount();
      const stored = await obtainCertificate(
        {
          api: account.api,
          accountUrl: account.url,
          issuer: this.options.directoryUrl,
          thumbprint: account.thumbprint,
          ask: this.options.ask,
          emit: this.options.emit,
          log: this.options.log,
          challengeTypes: this.options.challengeTypes ?? ['tls-alpn-01', 'http-01'],
          replaces: this.#plans.get(name)?.replaces,
        },
        identifiers,
      );
      this.#failures.delete(name);
      this.#planner.forget(this.#plans.get(name)?.replaces);
      const now = Date.now();
      const plan = await this.#planner.plan([stored], identifiers[0] ?? identifierOf(name), now);
      this.#plans.set(name, plan);
      this.#scheduleRenewal(name, { ...plan, renewAt: Math.max(plan.renewAt, now + 1_000) }, now);
    } catch (error) {
      this.#failed(name, identifiers, error);
    }
  }

  #failed(name: string, identifiers: AcmeIdentifier[], error: unknown): void {
    const failures = (this.#failures.get(name) ?? 0) + 1;
    this.#failures.set(name, failures);
    const schedule = this.options.retrySchedule ?? RETRY_SCHEDULE_MS;
    const base = schedule[Math.min(failures, schedule.length) - 1] ?? 3_600_000;
    let delay = base + Math.floor(Math.random() * base * 0.2);
    if (error instanceof AcmeProblemError && error.retryAfter !== undefined) {
      delay = Math.max(delay, error.retryAfter - Date.now());
    }
    // A key or account problem at the CA may mean the account is gone: make sure again next time.
    if (
      error instanceof AcmeProblemError &&
      ['unauthorized', 'accountDoesNotExist', 'userActionRequired'].includes(error.kind)
    ) {
      this.#account = undefined;
    }
    const retryAt = new Date(Date.now() + delay).toISOString();
    const event = failureEvent(error, identifiers, this.options.directoryUrl, retryAt);
    this.options.emit(event);
    this.options.log.warn('certificate not obtained; will retry', {
      identifier: name,
      attempt: failures,
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
        issuer: this.options.directoryUrl,
        renewAt: new Date(plan?.renewAt ?? Date.now() + delayMs).toISOString(),
        ...(plan?.window ? { windowStart: plan.window.start, windowEnd: plan.window.end } : {}),
        ...(plan?.explanationUrl ? { explanationUrl: plan.explanationUrl } : {}),
      });
    }
  }

  /** The account for this CA (RFC 8555 section 7.3), created on first use. */
  #ensureAccount(): Promise<Account> {
    this.#account ??= (async () => {
      const { directoryUrl, ask, http, email } = this.options;
      const key = await ask('keyvault.account-key', { directoryUrl });
      const sign: Signer = ({ url, nonce, kid, payload }) =>
        ask('keyvault.sign-jws', {
          keyId: key.keyId,
          url,
          nonce,
          ...(kid === undefined ? {} : { kid }),
          payload,
        });
      const api = new AcmeApi(new AcmeWire(directoryUrl, http), sign);
      const { url } = await api.newAccount({
        contact: email ? [`mailto:${email}`] : [],
        termsOfServiceAgreed: true,
      });
      this.options.log.info('ACME account ready', { account_url: url, issuer: directoryUrl });
      return { url, thumbprint: key.thumbprint, api };
    })();
    this.#account.catch(() => {
      this.#account = undefined;
    });
    return this.#account;
  }
}

/**
 * When a name's certificate is due: a third of the lifetime of the stored
 * certificate that covers it longest, before its end (half for
 * certificates shorter than ten days); now when none covers it.
 */
export function renewalTime(
  certificates: readonly Pick<CertificateSummary, 'identifiers' | 'notBefore' | 'notAfter'>[],
  identifier: AcmeIdentifier,
  now: number,
): number {
  let best = now;
  for (const certificate of certificates) {
    if (!covers(certificate.identifiers, identifier)) continue;
    const start = Date.parse(certificate.notBefore);
    const end = Date.parse(certificate.notAfter);
    if (!(end > now)) continue;
    const lifetime = end - start;
    const share = lifetime < 10 * 86_400_000 ? 1 / 2 : 1 / 3;
    best = Math.max(best, end - lifetime * share);
  }
  return best;
}

function covers(names: readonly AcmeIdentifier[], wanted: AcmeIdentifier): boolean {
  return names.some(
    (name) =>
      name.type === wanted.type &&
      (name.value === wanted.value ||
        (name.value.startsWith('*.') &&
          wanted.type === 'dns' &&
          !wanted.value.startsWith('*.') &&
          wanted.value.slice(wanted.value.indexOf('.') + 1) === name.value.slice(2))),
  );
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
  if (error instanceof OrderError) {
    return {
      ...base,
      problem: error.problem ?? { type: `gatehouse:${error.code}`, detail: error.message },
    };
  }
  if (error instanceof AcmeProtocolError || error instanceof HttpError) {
    return { ...base, problem: { type: `gatehouse:${error.code}`, detail: error.message } };
  }
  const message = error instanceof Error ? error.message : String(error);
  return { ...base, problem: { type: 'gatehouse:internal', detail: message.slice(0, 4000) } };
}
