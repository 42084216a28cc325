/**
 * Watches a server until every name is served with a certificate that
 * verifies against a given root (chain and host name, as a browser would
 * check them), and records when each name first did. Node's TLS client,
 * one fresh connection per probe, SNI set to the name.
 */
import tls from 'node:tls';

export interface ServedTimes {
  /** Milliseconds from `startedAt` until each name first verified; absent if it never did. */
  readonly byName: ReadonlyMap<string, number>;
  /** The names that never verified before the deadline. */
  readonly missing: readonly string[];
}

export interface WatchOptions {
  port: number;
  names: readonly string[];
  /** PEM of the only root to trust. */
  rootPem: string;
  /** Date.now() of the moment the names were added. */
  startedAt: number;
  /** Give up after this long from startedAt. */
  timeoutMs: number;
  /** Pause between rounds of probes; default 200 ms. */
  intervalMs?: number;
  /** Probes in flight at once; default 8. */
  concurrency?: number;
}

/** Whether `name` on 127.0.0.1:port verifies against `rootPem` now; a probe lasts at most 3 s. */
export function verifies(port: number, name: string, rootPem: string): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = tls.connect({
      host: '127.0.0.1',
      port,
      servername: name,
      ca: rootPem,
      // Checked below, so that a refusal is an answer and not an exception.
      rejectUnauthorized: false,
    });
    const done = (ok: boolean): void => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(3_000, () => {
      done(false);
    });
    socket.once('error', () => {
      done(false);
    });
    socket.once('secureConnect', () => {
      const identity = tls.checkServerIdentity(name, socket.getPeerCertificate());
      done(socket.authorized && identity === undefined);
    });
  });
}

/** Probe every name not yet served, in rounds, until all are or the deadline passes. */
export async function watchUntilServed(options: WatchOptions): Promise<ServedTimes> {
  const byName = new Map<string, number>();
  const deadline = options.startedAt + options.timeoutMs;
  const concurrency = options.concurrency ?? 8;
  // Bounded by the deadline; the round count bound is a second guard.
  for (let round = 0; round < 100_000; round += 1) {
    const pending = options.names.filter((name) => !byName.has(name));
    if (pending.length === 0 || Date.now() > deadline) break;
    for (let start = 0; start < pending.length; start += concurrency) {
      const batch = pending.slice(start, start + concurrency);
      // Each name's time is taken when its own probe succeeds, not at the end of the batch.
      await Promise.all(
        batch.map(async (name) => {
          if (await verifies(options.port, name, options.rootPem)) {
            byName.set(name, Date.now() - options.startedAt);
          }
        }),
      );
    }
    await new Promise((resolve) => setTimeout(resolve, options.intervalMs ?? 200));
  }
  return { byName, missing: options.names.filter((name) => !byName.has(name)) };
}
