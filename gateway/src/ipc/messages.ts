/**
 * Every message that crosses a Gatehouse process boundary, its shape, and
 * who may send it. The supervisor routes by this table alone: a request
 * whose type is not listed for the sender's role is refused, whatever it
 * carries.
 */
import { z } from 'zod';
import { ACME_ACCOUNT_REQUESTS, ACME_EVENTS, ACME_REQUESTS } from './acme-messages.js';
import { KEYVAULT_REQUESTS } from './keyvault-messages.js';

export const ROLES = ['supervisor', 'keyvault', 'acme-agent', 'worker'] as const;
export type Role = (typeof ROLES)[number];
export type ChildRole = Exclude<Role, 'supervisor'>;

const messageType = z
  .string()
  .max(64)
  .regex(/^[a-z][a-z0-9-]*(\.[a-z][a-z0-9-]*)+$/, 'must look like "owner.verb"');

const requestId = z.number().int().min(1).max(0xffffffff);

export const ERROR_CODES = [
  'forbidden',
  'unknown_type',
  'invalid_payload',
  'handler_failed',
  'timeout',
  'channel_closed',
  'unavailable',
] as const;
export type IpcErrorCode = (typeof ERROR_CODES)[number];

export const logRecordSchema = z.object({
  time: z.string().max(40),
  level: z.enum(['debug', 'info', 'warn', 'error']),
  subsystem: z.string().max(64),
  msg: z.string().max(4096),
  fields: z.record(z.string().max(64), z.unknown()).optional(),
});
export type LogRecord = z.infer<typeof logRecordSchema>;

const errorReason = z
  .string()
  .max(64)
  .regex(/^[a-z][a-z0-9_]*$/);

const responseSchema = z.union([
  z.object({
    kind: z.literal('response'),
    id: requestId,
    ok: z.literal(true),
    payload: z.unknown(),
  }),
  z.object({
    kind: z.literal('response'),
    id: requestId,
    ok: z.literal(false),
    error: z.object({
      code: z.enum(ERROR_CODES),
      message: z.string().max(4096),
      /** The handler's own stable error code (a keyvault error's, say), when it had one. */
      reason: errorReason.optional(),
    }),
  }),
]);

export const envelopeSchema = z.union([
  z.object({
    kind: z.literal('request'),
    id: requestId,
    type: messageType,
    payload: z.unknown(),
    /**
     * Set by the supervisor only, on a request it forwards: the role that
     * sent it, so that the answering process checks the allow-list too.
     */
    origin: z.enum(ROLES).optional(),
  }),
  responseSchema,
  z.object({ kind: z.literal('event'), type: messageType, payload: z.unknown() }),
  z.object({ kind: z.literal('log'), record: logRecordSchema }),
]);
export type Envelope = z.infer<typeof envelopeSchema>;

/** What the supervisor asks of every child. */
const CHILD_REQUESTS = {
  'child.ping': {
    handledBy: 'child',
    senders: ['supervisor'],
    payload: z.object({}).strict(),
    result: z.object({ uptimeMs: z.number(), rssBytes: z.number() }).strict(),
  },
  'child.shutdown': {
    handledBy: 'child',
    senders: ['supervisor'],
    payload: z.object({ deadlineMs: z.number().int().min(0).max(60_000) }).strict(),
    result: z.object({}).strict(),
  },
} as const;

/**
 * Requests, by type: the payload and result shapes, which roles may send
 * each, which role answers it (`child`: whichever child the supervisor
 * asks), and how long a caller waits by default.
 */
export const REQUESTS = {
  ...CHILD_REQUESTS,
  ...KEYVAULT_REQUESTS,
  ...ACME_REQUESTS,
  ...ACME_ACCOUNT_REQUESTS,
} as const satisfies Record<
  string,
  {
    handledBy: Role | 'child';
    senders: readonly Role[];
    timeoutMs?: number;
    payload: z.ZodType;
    result: z.ZodType;
  }
>;
export type RequestType = keyof typeof REQUESTS;
export type RequestPayload<T extends RequestType> = z.infer<(typeof REQUESTS)[T]['payload']>;
export type RequestResult<T extends RequestType> = z.infer<(typeof REQUESTS)[T]['result']>;

/** Events, by type, with the roles that may emit each. */
export const EVENTS = {
  'child.ready': {
    senders: ['keyvault', 'acme-agent', 'worker'],
    payload: z.object({}).strict(),
  },
  ...ACME_EVENTS,
} as const satisfies Record<string, { senders: readonly Role[]; payload: z.ZodType }>;
export type EventType = keyof typeof EVENTS;
export type EventPayload<T extends EventType> = z.infer<(typeof EVENTS)[T]['payload']>;

/** How long a caller waits for an answer to `type` unless it says otherwise. */
export function requestTimeout(type: RequestType): number {
  // A type outside the table (a caller's cast) is refused by the peer; it
  // still needs a timeout to wait for that answer.
  if (!isRequestType(type)) return 5_000;
  const spec = REQUESTS[type];
  return 'timeoutMs' in spec ? spec.timeoutMs : 5_000;
}

export function isRequestType(type: string): type is RequestType {
  return Object.hasOwn(REQUESTS, type);
}

export function isEventType(type: string): type is EventType {
  return Object.hasOwn(EVENTS, type);
}

/** The allow-list: may `sender` send a request of this type? */
export function mayRequest(sender: Role, type: RequestType): boolean {
  return (REQUESTS[type].senders as readonly Role[]).includes(sender);
}

export function mayEmit(sender: Role, type: EventType): boolean {
  return (EVENTS[type].senders as readonly Role[]).includes(sender);
}
