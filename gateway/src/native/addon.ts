/**
 * The typed face of Gatehouse's native acceptor addon
 * (`gateway/native/src/acceptor.c`, built by node-gyp into
 * `gateway/native/build/Release/gatehouse_acceptor.node`).
 *
 * The addon owns the first moments of every connection: it accepts on a
 * listening socket that the supervisor created, peeks at the ClientHello
 * without consuming it, and hands the file descriptor to JavaScript with the
 * server name and offered ALPN protocols. After `onConnection` the fd belongs
 * to whoever the callback gives it to (uWS `adoptSocket` or a Node socket);
 * the addon never touches it again.
 */
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

export type ParseStatus = 'ok' | 'need_more' | 'not_tls' | 'malformed' | 'too_large';

export interface ParsedClientHello {
  status: ParseStatus;
  /** Server name as sent, when status is 'ok' and the client sent one. */
  sni?: string;
  /** Offered ALPN protocols in the client's order, when status is 'ok'. */
  alpn?: string[];
  /** When status is 'need_more': total bytes needed from the start. */
  need?: number;
  /** When the ClientHello was refused: why, for logs and tests. */
  error?: string;
}

export interface AcceptorOptions {
  /** true: peek at a ClientHello before the hand-off; false: hand off at once (plain HTTP). */
  tls: boolean;
  /** Close a connection that has not sent a whole ClientHello in this time. */
  helloTimeoutMs: number;
  /** Connections waiting for their ClientHello at most; past it the oldest is closed. */
  maxPending: number;
}

/**
 * Called once per connection that passed the acceptor. `sni` is undefined
 * when absent; `remoteAddress` is the peer's address as text.
 */
export type ConnectionHandler = (
  fd: number,
  sni: string | undefined,
  alpn: string[],
  remoteAddress: string,
) => void;

export interface AcceptorStats {
  accepted: number;
  handedOff: number;
  /** Closed for non-TLS bytes, a malformed or oversized ClientHello, or too many wakeups. */
  rejected: number;
  timedOut: number;
  /** Closed because maxPending was reached. */
  evicted: number;
  /** Times accept() failed with EMFILE or ENFILE and the acceptor backed off. */
  fdExhausted: number;
  pending: number;
}

export interface NativeAcceptor {
  /** Stop accepting and close every connection still waiting; the listening fd stays open. */
  close(): void;
  stats(): AcceptorStats;
}

export interface AcceptorAddon {
  /**
   * Create a listening TCP socket (SO_REUSEADDR, no SO_REUSEPORT, IPV6_V6ONLY
   * for IPv6 addresses, non-blocking) and return its fd. Throws an Error with
   * `code` set to the errno name (EADDRINUSE, EACCES, ...) on failure.
   */
  listen(host: string, port: number, backlog: number): number;
  createAcceptor(
    listenFd: number,
    options: AcceptorOptions,
    onConnection: ConnectionHandler,
  ): NativeAcceptor;
  /** Parse bytes as the acceptor would; for tests and the fuzz table. */
  parseClientHello(bytes: Uint8Array): ParsedClientHello;
  /** Write a fatal TLS alert record (RFC 8446 section 6) to fd and close it. */
  sendAlertAndClose(fd: number, alertDescription: number): void;
  /** Close an fd that the addon handed over and nobody adopted. */
  closeFd(fd: number): void;
}

const here = path.dirname(fileURLToPath(import.meta.url));
export const ADDON_PATH = path.resolve(
  here,
  '../../native/build/Release/gatehouse_acceptor.node',
);

let loaded: AcceptorAddon | undefined;

/** Load the addon once; throws with the fix when it was never built. */
export function loadAcceptorAddon(): AcceptorAddon {
  if (loaded) return loaded;
  try {
    loaded = createRequire(import.meta.url)(ADDON_PATH) as AcceptorAddon;
  } catch (cause) {
    throw new Error(
      `Could not load the native acceptor from ${ADDON_PATH}; run scripts/setup to build it`,
      { cause },
    );
  }
  return loaded;
}
