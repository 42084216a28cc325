/**
 * One order, from newOrder to a stored certificate chain (RFC 8555 section
 * 7.4): authorizations answered by the workers (tls-alpn-01 by default,
 * http-01 when the CA offers no tls-alpn-01), finalize with the keyvault's
 * CSR, download, store in the keyvault, and tell the workers. Every step is
 * an event. The CA is told to validate a challenge only after every worker
 * serves it (section 7.5.1), and each challenge is removed when its
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
} from './acme/api.js';
import { parseProblem } from './acme/problem.js';
import { newOrderReplacing } from './renewal.js';

/** Sends a request over IPC (the agent's channel to the supervisor). */
export type Ask = <T extends RequestType>(
  type: T,
  payload: RequestPayload<T>,
) => Promise<RequestResult<T>>;

export type ChallengeType = 'tls-alpn-01' | 'http-01';

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
  /** How long an order may take before it is given up (default 5 minutes). */
  readonly deadlineMs?: number;
  /** RFC 9773 certificate id of the certificate this order renews. */
  readonly replaces?: string | undefined;
}

export type OrderFailureCode =
  'order_invalid' | 'authorization_invalid' | 'no_usable_challenge' | 'deadline';

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
  const deadline = Date.now() + (context.deadlineMs ?? 5 * 60_000);

  const created = await newOrderReplacing(
    api,
    accountUrl,
    identifiers,
    context.replaces,
    context.log,
  );
  const orderUrl = created.url;
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

  await Promise.all(
    created.order.authorizations.map((url) => authorize(context, url, orderUrl, deadline)),
  );

  let order = await poll(
    () => api.getOrder(accountUrl, orderUrl),
    (current) => current.status !== 'pending',
    deadline,
    'the order to become ready',
  );
  if (order.status === 'ready') {
    const csr = await context.ask('keyvault.csr', { identifiers, key: { algorithm: 'ec-p256' } });
    const finalized = await api.finalize(accountUrl, order.finalize, csr.csr);
    order = finalized.body;
    if (order.status === 'processing') {
      order = await poll(
        () => api.getOrder(accountUrl, orderUrl),
        (current) => current.status !== 'processing',
        deadline,
        'the certificate to be issued',
        finalized.retryAfter,
      );
    }
    if (order.status === 'valid' && order.certificate) {
      const { chainPem } = await api.downloadCertificate(accountUrl, order.certificate);
      const stored = await context.ask('keyvault.store-chain', {
        keyId: csr.keyId,
        identifiers,
        chainPem,
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

  const challenge = chooseChallenge(context, authorization);
  const spec = await prepare(context, identifier, challenge);
  try {
    const installed = await context.ask('supervisor.challenge-install', { challenge: spec });
    context.emit({
      type: 'challenge_ready',
      identifiers: [identifier],
      issuer: context.issuer,
      orderUrl,
    });
    context.log.info('challenge ready', {
      identifier: identifier.value,
      challenge_type: challenge.type,
      workers: installed.workers,
    });
    await api.respondToChallenge(accountUrl, challenge.url);
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
  } finally {
    await context
      .ask('supervisor.challenge-remove', { challenge: spec })
      .catch((error: unknown) => {
        context.log.warn('could not remove a challenge; it expires by itself', {
          identifier: identifier.value,
          error,
        });
      });
  }
}

function chooseChallenge(
  context: OrderContext,
  authorization: AuthorizationResource,
): ChallengeResource & { type: ChallengeType; token: string } {
  for (const type of context.challengeTypes) {
    const found = authorization.challenges.find(
      (challenge) => challenge.type === type && challenge.token !== undefined,
    );
    if (found?.token !== undefined) return { ...found, type, token: found.token };
  }
  const offered = authorization.challenges.map((challenge) => challenge.type).join(', ');
  const wildcard = authorization.wildcard
    ? ' (a wildcard needs dns-01, which is not supported yet)'
    : '';
  throw new OrderError(
    'no_usable_challenge',
    `The CA offers ${offered || 'no challenges'} for ${authorization.identifier.value}; ` +
      `Gatehouse answers ${context.challengeTypes.join(', ')}${wildcard}.`,
  );
}

/** Key authorization (section 8.1) and, for tls-alpn-01, the keyvault's certificate. */
async function prepare(
  context: OrderContext,
  identifier: AcmeIdentifier,
  challenge: { type: ChallengeType; token: string },
): Promise<ChallengeSpec> {
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
