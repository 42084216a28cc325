/**
 * DNS over TCP (RFC 1035 section 4.2.2, RFC 7766): one query, one answer,
 * each preceded by its two-byte length, on a fresh connection. TCP because
 * an UPDATE with its TSIG and the TXT answers of a busy name can outgrow a
 * UDP datagram, and because it needs no retransmission logic. Every answer
 * is checked against its query (id, QR bit, opcode, question) before the
 * caller sees it.
 */
import net from 'node:net';
import { type Message, decodeMessage, canonicalName } from './message.js';

export interface Endpoint {
  readonly host: string;
  readonly port: number;
}

export function formatEndpoint(endpoint: Endpoint): string {
  return endpoint.host.includes(':')
    ? `[${endpoint.host}]:${endpoint.port}`
    : `${endpoint.host}:${endpoint.port}`;
}

/** The exchange failed or the answer does not belong to the query. */
export class DnsTransportError extends Error {
  constructor(
    readonly code: 'dns_unreachable' | 'dns_timeout' | 'dns_mismatch' | 'dns_malformed',
    message: string,
  ) {
    super(message);
    this.name = 'DnsTransportError';
  }
}

const DEFAULT_TIMEOUT_MS = 5_000;

/** Send `query` (encoded, signed if need be) and return the raw and decoded answer. */
export async function exchange(
  endpoint: Endpoint,
  query: Uint8Array,
  timeoutMs = DEFAULT_TIMEOUT_MS,
): Promise<{ raw: Uint8Array; message: Message }> {
  const raw = await roundTrip(endpoint, query, timeoutMs);
  let message: Message;
  try {
    message = decodeMessage(raw);
  } catch (error) {
    throw new DnsTransportError(
      'dns_malformed',
      `${formatEndpoint(endpoint)} sent a malformed DNS answer: ${(error as Error).message}`,
    );
  }
  const sent = decodeMessage(query);
  const where = formatEndpoint(endpoint);
  if (message.id !== sent.id || !message.qr || message.opcode !== sent.opcode) {
    throw new DnsTransportError(
      'dns_mismatch',
      `${where} answered with id ${message.id}, qr ${message.qr}, opcode ${message.opcode} ` +
        `to query ${sent.id} (opcode ${sent.opcode}); it is not a DNS server or something is in between`,
    );
  }
  const asked = sent.questions[0];
  const echoed = message.questions[0];
  // RFC 1035 servers echo the question; a FORMERR or NOTIMP answer may leave it out.
  if (
    asked !== undefined &&
    echoed !== undefined &&
    (canonicalName(echoed.name) !== canonicalName(asked.name) ||
      echoed.type !== asked.type ||
      echoed.class !== asked.class)
  ) {
    throw new DnsTransportError(
      'dns_mismatch',
      `${where} answered a question about ${echoed.name} to one about ${asked.name}`,
    );
  }
  return { raw, message };
}

function roundTrip(endpoint: Endpoint, query: Uint8Array, timeoutMs: number): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    const where = formatEndpoint(endpoint);
    const socket = net.connect({ host: endpoint.host, port: endpoint.port });
    let received = Buffer.alloc(0);
    let settled = false;
    const finish = (error: Error | undefined, answer?: Uint8Array): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      if (error) reject(error);
      else resolve(answer ?? new Uint8Array(0));
    };
    const timer = setTimeout(() => {
      finish(
        new DnsTransportError(
          'dns_timeout',
          `${where} did not answer over TCP within ${timeoutMs} ms`,
        ),
      );
    }, timeoutMs);
    socket.on('connect', () => {
      const length = Buffer.alloc(2);
      length.writeUInt16BE(query.length, 0);
      socket.write(Buffer.concat([length, query]));
    });
    socket.on('data', (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      if (received.length < 2) return;
      const size = received.readUInt16BE(0);
      if (size < 12) {
        finish(
          new DnsTransportError('dns_malformed', `${where} announced a ${size}-byte DNS answer`),
        );
      } else if (received.length >= 2 + size) {
        finish(undefined, received.subarray(2, 2 + size));
      }
    });
    socket.on('end', () => {
      finish(
        new DnsTransportError(
          'dns_malformed',
          `${where} closed the connection before a whole answer`,
        ),
      );
    });
    socket.on('error', (error: NodeJS.ErrnoException) => {
      finish(
        new DnsTransportError(
          'dns_unreachable',
          `cannot reach the DNS server ${where} over TCP (${error.code ?? error.message})`,
        ),
      );
    });
  });
}
