/**
 * Debian's Caddy as a peer for benchmarks: one `caddy run` on loopback with
 * its own temp dir (storage, config, admin socket), its ACME issuer pointed
 * at a test CA, and sites added later through its admin API on a Unix
 * socket. stop() kills only the process start() spawned, by PID, and removes
 * the temp dir; an exit hook does the same if the caller never gets there.
 *
 *     const caddy = await Caddy.start({ httpsPort, httpPort, acme: { ... } });
 *     try { await caddy.addSites(names); } finally { await caddy.stop(); }
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';

export interface CaddyOptions {
  /** The HTTPS port: sites and tls-alpn-01 answers (127.0.0.1 only; http-01 is off). */
  httpsPort: number;
  /** Caddy's HTTP port (its http_port setting); nothing listens there, redirects are off. */
  httpPort: number;
  acme: {
    /** The CA's directory URL (the issuer's `ca`). */
    directoryUrl: string;
    /** PEM file of the root the CA's own HTTPS chains to (`trusted_roots_pem_files`). */
    trustFile: string;
    email: string;
  };
  /** How long to wait for the admin API; default 15 s. */
  startTimeoutMs?: number;
}

/** Caddy did not start or refused a request; the message carries its output tail. */
export class CaddyError extends Error {
  override readonly name = 'CaddyError';
}

const STOP_GRACE_MS = 5_000;
const OUTPUT_LINES_KEPT = 200;
const live = new Set<Caddy>();
const ADMIN_HOST = 'caddy-admin';

export class Caddy {
  private readonly lines: string[] = [];
  /** Caddy's last error lines (JSON logs): failed attempts, retried or not. */
  readonly problems: string[] = [];
  private readonly exited: Promise<void>;
  private exit: string | undefined;
  private reaped = false;
  private stopping: Promise<void> | undefined;

  private constructor(
    readonly dir: string,
    private readonly process: ChildProcess,
  ) {
    const collect = (chunk: Buffer): void => {
      const lines = chunk.toString('utf8').split('\n').filter(Boolean);
      this.lines.push(...lines);
      this.lines.splice(0, this.lines.length - OUTPUT_LINES_KEPT);
      // Kept apart: a busy run's info lines would push them out of the tail.
      // Errors only: Caddy warns of every test-CA certificate without OCSP.
      this.problems.push(...lines.filter((line) => line.includes('"level":"error"')));
      this.problems.splice(0, this.problems.length - OUTPUT_LINES_KEPT);
    };
    process.stdout?.on('data', collect);
    process.stderr?.on('data', collect);
    process.once('exit', () => {
      this.reaped = true;
    });
    this.exited = new Promise((resolve) => {
      process.once('close', (code, signal) => {
        this.exit ??= signal === null ? `exited with code ${code}` : `was killed by ${signal}`;
        resolve();
      });
      process.once('error', (error: NodeJS.ErrnoException) => {
        if (process.pid !== undefined) return;
        this.exit ??=
          error.code === 'ENOENT'
            ? 'could not be run: caddy not found (install it: apt-get install caddy)'
            : `could not be run: ${error.message}`;
        resolve();
      });
    });
  }

  static async start(options: CaddyOptions): Promise<Caddy> {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gatehouse-bench-caddy-'));
    const configFile = path.join(dir, 'caddy.json');
    fs.writeFileSync(configFile, JSON.stringify(baseConfig(dir, options), null, 2));
    // HOME and XDG_* point into the temp dir: Caddy writes nothing anywhere else.
    const child = spawn('caddy', ['run', '--config', configFile], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: {
        ...process.env,
        HOME: dir,
        XDG_CONFIG_HOME: path.join(dir, 'config'),
        XDG_DATA_HOME: path.join(dir, 'data'),
      },
    });
    const caddy = new Caddy(dir, child);
    live.add(caddy);
    if (live.size === 1) process.once('exit', killAllNow);
    const timeoutMs = options.startTimeoutMs ?? 15_000;
    const deadline = Date.now() + timeoutMs;
    try {
      for (;;) {
        if (caddy.exit !== undefined) throw new Error(`caddy ${caddy.exit}`);
        const answer = await caddy.admin('GET', '/config/').catch(() => undefined);
        if (answer?.status === 200) return caddy;
        if (Date.now() > deadline) throw new Error(`no admin API answer within ${timeoutMs} ms`);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    } catch (error) {
      await caddy.stop();
      const message = error instanceof Error ? error.message : String(error);
      throw new CaddyError(`Caddy did not start: ${message}${caddy.output()}`, { cause: error });
    }
  }

  get pid(): number | undefined {
    return this.process.pid;
  }

  get adminSocket(): string {
    return path.join(this.dir, 'admin.sock');
  }

  /**
   * Add one site per name in a single admin request (POST .../routes/...
   * appends every element): one config reload, so every name is managed
   * from the same moment. Resolves when Caddy has loaded the new config.
   */
  async addSites(names: readonly string[]): Promise<void> {
    const routes = names.map((name) => ({
      match: [{ host: [name] }],
      handle: [{ handler: 'static_response', body: `${name}\n` }],
      terminal: true,
    }));
    const answer = await this.admin('POST', '/config/apps/http/servers/bench/routes/...', routes);
    if (answer.status !== 200) {
      throw new CaddyError(
        `Caddy's admin API refused the sites (${answer.status}): ${answer.body}`,
      );
    }
  }

  /** One request to the admin API over its Unix socket, bounded at 10 s. */
  admin(
    method: string,
    urlPath: string,
    body?: unknown,
  ): Promise<{ status: number; body: string }> {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    return new Promise((resolve, reject) => {
      const request = http.request(
        {
          socketPath: this.adminSocket,
          method,
          path: urlPath,
          timeout: 10_000,
          // Caddy checks Host against admin.origins (see baseConfig).
          headers: {
            host: ADMIN_HOST,
            ...(payload === undefined ? {} : { 'content-type': 'application/json' }),
          },
        },
        (response) => {
          let text = '';
          response.setEncoding('utf8');
          response.on('data', (chunk: string) => (text += chunk));
          response.on('end', () => {
            resolve({ status: response.statusCode ?? 0, body: text });
          });
          response.on('error', reject);
        },
      );
      request.on('timeout', () => {
        request.destroy(new Error(`caddy admin ${method} ${urlPath} timed out after 10 s`));
      });
      request.on('error', reject);
      request.end(payload);
    });
  }

  /** The last lines Caddy wrote, for an error message. */
  output(): string {
    const tail = this.lines.length === 0 ? '(none)' : this.lines.slice(-30).join('\n');
    return `\n--- caddy ${this.exit ?? 'is running'}; its last output:\n${tail}`;
  }

  /** Stop the process (SIGTERM, then SIGKILL) and remove the temp dir; safe to call twice. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      try {
        this.signal('SIGTERM');
        if (await this.exitsWithin(STOP_GRACE_MS)) return;
        this.signal('SIGKILL');
        if (await this.exitsWithin(STOP_GRACE_MS)) return;
        throw new CaddyError(`caddy (pid ${this.pid}) survived SIGKILL`);
      } finally {
        fs.rmSync(this.dir, { recursive: true, force: true });
        live.delete(this);
      }
    })();
    return this.stopping;
  }

  /** By PID, only while not yet reaped: after 'exit' the PID may be someone else's. */
  private signal(signal: NodeJS.Signals): void {
    if (this.reaped || this.pid === undefined) return;
    try {
      process.kill(this.pid, signal);
    } catch {
      // exited between the check and the kill
    }
  }

  private async exitsWithin(ms: number): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => {
        resolve(false);
      }, ms);
    });
    return Promise.race([this.exited.then(() => true), timeout]).finally(() => {
      clearTimeout(timer);
    });
  }

  /** For the exit hook: no waiting is possible there. */
  killNow(): void {
    this.signal('SIGKILL');
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

function killAllNow(): void {
  for (const caddy of live) caddy.killNow();
}

/**
 * A server on 127.0.0.1:httpsPort with no sites yet, and one automation
 * policy for every name: the ACME issuer at the test CA with tls-alpn-01
 * alone enabled. Redirects are off so that Caddy opens no
 * listener on the HTTP port (it would bind every interface).
 */
function baseConfig(dir: string, options: CaddyOptions): unknown {
  const { acme } = options;
  // Only tls-alpn-01, answered by the bench server itself: the solver's
  // own listener (bound to 127.0.0.1, never every interface) finds the
  // port taken and leaves the handshakes to the server.
  const challenges = { http: { disabled: true }, bind_host: '127.0.0.1' };
  return {
    // On a Unix socket Caddy 2.6 allows only an empty Host unless told
    // otherwise, and Node's client always sends one.
    admin: {
      listen: `unix/${path.join(dir, 'admin.sock')}`,
      origins: [ADMIN_HOST],
      config: { persist: false },
    },
    logging: { logs: { default: { level: 'INFO' } } },
    storage: { module: 'file_system', root: path.join(dir, 'storage') },
    apps: {
      http: {
        http_port: options.httpPort,
        https_port: options.httpsPort,
        servers: {
          bench: {
            listen: [`127.0.0.1:${options.httpsPort}`],
            routes: [],
            automatic_https: { disable_redirects: true },
          },
        },
      },
      tls: {
        automation: {
          policies: [
            {
              issuers: [
                {
                  module: 'acme',
                  ca: acme.directoryUrl,
                  email: acme.email,
                  trusted_roots_pem_files: [acme.trustFile],
                  challenges,
                },
              ],
            },
          ],
        },
      },
    },
  };
}
