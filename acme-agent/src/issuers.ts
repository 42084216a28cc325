/**
 * The certificate authorities the agent orders from, in the operator's
 * order of preference, and which one each identifier goes to next: when
 * one CA fails for an identifier, its next attempt goes to the next CA in
 * the list, and the list starts over after a success. Each CA has its own
 * HTTPS client (its own extra root), order limiter and account.
 */
import {
  ACME_ISSUERS_ENV,
  type AcmeIssuer,
  type ProblemDocument,
  DEFAULT_MAX_CONCURRENT_ORDERS,
  DEFAULT_NEW_ORDER_LIMIT,
  acmeIssuerList,
} from '@gatehouse/gateway/ipc';
import { type HttpClient, httpClient } from './acme/http.js';
import { type Clock, OrderLimiter } from './order-limiter.js';

export type { AcmeIssuer } from '@gatehouse/gateway/ipc';

export type IssuerErrorCode =
  'invalid_issuers' | 'external_account_required' | 'account_refused' | 'profile_not_offered';

/** A CA cannot be used as configured; the message says what to change. */
export class IssuerError extends Error {
  constructor(
    readonly code: IssuerErrorCode,
    message: string,
    readonly details: { problem?: ProblemDocument; action?: string; cause?: unknown } = {},
  ) {
    super(message, { cause: details.cause });
    this.name = 'IssuerError';
  }
}

/** One CA as the agent uses it. */
export interface IssuerState {
  readonly config: AcmeIssuer;
  readonly http: HttpClient;
  readonly limiter: OrderLimiter;
}

/**
 * The list from the supervisor (`GATEHOUSE_ACME_ISSUERS`, JSON), or one CA
 * from the one-issuer variables when it is absent.
 */
export function issuersFromEnvironment(env: NodeJS.ProcessEnv): AcmeIssuer[] {
  const json = env[ACME_ISSUERS_ENV];
  if (json === undefined) {
    return [
      {
        directoryUrl:
          env.GATEHOUSE_ACME_DIRECTORY ?? 'https://acme-v02.api.letsencrypt.org/directory',
        ...(env.GATEHOUSE_ACME_EMAIL ? { email: env.GATEHOUSE_ACME_EMAIL } : {}),
        ...(env.GATEHOUSE_ACME_TRUST_PEM ? { trustPem: env.GATEHOUSE_ACME_TRUST_PEM } : {}),
        maxConcurrentOrders: DEFAULT_MAX_CONCURRENT_ORDERS,
        newOrderLimit: { ...DEFAULT_NEW_ORDER_LIMIT },
      },
    ];
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(json);
  } catch {
    parsed = undefined;
  }
  const checked = acmeIssuerList.safeParse(parsed);
  if (!checked.success) {
    // The path only: a value here could be an HMAC key.
    const issue = checked.error.issues[0];
    throw new IssuerError(
      'invalid_issuers',
      `${ACME_ISSUERS_ENV} is not a valid issuer list at ${issue?.path.join('.') || '(root)'}; ` +
        'it is written by the supervisor from --acme-issuers: restart gatehouse run',
    );
  }
  return checked.data;
}

/** Each CA with its HTTPS client and order limiter. */
export function issuerStates(
  issuers: readonly AcmeIssuer[],
  clock: Clock = Date.now,
  makeHttp: (trustPem: string | undefined) => HttpClient = (trustPem) =>
    httpClient(trustPem ? { extraRootsPem: trustPem } : {}),
): IssuerState[] {
  return issuers.map((config) => ({
    config,
    http: makeHttp(config.trustPem),
    limiter: new OrderLimiter(config, clock),
  }));
}

/** Which CA each identifier's next attempt goes to. */
export class IssuerRotation {
  readonly #next = new Map<string, number>();

  constructor(private readonly count: number) {}

  /** Index of the CA the next attempt for `name` goes to. */
  current(name: string): number {
    return this.#next.get(name) ?? 0;
  }

  /**
   * The attempt at `index` failed: the next goes to the following CA.
   * `wrapped` is true when that is the first CA again, i.e. every CA has
   * been tried once since the last wrap (or there is only one).
   */
  failed(name: string, index: number): { next: number; wrapped: boolean } {
    const next = (index + 1) % this.count;
    this.#next.set(name, next);
    return { next, wrapped: next === 0 };
  }

  /** A certificate was obtained: the next order (the renewal) starts at the first CA again. */
  succeeded(name: string): void {
    this.#next.delete(name);
  }

  forget(name: string): void {
    this.#next.delete(name);
  }
}
