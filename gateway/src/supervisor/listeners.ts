/**
 * The listening sockets, created once by the supervisor (which may hold
 * the privilege to bind low ports) and inherited by every worker. They are
 * plain sockets without SO_REUSEPORT, so a stray listen on the same port by
 * any other code fails loudly instead of silently taking connections.
 */
import type { AcceptorAddon } from '../native/addon.js';
import type { Logger } from '../log/logger.js';
import type { RunOptions } from './options.js';

export interface Listener {
  fd: number;
  scheme: 'https' | 'http';
  host: string;
  port: number;
}

export class ListenError extends Error {
  readonly code = 'listen_failed';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ListenError';
  }
}

const BACKLOG = 4096;

export function openListeners(
  addon: AcceptorAddon,
  options: Pick<RunOptions, 'bind' | 'httpsPort' | 'httpPort'>,
  log: Logger,
): Listener[] {
  const listeners: Listener[] = [];
  try {
    for (const scheme of ['https', 'http'] as const) {
      const port = scheme === 'https' ? options.httpsPort : options.httpPort;
      for (const host of options.bind) {
        const fd = listenOne(addon, host, port, scheme, log);
        if (fd !== undefined) listeners.push({ fd, scheme, host, port });
      }
    }
  } catch (error) {
    for (const listener of listeners) addon.closeFd(listener.fd);
    throw error;
  }
  if (!listeners.some((listener) => listener.scheme === 'https')) {
    throw new ListenError(`No address could be bound for HTTPS; check --bind`);
  }
  return listeners;
}

function listenOne(
  addon: AcceptorAddon,
  host: string,
  port: number,
  scheme: string,
  log: Logger,
): number | undefined {
  try {
    const fd = addon.listen(host, port, BACKLOG);
    log.info('listening', { scheme, address: host, port });
    return fd;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const where = host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
    // A host without IPv6 should still serve IPv4 with the default binds.
    if (host === '::' && (code === 'EAFNOSUPPORT' || code === 'EADDRNOTAVAIL')) {
      log.warn('IPv6 is not available here; serving IPv4 only', { address: host, port });
      return undefined;
    }
    if (code === 'EADDRINUSE') {
      throw new ListenError(
        `Cannot listen for ${scheme} on ${where}: another program uses that port. ` +
          `Stop it, or choose another port with --${scheme}-port.`,
        { cause: error },
      );
    }
    if (code === 'EACCES') {
      throw new ListenError(
        `Cannot listen for ${scheme} on ${where}: ports below 1024 need root or ` +
          `CAP_NET_BIND_SERVICE. Run as root, or choose a port above 1023 with --${scheme}-port.`,
        { cause: error },
      );
    }
    throw new ListenError(`Cannot listen for ${scheme} on ${where}: ${String(error)}`, {
      cause: error,
    });
  }
}
