/**
 * The messages of certificate automation: the acme-agent reads the
 * domains and installs challenges through the supervisor, which fans each
 * challenge out to every worker and answers only when all of them serve
 * it (RFC 8555 section 7.5.1: the CA may be told to validate only then).
 * Workers fetch a tls-alpn-01 challenge's key from the keyvault themselves:
 * no key passes through the supervisor or the acme-agent.
 */
import { z } from 'zod';
import { identifier, recordId } from './keyvault-messages.js';

/** A DNS name or IP address the operator added, as stored in state.db. */
export const domainName = z.string().min(1).max(253);

/** base64url, as ACME tokens and key authorizations are (RFC 8555 section 8.1). */
const base64url = z
  .string()
  .min(1)
  .max(512)
  .regex(/^[A-Za-z0-9_-]+$/, 'must be base64url');

/** A challenge to be answered by every worker until it is removed. */
export const challengeSpec = z.discriminatedUnion('type', [
  /** RFC 8737: served to ClientHellos offering acme-tls/1 for this identifier. */
  z.object({ type: z.literal('tls-alpn-01'), identifier }).strict(),
  /** RFC 8555 section 8.3: GET /.well-known/acme-challenge/<token> answers the key authorization. */
  z
    .object({
      type: z.literal('http-01'),
      token: base64url,
      keyAuthorization: z
        .string()
        .min(1)
        .max(512)
        .regex(/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/, 'must be "<token>.<thumbprint>"'),
    })
    .strict(),
]);
export type ChallengeSpec = z.infer<typeof challengeSpec>;

/** What the acme-agent reports as it works; the supervisor logs and keeps them. */
export const ACME_EVENT_TYPES = [
  'order_created',
  'challenge_ready',
  'authorization_valid',
  'certificate_obtained',
  'certificate_failed',
  'renewal_scheduled',
  'order_queued',
  /** An order placed before a crash is taken up again (acme-agent order-journal.ts). */
  'order_resumed',
  'account_updated',
  'account_key_changed',
  'account_deactivated',
  'certificate_revoked',
] as const;

/** An RFC 7807 / RFC 8555 section 6.7 problem document, kept structured. */
export const problemDocument: z.ZodType<ProblemDocument> = z.lazy(() =>
  z
    .object({
      type: z.string().max(256),
      detail: z.string().max(4096).optional(),
      status: z.number().int().min(0).max(999).optional(),
      identifier: identifier.optional(),
      subproblems: z.array(problemDocument).max(100).optional(),
    })
    .strict(),
);
export interface ProblemDocument {
  type: string;
  detail?: string | undefined;
  status?: number | undefined;
  identifier?: z.infer<typeof identifier> | undefined;
  subproblems?: ProblemDocument[] | undefined;
}

export const acmeEvent = z
  .object({
    type: z.enum(ACME_EVENT_TYPES),
    identifiers: z.array(identifier).max(100),
    /** The CA's directory URL. */
    issuer: z.string().max(2048),
    orderUrl: z.string().max(2048).optional(),
    certificateId: recordId.optional(),
    /** renewal_scheduled: when (ISO 8601). */
    renewAt: z.string().max(40).optional(),
    /** renewal_scheduled with ACME Renewal Information: the CA's suggested window (ISO 8601). */
    windowStart: z.string().max(40).optional(),
    windowEnd: z.string().max(40).optional(),
    /** renewal_scheduled: the CA's page explaining its window (RFC 9773 explanationURL). */
    explanationUrl: z.string().max(2048).optional(),
    /** order_created: the certificate id (RFC 9773) the order replaces, as the CA recorded it. */
    replaces: z.string().max(512).optional(),
    /** certificate_failed: what the CA said, or what went wrong here. */
    problem: problemDocument.optional(),
    /** certificate_failed: what the operator can do, when there is something. */
    action: z.string().max(1024).optional(),
    /** certificate_failed: when the next attempt is (ISO 8601). */
    retryAt: z.string().max(40).optional(),
    /** order_queued: which cap of the issuer the name waits for (acme-agent/src/order-limiter.ts). */
    waitReason: z.enum(['concurrent_orders', 'new_order_rate', 'ca_rate_limited']).optional(),
    /** order_queued: when the name will be ordered (ISO 8601), when that is known. */
    orderAt: z.string().max(40).optional(),
    /** order_queued: the wait, in words. */
    detail: z.string().max(1024).optional(),
    /** account_*: the account's URL at the CA. */
    accountUrl: z.string().max(2048).optional(),
    /** certificate_revoked: the RFC 5280 reason code given. */
    reason: z.number().int().min(0).max(10).optional(),
  })
  .strict();

/** The account operations' and revocation's shapes (RFC 8555 sections 7.3 and 7.6). */
export const REVOCATION_REASONS = {
  unspecified: 0,
  keyCompromise: 1,
  affiliationChanged: 3,
  superseded: 4,
  cessationOfOperation: 5,
} as const;
/** RFC 5280 section 5.3.1 codes a subscriber may give; 2, 6 and 8-10 are the CA's own. */
export const revocationReason = z.union([
  z.literal(0),
  z.literal(1),
  z.literal(3),
  z.literal(4),
  z.literal(5),
]);
const issuerUrl = z.url({ protocol: /^https$/ }).max(2048);
/** A contact the CA accepts: RFC 8555 section 7.3 `mailto:` URLs, one address each. */
export const accountContact = z
  .string()
  .max(320)
  .regex(/^mailto:[^\s@,?<>"]{1,64}@[^\s@,?<>"]+\.[^\s@,?<>"]+$/, 'must be mailto:user@host');
const accountView = z
  .object({
    issuer: z.string().max(2048),
    accountUrl: z.string().max(2048),
    status: z.enum(['valid', 'deactivated', 'revoked']),
    contact: z.array(z.string().max(512)).max(20),
    thumbprint: z.string().max(64),
  })
  .strict();
export type AccountView = z.infer<typeof accountView>;

/** The operator's account and revocation requests, forwarded by the supervisor only. */
export const ACME_ACCOUNT_REQUESTS = {
  'acme.account': {
    handledBy: 'acme-agent',
    senders: ['supervisor'],
    timeoutMs: 45_000,
    /** The account as the CA shows it now (POST-as-GET, section 7.3). */
    payload: z.object({ directoryUrl: issuerUrl.optional() }).strict(),
    result: accountView,
  },
  'acme.account-update': {
    handledBy: 'acme-agent',
    senders: ['supervisor'],
    timeoutMs: 45_000,
    /** Section 7.3.2: replace the contacts. */
    payload: z
      .object({ directoryUrl: issuerUrl.optional(), contact: z.array(accountContact).max(4) })
      .strict(),
    result: accountView,
  },
  'acme.account-key-change': {
    handledBy: 'acme-agent',
    senders: ['supervisor'],
    timeoutMs: 60_000,
    /** Section 7.3.5: a new account key; the old one stays in use if the CA refuses. */
    payload: z.object({ directoryUrl: issuerUrl.optional() }).strict(),
    result: accountView,
  },
  'acme.account-deactivate': {
    handledBy: 'acme-agent',
    senders: ['supervisor'],
    timeoutMs: 45_000,
    /** Section 7.3.6: final; the CA refuses the account from then on. */
    payload: z.object({ directoryUrl: issuerUrl.optional() }).strict(),
    result: accountView,
  },
  'acme.certificate-revoke': {
    handledBy: 'acme-agent',
    senders: ['supervisor'],
    timeoutMs: 60_000,
    /** Section 7.6: revoke a stored certificate, signed by the account key; then replace it. */
    payload: z
      .object({
        directoryUrl: issuerUrl.optional(),
        certificateId: recordId,
        reason: revocationReason,
      })
      .strict(),
    result: z
      .object({
        certificateId: recordId,
        serial: z.string().max(128),
        reason: revocationReason,
        identifiers: z.array(identifier).max(100),
        issuer: z.string().max(2048),
      })
      .strict(),
  },
} as const;
export type AcmeEvent = z.infer<typeof acmeEvent>;

/** A URL the CA gave (directory, account, order, challenge): http or https. */
const acmeUrl = z.url({ protocol: /^https?$/ }).max(2048);

/** A CA's rateLimited pause: no new order at `issuer` before `until` (epoch ms). */
const caPause = z.object({ issuer: acmeUrl, until: z.number().int().min(0) }).strict();

/**
 * One order in flight as the acme-agent journals it in state.db, so that
 * a crash of any process resumes it instead of placing a second order.
 */
export const journaledOrder = z
  .object({
    issuer: acmeUrl,
    identifiers: z.array(identifier).min(1).max(100),
    accountUrl: acmeUrl.nullable(),
    /** Null between the intent and the CA's answer to newOrder. */
    orderUrl: acmeUrl.nullable(),
    /** The certificate key the keyvault made for this order's CSR. */
    keyId: recordId.nullable(),
    /** Challenge URLs already answered: a resumed order does not answer them again. */
    answered: z.array(acmeUrl).max(100),
  })
  .strict();
export type JournaledOrder = z.infer<typeof journaledOrder>;

export const ACME_REQUESTS = {
  'supervisor.domains': {
    handledBy: 'supervisor',
    senders: ['acme-agent'],
    timeoutMs: 5_000,
    /** The domains in state.db, for the acme-agent to keep certified. */
    payload: z.object({}).strict(),
    result: z
      .object({ domains: z.array(z.object({ name: domainName }).strict()).max(100_000) })
      .strict(),
  },
  'supervisor.challenge-install': {
    handledBy: 'supervisor',
    senders: ['acme-agent'],
    timeoutMs: 20_000,
    /** Install in every worker; answers once every running worker serves it. */
    payload: z.object({ challenge: challengeSpec }).strict(),
    result: z.object({ workers: z.number().int().min(0) }).strict(),
  },
  'supervisor.challenge-remove': {
    handledBy: 'supervisor',
    senders: ['acme-agent'],
    timeoutMs: 10_000,
    payload: z.object({ challenge: challengeSpec }).strict(),
    result: z.object({}).strict(),
  },
  'supervisor.certificates-changed': {
    handledBy: 'supervisor',
    senders: ['acme-agent'],
    timeoutMs: 10_000,
    /** A certificate for these identifiers was stored: every worker loads it for new handshakes. */
    payload: z.object({ identifiers: z.array(identifier).min(1).max(100) }).strict(),
    result: z.object({}).strict(),
  },
  'supervisor.order-journal': {
    handledBy: 'supervisor',
    senders: ['acme-agent'],
    timeoutMs: 5_000,
    /** Every journaled order, oldest first. */
    payload: z.object({}).strict(),
    result: z
      .object({
        orders: z
          .array(
            journaledOrder.extend({ startedAt: z.number().int(), updatedAt: z.number().int() }),
          )
          .max(1_000),
      })
      .strict(),
  },
  'supervisor.order-journal-save': {
    handledBy: 'supervisor',
    senders: ['acme-agent'],
    timeoutMs: 5_000,
    /** Write an order's whole record (keyed by issuer and identifiers); durable when answered. */
    payload: z.object({ order: journaledOrder }).strict(),
    result: z.object({}).strict(),
  },
  'supervisor.order-journal-clear': {
    handledBy: 'supervisor',
    senders: ['acme-agent'],
    timeoutMs: 5_000,
    /** The chain is stored or the order given up: forget it. */
    payload: z
      .object({
        issuer: acmeUrl,
        identifiers: z.array(identifier).min(1).max(100),
      })
      .strict(),
    result: z.object({ cleared: z.boolean() }).strict(),
  },
  'supervisor.order-caps': {
    handledBy: 'supervisor',
    senders: ['acme-agent'],
    timeoutMs: 5_000,
    /**
     * What a restarted acme-agent charges to its per-CA caps: when each CA
     * created an order for Gatehouse since `since` (epoch ms; oldest first,
     * the last week at most), and the rateLimited pauses not yet over.
     */
    payload: z.object({ since: z.number().int().min(0) }).strict(),
    result: z
      .object({
        newOrders: z
          .array(
            z
              .object({
                issuer: acmeUrl,
                createdAt: z.number().int().min(0),
              })
              .strict(),
          )
          .max(100_000),
        pauses: z.array(caPause).max(1_000),
      })
      .strict(),
  },
  'supervisor.ca-paused': {
    handledBy: 'supervisor',
    senders: ['acme-agent'],
    timeoutMs: 5_000,
    /** The CA answered rateLimited with Retry-After: no new order there before `until` (epoch ms). */
    payload: caPause,
    result: z.object({}).strict(),
  },
  'acme.domains-changed': {
    handledBy: 'acme-agent',
    senders: ['supervisor'],
    timeoutMs: 5_000,
    /** The domain list changed; the agent reads it again with supervisor.domains. */
    payload: z.object({}).strict(),
    result: z.object({}).strict(),
  },
  'worker.challenge-add': {
    handledBy: 'worker',
    senders: ['supervisor'],
    timeoutMs: 15_000,
    /** Answer only once the challenge is served (for tls-alpn-01: its certificate loaded). */
    payload: z.object({ challenge: challengeSpec }).strict(),
    result: z.object({}).strict(),
  },
  'worker.challenge-remove': {
    handledBy: 'worker',
    senders: ['supervisor'],
    timeoutMs: 5_000,
    payload: z.object({ challenge: challengeSpec }).strict(),
    result: z.object({}).strict(),
  },
  'supervisor.challenges': {
    handledBy: 'supervisor',
    senders: ['worker'],
    timeoutMs: 5_000,
    /** The challenges pending now, for a worker that (re)starts. */
    payload: z.object({}).strict(),
    result: z.object({ challenges: z.array(challengeSpec).max(10_000) }).strict(),
  },
  'worker.certificates-changed': {
    handledBy: 'worker',
    senders: ['supervisor'],
    timeoutMs: 10_000,
    /** Load the newest certificate for these identifiers before answering. */
    payload: z.object({ identifiers: z.array(identifier).min(1).max(100) }).strict(),
    result: z.object({}).strict(),
  },
  'keyvault.challenge-bundle': {
    handledBy: 'keyvault',
    senders: ['worker'],
    timeoutMs: 5_000,
    /** The pending tls-alpn-01 certificate and its key for an identifier; null when none. */
    payload: z.object({ identifier }).strict(),
    result: z
      .object({ certificatePem: z.string().max(16 * 1024), keyPem: z.string().max(16 * 1024) })
      .strict()
      .nullable(),
  },
} as const;

export const ACME_EVENTS = {
  'acme.event': {
    senders: ['acme-agent'],
    payload: acmeEvent,
  },
} as const;
