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
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { Child } from './child.js';

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

const PROBLEM_LINES_KEPT = 200;
const live = new Set<Caddy>();
const ADMIN_HOST = 'caddy-admin';

export class Caddy {
  /** Caddy's last error lines (JSON logs): failed attempts, retried or not. */
  readonly problems: string[] = [];
  private stopping: Promise<void> | undefined;
  private readonly child: Child;

  private constructor(
    readonly dir: string,
    configFile: string,
  ) {
    // HOME and XDG_* point into the temp dir: Caddy writes nothing anywhere else.
    this.child = new Child('caddy', ['run', '--config', configFile], {
      env: {
        HOME: dir,
        XDG_CONFIG_HOME: path.join(dir, 'config'),
        XDG_DATA_HOME: path.join(dir, 'data'),
      },
      debianPackage: 'caddy',
      onLine: (line) => {
        // Kept apart: a busy run's info lines would push them out of the tail.
        // Errors only: Caddy warns of every test-CA certificate without OCSP.
        if (!line.includes('"level":"error"')) return;
        this.problems.push(line);
        this.problems.splice(0, this.problems.length - PROBLEM_LINES_KEPT);
      },
    });
  }

  static async start(options: CaddyOptions): Promise<Caddy> {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gatehouse-bench-caddy-'));
    const configFile = path.join(dir, 'caddy.json');
    fs.writeFileSync(configFile, JSON.stringify(baseConfig(dir, options), null, 2));
    const caddy = new Caddy(dir, configFile);
    live.add(caddy);
    if (live.size === 1) process.once('exit', killAllNow);
    const timeoutMs = options.startTimeoutMs ?? 15_000;
    const deadline = Date.now() + timeoutMs;
    try {
      for (;;) {
        if (!caddy.child.running) throw new Error(`caddy ${caddy.child.state}`);
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
    return this.child.pid;
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
    return this.child.describe();
  }

  /** Stop the process (SIGTERM, then SIGKILL) and remove the temp dir; safe to call twice. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      try {
        await this.child.stop();
      } finally {
        fs.rmSync(this.dir, { recursive: true, force: true });
        live.delete(this);
      }
    })();
    return this.stopping;
  }

  /** For the exit hook: no waiting is possible there. */
  killNow(): void {
    this.child.signal('SIGKILL');
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
