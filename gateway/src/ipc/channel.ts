/**
 * One end of an IPC pipe: requests with ids and timeouts, responses, events
 * and log records, all framed and checked on receipt. A malformed or
 * unexpected message is reported through `onProtocolError` and answered
 * with an error where it can be; it never throws into the receiver.
 */
import type { Duplex } from 'node:stream';
import { DEFAULT_MAX_FRAME_BYTES, FrameDecoder, encodeFrame } from './framing.js';
import {
  EVENTS,
  REQUESTS,
  envelopeSchema,
  isEventType,
  isRequestType,
  mayEmit,
  mayRequest,
  requestTimeout,
  type Envelope,
  type EventPayload,
  type EventType,
  type IpcErrorCode,
  type LogRecord,
  type RequestPayload,
  type RequestResult,
  type RequestType,
  type Role,
} from './messages.js';

export class IpcError extends Error {
  constructor(
    readonly code: IpcErrorCode,
    message: string,
    options?: { cause?: unknown; reason?: string | undefined },
  ) {
    super(message, options);
    this.name = 'IpcError';
    this.reason = options?.reason;
  }

  /** The answering handler's own error code, when it threw one (e.g. "key_mismatch"). */
  readonly reason: string | undefined;
}

export type RequestHandler<T extends RequestType> = (
  payload: RequestPayload<T>,
) => RequestResult<T> | Promise<RequestResult<T>>;

export interface ChannelOptions {
  /** The role at the other end: incoming requests and events are checked against it. */
  peer: Role;
  stream: Duplex;
  maxFrameBytes?: number;
  defaultTimeoutMs?: number;
  /** Something the peer sent was refused; `problem` says what, for the log. */
  onProtocolError: (problem: string) => void;
  onEvent?: <T extends EventType>(type: T, payload: EventPayload<T>) => void;
  onLog?: (record: LogRecord) => void;
  onClose?: () => void;
  /**
   * Answers a request that this process has no handler for but that the
   * allow-list lets the peer send: the supervisor passes it on to the role
   * that handles it. `origin` is the peer's role.
   */
  forward?: (type: RequestType, payload: unknown, origin: Role) => Promise<unknown>;
}

interface Pending {
  type: RequestType;
  resolve: (value: unknown) => void;
  reject: (error: IpcError) => void;
  timer: NodeJS.Timeout;
}

export class Channel {
  private readonly decoder: FrameDecoder;
  private readonly pending = new Map<number, Pending>();
  private readonly handlers = new Map<RequestType, (payload: unknown) => unknown>();
  private nextId = 1;
  private closed = false;

  constructor(private readonly options: ChannelOptions) {
    this.decoder = new FrameDecoder(options.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES);
    options.stream.on('data', (chunk: Buffer) => {
      this.receive(chunk);
    });
    options.stream.on('error', () => {
      this.shut();
    });
    options.stream.on('close', () => {
      this.shut();
    });
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Answer requests of `type` from the peer; the payload is already checked. */
  handle<T extends RequestType>(type: T, handler: RequestHandler<T>): void {
    this.handlers.set(type, handler as (payload: unknown) => unknown);
  }

  /**
   * Send a request and wait for its checked result. `origin` is for the
   * supervisor alone, passing on a request that a child sent.
   */
  request<T extends RequestType>(
    type: T,
    payload: RequestPayload<T>,
    timeoutMs = this.options.defaultTimeoutMs ?? requestTimeout(type),
    origin?: Role,
  ): Promise<RequestResult<T>> {
    if (this.closed) {
      return Promise.reject(new IpcError('channel_closed', `cannot send ${type}: channel closed`));
    }
    const id = this.nextId;
    this.nextId = this.nextId >= 0xffffffff ? 1 : this.nextId + 1;

    return new Promise<RequestResult<T>>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(
          new IpcError(
            'timeout',
            `${type} got no answer from ${this.options.peer} in ${timeoutMs} ms`,
          ),
        );
      }, timeoutMs);
      this.pending.set(id, {
        type,
        resolve: resolve as (value: unknown) => void,
        reject,
        timer,
      });
      this.send(
        origin === undefined
          ? { kind: 'request', id, type, payload }
          : { kind: 'request', id, type, payload, origin },
      );
    });
  }

  emit<T extends EventType>(type: T, payload: EventPayload<T>): void {
    this.send({ kind: 'event', type, payload });
  }

  log(record: LogRecord): void {
    this.send({ kind: 'log', record });
  }

  close(): void {
    this.options.stream.end();
    this.shut();
  }

  /** Send an envelope as is. Exposed for tests that play a misbehaving peer. */
  send(envelope: Envelope): void {
    if (this.closed) return;
    this.options.stream.write(encodeFrame(JSON.stringify(envelope)));
  }

  private receive(chunk: Buffer): void {
    for (const frame of this.decoder.push(chunk)) {
      if (frame.kind === 'oversized') {
        this.options.onProtocolError(
          `frame of ${frame.length} bytes exceeds the limit and was dropped`,
        );
        continue;
      }
      try {
        this.dispatch(frame.body);
      } catch (error) {
        // Whatever a frame holds, it must not take this process down.
        this.options.onProtocolError(`frame could not be handled: ${String(error)}`);
      }
    }
  }

  private dispatch(body: string): void {
    let json: unknown;
    try {
      json = JSON.parse(body);
    } catch {
      this.options.onProtocolError('frame is not JSON');
      return;
    }

    const parsed = envelopeSchema.safeParse(json);
    if (!parsed.success) {
      this.options.onProtocolError(`malformed envelope: ${summarize(parsed.error)}`);
      return;
    }

    const envelope = parsed.data;
    switch (envelope.kind) {
      case 'request':
        void this.answer(envelope.id, envelope.type, envelope.payload, envelope.origin);
        return;
      case 'response':
        this.settle(envelope);
        return;
      case 'event':
        this.deliverEvent(envelope.type, envelope.payload);
        return;
      case 'log':
        this.options.onLog?.(envelope.record);
        return;
    }
  }

  private async answer(
    id: number,
    type: string,
    payload: unknown,
    origin: Role | undefined,
  ): Promise<void> {
    const refuse = (code: IpcErrorCode, message: string): void => {
      this.options.onProtocolError(`request ${type} refused: ${message}`);
      this.send({ kind: 'response', id, ok: false, error: { code, message } });
    };

    // Only the supervisor may speak for another role; it checked the
    // allow-list for that role already, and this end checks it again.
    const { peer } = this.options;
    if (origin !== undefined && peer !== 'supervisor') {
      refuse('forbidden', `role ${peer} may not forward requests`);
      return;
    }
    const sender = origin ?? peer;
    if (!isRequestType(type)) {
      refuse('unknown_type', `unknown request type "${type}"`);
      return;
    }
    if (!mayRequest(sender, type)) {
      refuse('forbidden', `role ${sender} may not send ${type}`);
      return;
    }
    const handler = this.handlers.get(type);
    const forward = this.options.forward;
    if (!handler && !forward) {
      refuse('unknown_type', `this process does not answer ${type}`);
      return;
    }
    const checked = REQUESTS[type].payload.safeParse(payload);
    if (!checked.success) {
      refuse('invalid_payload', `payload of ${type}: ${summarize(checked.error)}`);
      return;
    }

    try {
      const result = handler
        ? await handler(checked.data)
        : await forward?.(type, checked.data, sender);
      this.send({ kind: 'response', id, ok: true, payload: result });
    } catch (error) {
      this.send({ kind: 'response', id, ok: false, error: errorBody(error) });
    }
  }

  private settle(envelope: Extract<Envelope, { kind: 'response' }>): void {
    const pending = this.pending.get(envelope.id);
    if (!pending) {
      this.options.onProtocolError(`response to unknown request id ${envelope.id}`);
      return;
    }
    this.pending.delete(envelope.id);
    clearTimeout(pending.timer);

    if (!envelope.ok) {
      const { code, message, reason } = envelope.error;
      pending.reject(new IpcError(code, message, { reason }));
      return;
    }
    const checked = REQUESTS[pending.type].result.safeParse(envelope.payload);
    if (!checked.success) {
      const problem = `result of ${pending.type}: ${summarize(checked.error)}`;
      this.options.onProtocolError(problem);
      pending.reject(new IpcError('invalid_payload', problem));
      return;
    }
    pending.resolve(checked.data);
  }

  private deliverEvent(type: string, payload: unknown): void {
    if (!isEventType(type)) {
      this.options.onProtocolError(`unknown event type "${type}"`);
      return;
    }
    if (!mayEmit(this.options.peer, type)) {
      this.options.onProtocolError(`role ${this.options.peer} may not emit ${type}`);
      return;
    }
    const checked = EVENTS[type].payload.safeParse(payload);
    if (!checked.success) {
      this.options.onProtocolError(`payload of event ${type}: ${summarize(checked.error)}`);
      return;
    }
    this.options.onEvent?.(type, checked.data);
  }

  private shut(): void {
    if (this.closed) return;
    this.closed = true;
    for (const [id, pending] of this.pending) {
      clearTimeout(pending.timer);
      pending.reject(new IpcError('channel_closed', `${pending.type} lost: channel closed`));
      this.pending.delete(id);
    }
    this.options.onClose?.();
  }
}

/**
 * What a failed handler answers: an IpcError passes on as it is (a forwarded
 * request's error reaches the original sender unchanged); any other error
 * is handler_failed, with its own `code` kept as the reason when it is one.
 */
function errorBody(error: unknown): { code: IpcErrorCode; message: string; reason?: string } {
  const message = error instanceof Error ? error.message : String(error);
  if (error instanceof IpcError) {
    return error.reason === undefined
      ? { code: error.code, message }
      : { code: error.code, message, reason: error.reason };
  }
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^[a-z][a-z0-9_]{0,63}$/.test(code)
    ? { code: 'handler_failed', message, reason: code }
    : { code: 'handler_failed', message };
}

/** First few zod issues as "path: message" text, short enough for a log line. */
function summarize(error: {
  issues: readonly { path: readonly PropertyKey[]; message: string }[];
}): string {
  return error.issues
    .slice(0, 3)
    .map((issue) => `${issue.path.map(String).join('.') || '(root)'}: ${issue.message}`)
    .join('; ');
}
