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
  })
  .strict();
export type AcmeEvent = z.infer<typeof acmeEvent>;

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
