/**
 * The renewal planner: when a name's certificate should be renewed. With
 * ACME Renewal Information (RFC 9773) the CA suggests a window and the
 * agent renews at a uniformly random moment inside it, naming the old
 * certificate in the new order's `replaces`. Without it (no `renewalInfo`
 * in the directory, no certificate id, or the CA's answer is unusable) the
 * lifetime rule stands: renew when a third of the lifetime is left (half
 * for certificates shorter than ten days).
 */
import { z } from 'zod';
import type { Logger } from '@gatehouse/gateway/log';
import type { AcmeApi, AcmeIdentifier, OrderResource } from './acme/api.js';
import { header, type HttpClient } from './acme/http.js';
import { AcmeProblemError, parseRetryAfter } from './acme/problem.js';
import { AcmeWire } from './acme/wire.js';

/** Re-ask the CA no sooner than this, whatever Retry-After says (RFC 9773 section 4.3). */
export const MIN_RETRY_AFTER_MS = 60_000;
/** ...and no later than this, so that a changed window (e.g. after a revocation) is seen. */
export const MAX_RETRY_AFTER_MS = 24 * 3_600_000;
/** Without Retry-After, ask again after this long. */
export const DEFAULT_RETRY_AFTER_MS = 6 * 3_600_000;

export interface RenewalCertificate {
  readonly identifiers: readonly AcmeIdentifier[];
  readonly notBefore: string;
  readonly notAfter: string;
  /** RFC 9773 section 4.1 certificate id, as the keyvault stores it; null when it has none. */
  readonly ariCertId: string | null;
  /** The directory URL of the CA that issued it, when the keyvault knows it. */
  readonly directoryUrl?: string | null;
}

export interface RenewalPlan {
  /** When to renew (ms since the epoch); now or earlier means at once. */
  readonly renewAt: number;
  /**
   * ARI: the certificate id to name in the new order's `replaces`, valid
   * only in an order at `issuer`.
   */
  readonly replaces?: string;
  /** ARI: the directory URL of the CA that suggested the window (and issued the certificate). */
  readonly issuer?: string;
  /** ARI: the CA's suggested window (ISO 8601). */
  readonly window?: { readonly start: string; readonly end: string };
  /** ARI: the CA's page explaining the window, for the operator. */
  readonly explanationUrl?: string;
  /** ARI: when to ask the CA again (its Retry-After, clamped). */
  readonly recheckAt?: number;
}

/** RFC 9773 section 4.2: the renewalInfo resource. */
export const renewalInfoSchema = z
  .object({
    suggestedWindow: z.object({
      start: z.iso.datetime({ offset: true }),
      end: z.iso.datetime({ offset: true }),
    }),
    explanationURL: z.url().max(2048).optional(),
  })
  .loose()
  .refine((info) => Date.parse(info.suggestedWindow.start) < Date.parse(info.suggestedWindow.end), {
    error: 'suggestedWindow.start must be before suggestedWindow.end',
  });
export type RenewalInfo = z.infer<typeof renewalInfoSchema>;

/** The CA's renewalInfo answer was unusable; the lifetime rule is used instead. */
export class RenewalInfoError extends Error {
  override readonly name = 'RenewalInfoError';
  constructor(
    readonly code: 'unexpected_status' | 'invalid_renewal_info',
    message: string,
  ) {
    super(message);
  }
}

interface Cached {
  readonly start: number;
  readonly end: number;
  readonly renewAt: number;
  readonly explanationUrl: string | undefined;
  readonly recheckAt: number;
}

export interface PlannerOptions {
  readonly directoryUrl: string;
  readonly http: HttpClient;
  readonly log: Logger;
  /** Uniform in [0, 1); Math.random by default. */
  readonly random?: () => number;
}

/**
 * Known gap: windows and chosen moments live in memory only; a restart asks
 * the CA again and chooses a new moment in the same window.
 */
export class RenewalPlanner {
  readonly #wire: AcmeWire;
  readonly #cache = new Map<string, Cached>();
  readonly #random: () => number;

  /** The directory URL of the CA this planner asks. */
  get directoryUrl(): string {
    return this.options.directoryUrl;
  }

  constructor(private readonly options: PlannerOptions) {
    this.#wire = new AcmeWire(options.directoryUrl, options.http);
    this.#random = options.random ?? Math.random;
  }

  /** The plan for `identifier` given the stored certificates; renew at once when none covers it. */
  async plan(
    certificates: readonly RenewalCertificate[],
    identifier: AcmeIdentifier,
    now = Date.now(),
  ): Promise<RenewalPlan> {
    const current = newestCovering(certificates, identifier, now);
    if (!current) return { renewAt: now };
    const fallback = { renewAt: lifetimeRenewalTime(current) };
    const id = current.ariCertId;
    if (!id) return fallback;
    try {
      const cached = this.#cache.get(id);
      const ari = cached && cached.recheckAt > now ? cached : await this.#fetch(id, current, now);
      if (!ari) return fallback;
      return {
        renewAt: ari.renewAt,
        replaces: id,
        issuer: this.options.directoryUrl,
        window: { start: new Date(ari.start).toISOString(), end: new Date(ari.end).toISOString() },
        ...(ari.explanationUrl ? { explanationUrl: ari.explanationUrl } : {}),
        recheckAt: ari.recheckAt,
      };
    } catch (error) {
      this.options.log.warn('renewal information unavailable; renewing by lifetime', {
        ari_cert_id: id,
        error: error instanceof Error ? error.message : String(error),
      });
      return fallback;
    }
  }

  /** RFC 9773 section 4.3: an unauthenticated GET of `<renewalInfo>/<certificate id>`. */
  async #fetch(
    id: string,
    certificate: RenewalCertificate,
    now: number,
  ): Promise<Cached | undefined> {
    const { renewalInfo } = await this.#wire.directory();
    if (!renewalInfo) return undefined;
    const url = `${renewalInfo.replace(/\/+$/, '')}/${id}`;
    const response = await this.options.http({ method: 'GET', url });
    if (response.status !== 200) {
      throw new RenewalInfoError('unexpected_status', `${url} answered HTTP ${response.status}`);
    }
    let json: unknown;
    try {
      json = JSON.parse(response.body.toString('utf8'));
    } catch {
      throw new RenewalInfoError('invalid_renewal_info', `${url} answered malformed JSON`);
    }
    const parsed = renewalInfoSchema.safeParse(json);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw new RenewalInfoError(
        'invalid_renewal_info',
        `${url} is not renewal information (RFC 9773 section 4.2): ` +
          (issue ? `${issue.path.join('.') || '(root)'} ${issue.message}` : 'invalid'),
      );
    }
    const start = Date.parse(parsed.data.suggestedWindow.start);
    const end = Date.parse(parsed.data.suggestedWindow.end);
    const previous = this.#cache.get(id);
    // The same window keeps its moment: choosing again at every look would skew it early.
    const renewAt =
      previous && previous.start === start && previous.end === end
        ? previous.renewAt
        : chooseRenewalTime(
            start,
            end,
            {
              notBefore: Date.parse(certificate.notBefore),
              notAfter: Date.parse(certificate.notAfter),
            },
            this.#random,
          );
    const recheckAt =
      now + clampRetryAfter(parseRetryAfter(header(response, 'retry-after'), now), now);
    const cached: Cached = {
      start,
      end,
      renewAt,
      explanationUrl: parsed.data.explanationURL,
      recheckAt,
    };
    this.#cache.set(id, cached);
    return cached;
  }

  /** Forget a certificate's window once it has been replaced. */
  forget(id: string | undefined): void {
    if (id) this.#cache.delete(id);
  }
}

/**
 * RFC 9773 section 4.2: a uniformly random moment in the window, a moment
 * in the past meaning renew at once. The window is first cut to the
 * certificate's life, less its last tenth (left for the order and its
 * retries): renewing before it was issued or after it expired helps no one,
 * and a CA's window wider than a short certificate (Pebble's is two days
 * wide) would otherwise renew it again and again.
 */
export function chooseRenewalTime(
  start: number,
  end: number,
  certificate: { readonly notBefore: number; readonly notAfter: number },
  random: () => number = Math.random,
): number {
  const { notBefore, notAfter } = certificate;
  const first = Math.max(start, notBefore);
  const last = Math.min(end, notAfter - (notAfter - notBefore) / 10);
  // A window that ended before the certificate began (a revocation): at once.
  if (end <= notBefore) return end;
  if (last <= first) return last;
  return Math.floor(first + random() * (last - first));
}

/** Retry-After (ms since the epoch, or none) as a delay within [1 min, 24 h]. */
export function clampRetryAfter(retryAfter: number | undefined, now: number): number {
  if (retryAfter === undefined) return DEFAULT_RETRY_AFTER_MS;
  return Math.min(MAX_RETRY_AFTER_MS, Math.max(MIN_RETRY_AFTER_MS, retryAfter - now));
}

/**
 * The lifetime rule: a third of the lifetime before the end (half for
 * certificates shorter than ten days).
 */
export function lifetimeRenewalTime(
  certificate: Pick<RenewalCertificate, 'notBefore' | 'notAfter'>,
): number {
  const start = Date.parse(certificate.notBefore);
  const end = Date.parse(certificate.notAfter);
  const lifetime = end - start;
  const share = lifetime < 10 * 86_400_000 ? 1 / 2 : 1 / 3;
  return end - lifetime * share;
}

/**
 * When a name is due by the lifetime rule alone: that of the stored
 * certificate covering it that is renewed last; now when none covers it.
 */
export function renewalTime(
  certificates: readonly Pick<RenewalCertificate, 'identifiers' | 'notBefore' | 'notAfter'>[],
  identifier: AcmeIdentifier,
  now: number,
): number {
  const current = newestCovering(certificates, identifier, now);
  return current ? Math.max(now, lifetimeRenewalTime(current)) : now;
}

/** The unexpired certificate covering `identifier` that is renewed last by the lifetime rule. */
export function newestCovering<
  T extends Pick<RenewalCertificate, 'identifiers' | 'notBefore' | 'notAfter'>,
>(certificates: readonly T[], identifier: AcmeIdentifier, now: number): T | undefined {
  let best: T | undefined;
  for (const certificate of certificates) {
    if (!covers(certificate.identifiers, identifier)) continue;
    if (!(Date.parse(certificate.notAfter) > now)) continue;
    if (!best || lifetimeRenewalTime(certificate) > lifetimeRenewalTime(best)) best = certificate;
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

/**
 * newOrder naming the certificate it replaces (RFC 9773 section 5). When the
 * CA says it is already replaced, or refuses `replaces` (403, or malformed
 * naming it), the order is placed again without it: a certificate matters
 * more than the CA's bookkeeping. Known gap: this retry is tested with
 * problem documents only, not against a CA that refuses `replaces`.
 */
export async function newOrderReplacing(
  api: AcmeApi,
  accountUrl: string,
  request: { identifiers: AcmeIdentifier[]; profile?: string },
  replaces: string | undefined,
  log: Logger,
): Promise<{ url: string; order: OrderResource }> {
  if (replaces === undefined) return api.newOrder(accountUrl, request);
  try {
    return await api.newOrder(accountUrl, { ...request, replaces });
  } catch (error) {
    if (!refusesReplaces(error)) throw error;
    log.warn('the CA refused replaces; ordering without it', {
      replaces,
      problem: error.problem.type,
      detail: error.problem.detail,
    });
    return api.newOrder(accountUrl, request);
  }
}

export function refusesReplaces(error: unknown): error is AcmeProblemError {
  if (!(error instanceof AcmeProblemError)) return false;
  if (error.kind === 'alreadyReplaced') return true;
  if (error.problem.status === 403) return true;
  return error.kind === 'malformed' && /replace/i.test(error.problem.detail ?? '');
}
