/**
 * One order, from newOrder to a stored certificate chain (RFC 8555 section
 * 7.4): authorizations answered by the workers (tls-alpn-01 by default,
 * http-01 when the CA offers no tls-alpn-01) or in DNS (dns-01, wildcards
 * always), finalize with the keyvault's CSR, download, store in the
 * keyvault, and tell the workers. Every step is an event. The CA is told to
 * validate a challenge only after every worker (or every authoritative DNS
 * server) serves it (section 7.5.1), and each challenge is removed when its
 * authorization is settled, whatever happened.
 */
import type {
  AcmeEvent,
  ChallengeSpec,
  RequestPayload,
  RequestResult,
  RequestType,
} from '@gatehouse/gateway/ipc';
import type { Logger } from '@gatehouse/gateway/log';
import {
  type AcmeApi,
  type AcmeIdentifier,
  type AuthorizationResource,
  type ChallengeResource,
  type OrderResource,
} from './acme/api.js';
import { AcmeProblemError, parseProblem } from './acme/problem.js';
import { dns01Answer } from './dns/dns01.js';
import type { DnsProvider } from './dns/provider.js';
import { profileRequest } from './certificate-profile.js';
import { downloadPreferredChain } from './preferred-chain.js';
import { newOrderReplacing } from './renewal.js';

/** Sends a request over IPC (the agent's channel to the supervisor). */
export type Ask = <T extends RequestType>(
  type: T,
  payload: RequestPayload<T>,
) => Promise<RequestResult<T>>;

export type ChallengeType = 'tls-alpn-01' | 'http-01' | 'dns-01';

export interface OrderContext {
  readonly api: AcmeApi;
  readonly accountUrl: string;
  /** The CA's directory URL: the issuer named in events. */
  readonly issuer: string;
  /** RFC 7638 thumbprint of the account key, for key authorizations (section 8.1). */
  readonly thumbprint: string;
  readonly ask: Ask;
  readonly emit: (event: AcmeEvent) => void;
  readonly log: Logger;
  /** Challenge types in order of preference. */
  readonly challengeTypes: readonly ChallengeType[];
  /** Publishes dns-01 records; without one, dns-01 (and so every wildcard) is out of reach. */
  readonly dnsProvider?: DnsProvider | undefined;
  /** Common name of the root to prefer among the CA's chains (section 7.4.2). */
  readonly preferredChain?: string | undefined;
  /** Certificate profile for newOrder, sent only when the CA lists it. */
  readonly profile?: string | undefined;
  /** How long an order may take before it is given up (default 5 minutes). */
  readonly deadlineMs?: number;
  /** RFC 9773 certificate id of the certificate this order renews. */
  readonly replaces?: string | undefined;
  /** Told each step a crash must not undo (order-journal.ts); absent, nothing is kept. */
  readonly journal?: OrderSteps;
}

/** The steps of an order that the order journal records, each awaited before going on. */
export interface OrderSteps {
  /** Before newOrder: an order for these identifiers is about to be placed. */
  intent(): Promise<void>;
  /** Right after newOrder: the CA's order URL. */
  created(orderUrl: string): Promise<void>;
  /** The keyvault made the certificate key for the CSR; a resumed finalize reuses it. */
  keyMade(orderUrl: string, keyId: string): Promise<void>;
  /** Before the CA is told to validate a challenge: a resumed order does not tell it twice. */
  answering(challengeUrl: string): Promise<void>;
  /** The CA refused that answer with a problem document: the next attempt answers again. */
  refused(challengeUrl: string): Promise<void>;
  /** Whether an earlier attempt told the CA to validate this challenge already. */
  answered(challengeUrl: string): boolean;
  /**
   * After this failure, is the order taken up again? Then a challenge the
   * CA may still be validating stays installed for the next attempt.
   */
  resumes(error: unknown): boolean;
}

export type OrderFailureCode =
  'order_invalid' | 'authorization_invalid' | 'no_usable_challenge' | 'deadline' | 'key_unknown';

/** The order cannot complete; `problem` is the CA's when it gave one. */
export class OrderError extends Error {
  constructor(
    readonly code: OrderFailureCode,
    message: string,
    readonly problem?: AcmeEvent['problem'],
  ) {
    super(message);
    this.name = 'OrderError';
  }
}

type CertificateSummary = RequestResult<'keyvault.store-chain'>;

const POLL_START_MS = 250;
const POLL_MAX_MS = 5_000;

/** Obtain and store a certificate for `identifiers`; resolves with what the keyvault stored. */
export async function obtainCertificate(
  context: OrderContext,
  identifiers: AcmeIdentifier[],
): Promise<CertificateSummary> {
  const { api, accountUrl, issuer } = context;

  const profile = profileRequest(await api.wire.directory(), issuer, context.profile);
  await context.journal?.intent();
  const created = await newOrderReplacing(
    api,
    accountUrl,
    { identifiers, ...profile },
    context.replaces,
    context.log,
  );
  const orderUrl = created.url;
  await context.journal?.created(orderUrl);
  // `replaces` as the CA's order resource echoes it: what the CA took, not what was sent.
  const replaces = typeof created.order.replaces === 'string' ? created.order.replaces : undefined;
  context.emit({
    type: 'order_created',
    identifiers,
    issuer,
    orderUrl,
    ...(replaces ? { replaces: replaces.slice(0, 512) } : {}),
  });
  context.log.info('order created', { order_url: orderUrl, identifiers: names(identifiers) });
  return completeOrder(context, identifiers, orderUrl, created.order, undefined);
}

/**
 * Take an order from wherever it is to a stored chain: a new order from
 * pending, or one resumed after a crash (order-journal.ts) from any
 * status. `keyId` is the certificate key already made for its CSR, if any.
 */
export async function completeOrder(
  context: OrderContext,
  identifiers: AcmeIdentifier[],
  orderUrl: string,
  current: OrderResource,
  keyId: string | undefined,
): Promise<CertificateSummary> {
  const { api, accountUrl, issuer } = context;
  const deadline = Date.now() + (context.deadlineMs ?? 5 * 60_000);
  let order = current;

  if (order.status === 'pending') {
    await Promise.all(
      order.authorizations.map((url) => authorize(context, url, orderUrl, deadline)),
    );
    order = await poll(
      () => api.getOrder(accountUrl, orderUrl),
      (polled) => polled.status !== 'pending',
      deadline,
      'the order to become ready',
    );
  }
  let retryAfter: number | undefined;
  if (order.status === 'ready') {
    const csr = await context.ask('keyvault.csr', {
      identifiers,
      key: keyId === undefined ? { algorithm: 'ec-p256' } : { reuse: keyId },
    });
    keyId = csr.keyId;
    await context.journal?.keyMade(orderUrl, csr.keyId);
    const finalized = await api.finalize(accountUrl, order.finalize, csr.csr);
    order = finalized.body;
    retryAfter = finalized.retryAfter;
  }
  if (order.status === 'processing') {
    order = await poll(
      () => api.getOrder(accountUrl, orderUrl),
      (polled) => polled.status !== 'processing',
      deadline,
      'the certificate to be issued',
      retryAfter,
    );
  }
  if (order.status === 'valid' && order.certificate) {
    if (keyId === undefined) {
      throw new OrderError(
        'key_unknown',
        `The order ${orderUrl} is valid, but the key of its CSR was not recorded; ` +
          'a new order is placed.',
      );
    }
    const chainPem = await downloadPreferredChain(
      api,
      accountUrl,
      order.certificate,
      context.preferredChain,
      context.log,
    );
    const stored = await context.ask('keyvault.store-chain', {
      keyId,
      identifiers,
      chainPem,
      directoryUrl: issuer,
    });
    await context.ask('supervisor.certificates-changed', { identifiers });
    context.emit({
      type: 'certificate_obtained',
      identifiers,
      issuer,
      orderUrl,
      certificateId: stored.certificateId,
    });
    context.log.info('certificate obtained', {
      order_url: orderUrl,
      identifiers: names(identifiers),
      not_after: stored.notAfter,
    });
    return stored;
  }
  const problem = order.error ? parseProblem(order.error, 0) : undefined;
  throw new OrderError(
    'order_invalid',
    `The order ${orderUrl} ended ${order.status}${problem?.detail ? `: ${problem.detail}` : ''}`,
    problem,
  );
}

/** Settle one authorization (section 7.5): answer a challenge unless it is already valid. */
async function authorize(
  context: OrderContext,
  url: string,
  orderUrl: string,
  deadline: number,
): Promise<void> {
  const { api, accountUrl } = context;
  const { body: authorization } = await api.getAuthorization(accountUrl, url);
  const identifier = authorization.identifier;
  if (authorization.status === 'valid') {
    context.emit({
      type: 'authorization_valid',
      identifiers: [identifier],
      issuer: context.issuer,
      orderUrl,
    });
    return;
  }
  if (authorization.status !== 'pending') throw authorizationFailed(authorization, url);

  // A challenge answered before a crash is being validated: install that one again.
  const challenge =
    answeredChallenge(context, authorization) ?? chooseChallenge(context, authorization);
  const answer = await answerFor(context, identifier, challenge);
  let answered =
    challenge.status !== 'pending' || context.journal?.answered(challenge.url) === true;
  let keep = false;
  try {
    const installed = await answer.install();
    context.emit({
      type: 'challenge_ready',
      identifiers: [identifier],
      issuer: context.issuer,
      orderUrl,
    });
    context.log.info('challenge ready', {
      identifier: identifier.value,
      challenge_type: challenge.type,
      ...installed,
    });
    // Section 7.5.1: a second answer may start a second validation, which
    // could end after this one removed the challenge: answer once per order.
    if (!answered) {
      answered = true;
      await context.journal?.answering(challenge.url);
      try {
        await api.respondToChallenge(accountUrl, challenge.url);
      } catch (error) {
        // A problem document (badNonce, rateLimited, ...) means the CA did
        // not take the answer: nothing validates until it is sent again.
        // Without one (a timeout, a lost connection) it may have.
        if (error instanceof AcmeProblemError) {
          answered = false;
          await context.journal?.refused(challenge.url);
        }
        throw error;
      }
    }
    const settled = await poll(
      () => api.getAuthorization(accountUrl, url),
      (current) => current.status !== 'pending',
      deadline,
      `the CA to validate ${identifier.value}`,
    );
    if (settled.status !== 'valid') throw authorizationFailed(settled, url);
    context.emit({
      type: 'authorization_valid',
      identifiers: [identifier],
      issuer: context.issuer,
      orderUrl,
    });
  } catch (error) {
    // The CA may validate any time until the authorization settles; the
    // next attempt takes the order up and removes the challenge then.
    keep = answered && context.journal?.resumes(error) === true;
    throw error;
  } finally {
    if (keep) {
      context.log.info('challenge left installed for the next attempt', {
        identifier: identifier.value,
      });
    } else {
      await answer.remove().catch((error: unknown) => {
        context.log.warn('could not remove a challenge; it expires by itself', {
          identifier: identifier.value,
          error,
        });
      });
    }
  }
}

/** dns-01 goes to the DNS provider; the others to every worker, through the supervisor. */
async function answerFor(
  context: OrderContext,
  identifier: AcmeIdentifier,
  challenge: { type: ChallengeType; token: string },
): Promise<{ install(): Promise<object>; remove(): Promise<unknown> }> {
  if (challenge.type === 'dns-01' && context.dnsProvider) {
    const keyAuthorization = `${challenge.token}.${context.thumbprint}`;
    return dns01Answer(context.dnsProvider, identifier, keyAuthorization, context.log);
  }
  const spec = await prepare(context, identifier, challenge);
  return {
    install: () => context.ask('supervisor.challenge-install', { challenge: spec }),
    remove: () => context.ask('supervisor.challenge-remove', { challenge: spec }),
  };
}

function answeredChallenge(
  context: OrderContext,
  authorization: AuthorizationResource,
): (ChallengeResource & { type: ChallengeType; token: string }) | undefined {
  const usable = (type: string): boolean =>
    (context.challengeTypes as readonly string[]).includes(type) ||
    (type === 'dns-01' && context.dnsProvider !== undefined);
  const found = authorization.challenges.find(
    (challenge) =>
      challenge.status === 'processing' && challenge.token !== undefined && usable(challenge.type),
  );
  return found?.token === undefined
    ? undefined
    : { ...found, type: found.type as ChallengeType, token: found.token };
}

function chooseChallenge(
  context: OrderContext,
  authorization: AuthorizationResource,
): ChallengeResource & { type: ChallengeType; token: string } {
  // Section 7.1.3: only dns-01 proves control of a wildcard's whole subtree.
  const types: readonly ChallengeType[] = authorization.wildcard
    ? ['dns-01']
    : context.challengeTypes.filter((type) => type !== 'dns-01' || context.dnsProvider);
  if (authorization.wildcard && !context.dnsProvider) {
    throw new OrderError(
      'no_usable_challenge',
      `*.${authorization.identifier.value} is a wildcard, which only dns-01 can validate, and ` +
        'no DNS provider is configured: start gatehouse run with --acme-dns-rfc2136 FILE ' +
        '(an RFC 2136 server and TSIG key, see README).',
    );
  }
  for (const type of types) {
    const found = authorization.challenges.find(
      (challenge) => challenge.type === type && challenge.token !== undefined,
    );
    if (found?.token !== undefined) return { ...found, type, token: found.token };
  }
  const offered = authorization.challenges.map((challenge) => challenge.type).join(', ');
  throw new OrderError(
    'no_usable_challenge',
    `The CA offers ${offered || 'no challenges'} for ${authorization.identifier.value}; ` +
      `Gatehouse answers ${types.join(', ')}.`,
  );
}

/** Key authorization (section 8.1) and, for tls-alpn-01, the keyvault's certificate. */
async function prepare(
  context: OrderContext,
  identifier: AcmeIdentifier,
  challenge: { type: ChallengeType; token: string },
): Promise<ChallengeSpec> {
  if (challenge.type === 'dns-01') throw new Error('dns-01 is answered in DNS, not by the workers');
  const keyAuthorization = `${challenge.token}.${context.thumbprint}`;
  if (challenge.type === 'http-01') {
    return { type: 'http-01', token: challenge.token, keyAuthorization };
  }
  await context.ask('keyvault.challenge-certificate', { identifier, keyAuthorization });
  return { type: 'tls-alpn-01', identifier };
}

function authorizationFailed(authorization: AuthorizationResource, url: string): OrderError {
  const failed = authorization.challenges.find((challenge) => challenge.error);
  const problem = failed?.error ? parseProblem(failed.error, 0) : undefined;
  return new OrderError(
    'authorization_invalid',
    `The authorization for ${authorization.identifier.value} (${url}) is ${authorization.status}` +
      (problem?.detail ? `: ${problem.detail}` : ''),
    problem ? { ...problem, identifier: authorization.identifier } : undefined,
  );
}

/**
 * POST-as-GET `fetch` until `done`, waiting the CA's Retry-After when it
 * gives one, else backing off from 250 ms to 5 s (section 7.5.1 asks
 * clients not to poll faster than that).
 */
async function poll<T>(
  fetch: () => Promise<{ body: T; retryAfter: number | undefined }>,
  done: (value: T) => boolean,
  deadline: number,
  what: string,
  firstRetryAfter?: number,
): Promise<T> {
  let wait = POLL_START_MS;
  let retryAfter = firstRetryAfter;
  for (;;) {
    const delay = retryAfter !== undefined ? Math.max(0, retryAfter - Date.now()) : wait;
    if (Date.now() + delay > deadline) {
      throw new OrderError('deadline', `Gave up waiting for ${what}: the order took too long.`);
    }
    await new Promise((resolve) => setTimeout(resolve, delay));
    const response = await fetch();
    if (done(response.body)) return response.body;
    retryAfter = response.retryAfter;
    wait = Math.min(wait * 2, POLL_MAX_MS);
  }
}

function names(identifiers: readonly AcmeIdentifier[]): string {
  return identifiers.map((identifier) => identifier.value).join(',');
}
