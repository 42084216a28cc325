/**
 * The typed face of Gatehouse's native acceptor addon (the accept loop in
 * `gateway/native/src/acceptor.c`, its Node-API surface in `addon.c`, built
 * by node-gyp into `gateway/native/build/Release/gatehouse_acceptor.node`).
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
  /** Close a connection that has not sent a whole ClientHello in this time (1 to 3,600,000). */
  helloTimeoutMs: number;
  /** Connections waiting for their ClientHello at most; past it the oldest is closed (1 to 1e6). */
  maxPending: number;
}

/**
 * Called once per connection that passed the acceptor. `sni` is undefined
 * when absent; `remoteAddress` is the peer's address as text. `alpn` lists
 * the offered protocols in the client's order (at most 16, plus
 * 'acme-tls/1' at the end when it was offered past them); it is empty for
 * `tls: false`. The fd is the callback's from the first moment, even when
 * it throws: adopt it, or close it with closeFd/sendAlertAndClose. A throw
 * reaches process 'uncaughtException'.
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
  /** The client closed or reset the connection before a whole ClientHello arrived. */
  aborted: number;
  timedOut: number;
  /** Closed because maxPending was reached. */
  evicted: number;
  /** Times accept() failed with EMFILE or ENFILE and the acceptor backed off. */
  fdExhausted: number;
  pending: number;
}

export interface NativeAcceptor {
  /**
   * Stop accepting and close every connection still waiting; the listening
   * fd stays open. Idempotent, and safe inside onConnection. An open
   * acceptor keeps itself and the event loop alive, as a listening server
   * does; one closes by itself when its Node environment exits.
   */
  close(): void;
  stats(): AcceptorStats;
}

export interface AcceptorAddon {
  /**
   * Create a listening TCP socket (SO_REUSEADDR, no SO_REUSEPORT, IPV6_V6ONLY
   * for IPv6 addresses, non-blocking) and return its fd. `host` is an IP
   * literal ('127.0.0.1', '::1', '::'); names are refused with code EINVAL.
   * Throws an Error with `code` set to the errno name (EADDRINUSE, EACCES,
   * ...), `errno` and `syscall` on failure.
   */
  listen(host: string, port: number, backlog: number): number;
  /**
   * Start accepting on `listenFd` in this thread's event loop. Throws code
   * EINVAL when the fd is not a listening socket and EBUSY when this thread
   * already has an acceptor on it; TypeError/RangeError for bad options.
   */
  createAcceptor(
    listenFd: number,
    options: AcceptorOptions,
    onConnection: ConnectionHandler,
  ): NativeAcceptor;
  /** Parse bytes as the acceptor would; for tests and the fuzz table. */
  parseClientHello(bytes: Uint8Array): ParsedClientHello;
  /**
   * Write a fatal TLS alert record (RFC 8446 section 6) to fd and close it,
   * reading what the client sent first so the close does not become a RST.
   */
  sendAlertAndClose(fd: number, alertDescription: number): void;
  /**
   * Close an fd that the addon handed over and nobody adopted, or a listening
   * fd once its acceptors are closed. Both this and sendAlertAndClose refuse
   * (code EBUSY) the listening fd of an acceptor still open in this thread,
   * and anything that is not a socket above fd 2 (ENOTSOCK, RangeError).
   */
  closeFd(fd: number): void;
}

const here = path.dirname(fileURLToPath(import.meta.url));
export const ADDON_PATH = path.resolve(here, '../../native/build/Release/gatehouse_acceptor.node');

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
