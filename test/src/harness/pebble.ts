/**
 * A real ACME CA for the tests: Debian's Pebble, with pebble-challtestsrv as
 * its DNS resolver, on loopback ports picked per run. Pebble's own HTTPS
 * certificate is made at start by a throwaway CA in a temp dir; its issuing
 * root is new at every start and is read from the management interface.
 *
 * Callers stop it whatever the outcome of their tests:
 *
 *     const pebble = await Pebble.start({ httpPort, tlsPort });
 *     after(() => pebble.stop());
 *
 * stop() kills only the two processes start() spawned, by PID, and removes
 * the temp dir. If the test process exits without calling it, an exit hook
 * kills them still (a SIGKILL of the test process itself leaves them behind).
 */
import { randomBytes } from 'node:crypto';
import { promises as dns } from 'node:dns';
import fs from 'node:fs';
import type { IncomingHttpHeaders } from 'node:http';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Child } from './child.js';
import { run } from './clients.js';
import { freePort } from './ports.js';

export interface PebbleOptions {
  /** Port Pebble's VA dials for http-01 (Gatehouse's plain HTTP port). */
  httpPort: number;
  /** Port Pebble's VA dials for tls-alpn-01 (Gatehouse's HTTPS port). */
  tlsPort: number;
  /**
   * Extra environment for Pebble, e.g. { PEBBLE_WFE_NONCEREJECT: '50' }.
   * Defaults: PEBBLE_VA_NOSLEEP=1; everything else is Pebble's own default
   * (5% of nonces rejected, authorizations reused half the time).
   */
  env?: Record<string, string>;
  /** Certificate validity Pebble gives, in seconds (config `certificateValidityPeriod`). */
  certificateValiditySeconds?: number;
  /** How long to wait for the directory to answer; default 15 s. */
  startTimeoutMs?: number;
  /** The Pebble binary, e.g. an unpacked 2.6 for ARI; default `pebble` from PATH. */
  pebbleBinary?: string;
  /** The challtestsrv binary; default `pebble-challtestsrv` from PATH. */
  challtestsrvBinary?: string;
  /**
   * "host:port" of the DNS server Pebble resolves with (`-dnsserver`), e.g. a
   * bind9 that takes dns-01 records; default challtestsrv (which still starts).
   */
  dnsServer?: string;
  /**
   * External Account Binding keys (key id to base64url HMAC key, config
   * `externalAccountMACKeys`); when given, Pebble requires a binding on
   * every new account (`externalAccountBindingRequired`). Default: none.
   */
  externalAccountMacKeys?: Record<string, string>;
  /**
   * '2.6': Debian 13's Pebble, with ACME Renewal Information (RFC 9773), from
   * .tools/pebble-2.6 (scripts/lib/pebble-trixie.sh fetches it); default '2.4',
   * the system's. pebbleBinary and challtestsrvBinary win over it.
   */
  version?: '2.4' | '2.6';
}

/** Where scripts/lib/pebble-trixie.sh unpacks Pebble 2.6. */
export const PEBBLE_26_DIR = fileURLToPath(
  new URL('../../../.tools/pebble-2.6/usr/bin/', import.meta.url),
);

export interface HttpsResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

/** Start failed: the message says which step, and carries Pebble's output tail. */
export class PebbleStartError extends Error {
  override readonly name = 'PebbleStartError';
}

export class Pebble {
  /** The ACME directory, https://127.0.0.1:<port>/dir. */
  readonly directoryUrl: string;
  /** Pebble's management interface (same certificate as the directory). */
  readonly managementUrl: string;
  /** challtestsrv's plain HTTP management interface (/add-a, /set-default-ipv4, ...). */
  readonly challtestsrvUrl: string;
  /** PEM of the throwaway CA that signed Pebble's HTTPS certificate (for --acme-trust). */
  readonly trustFile: string;
  /** The UDP and TCP port challtestsrv answers DNS on. */
  readonly dnsPort: number;

  private stopping: Promise<void> | undefined;

  private constructor(
    readonly dir: string,
    private readonly ca: string,
    ports: { listen: number; management: number; dns: number; challtestsrv: number },
    private pebble: Child,
    private readonly challtestsrv: Child,
    /** Spawns Pebble again with the same config, for restart(). */
    private readonly spawnPebble: () => Child,
  ) {
    this.directoryUrl = `https://127.0.0.1:${ports.listen}/dir`;
    this.managementUrl = `https://127.0.0.1:${ports.management}`;
    this.challtestsrvUrl = `http://127.0.0.1:${ports.challtestsrv}`;
    this.trustFile = path.join(dir, 'ca.pem');
    this.dnsPort = ports.dns;
  }

  static async start(given: PebbleOptions): Promise<Pebble> {
    checkOptions(given);
    const options = given.version === '2.6' ? withPebble26(given) : given;
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gatehouse-pebble-'));
    // A port found free here can be taken before Pebble binds it; Pebble then
    // exits and start() fails with its "address already in use" line.
    const ports = {
      listen: await freePort(),
      management: await freePort(),
      dns: await freePort(),
      challtestsrv: await freePort(),
    };
    const timeoutMs = options.startTimeoutMs ?? 15_000;
    const deadline = { at: Date.now() + timeoutMs, ms: timeoutMs };

    let challtestsrv: Child | undefined;
    let pebble: Child | undefined;
    try {
      await makeServerCertificate(dir);
      const configFile = writeConfig(dir, ports, options);

      // Its own responders would take ports a test needs, and its default
      // AAAA answer (::1) would send Pebble 2.4 to an address the gateway
      // may not listen on: Pebble dials only the first address it gets.
      challtestsrv = new Child(
        options.challtestsrvBinary ?? 'pebble-challtestsrv',
        [
          ...['-defaultIPv4', '127.0.0.1', '-defaultIPv6', ''],
          ...['-http01', '', '-https01', '', '-tlsalpn01', ''],
          ...['-dns01', `127.0.0.1:${ports.dns}`],
          ...['-management', `127.0.0.1:${ports.challtestsrv}`],
        ],
        { debianPackage: 'pebble' },
      );
      await waitUntil(deadline, challtestsrv, 'waiting for pebble-challtestsrv to answer DNS', () =>
        answersDns(ports.dns),
      );

      const spawnPebble = (): Child =>
        new Child(
          options.pebbleBinary ?? 'pebble',
          ['-config', configFile, '-dnsserver', options.dnsServer ?? `127.0.0.1:${ports.dns}`],
          { env: { PEBBLE_VA_NOSLEEP: '1', ...options.env }, debianPackage: 'pebble' },
        );
      pebble = spawnPebble();
      const ca = fs.readFileSync(path.join(dir, 'ca.pem'), 'utf8');
      const directoryUrl = `https://127.0.0.1:${ports.listen}/dir`;

      // Pebble prints "Listening on" before it binds (and may still fail),
      // so only an answer from the directory says it is ready.
      await waitUntil(deadline, pebble, 'waiting for the Pebble directory', async () => {
        const response = await httpsRequest(directoryUrl, ca).catch(() => undefined);
        return response?.status === 200;
      });
      return track(new Pebble(dir, ca, ports, pebble, challtestsrv, spawnPebble));
    } catch (error) {
      // Stopped first, so that the tail holds what they wrote while exiting.
      await stopAll([pebble, challtestsrv], dir);
      const tail = [pebble, challtestsrv].map((child) => child?.describe() ?? '').join('');
      const message = error instanceof Error ? error.message : String(error);
      throw new PebbleStartError(`Pebble did not start: ${message}${tail}`, { cause: error });
    }
  }

  /**
   * A CA outage: stop the Pebble process alone (SIGTERM, then SIGKILL);
   * challtestsrv, the ports and Pebble's HTTPS certificate stay for restart().
   */
  async stopCa(): Promise<void> {
    await this.pebble.stop();
  }

  /**
   * Start a new Pebble on the same ports with the same HTTPS certificate.
   * Like any Pebble start it knows no account or order of the one before,
   * and issues from a new root (read rootPem() again).
   */
  async restartCa(timeoutMs = 15_000): Promise<void> {
    if (this.pebble.running) await this.pebble.stop();
    this.pebble = this.spawnPebble();
    const pebble = this.pebble;
    await waitUntil(
      { at: Date.now() + timeoutMs, ms: timeoutMs },
      pebble,
      'waiting for the restarted Pebble directory',
      async () => {
        const response = await httpsRequest(this.directoryUrl, this.ca).catch(() => undefined);
        return response?.status === 200;
      },
    ).catch((error: unknown) => {
      throw new PebbleStartError(
        `Pebble did not restart: ${error instanceof Error ? error.message : String(error)}` +
          pebble.describe(),
      );
    });
  }

  /** PIDs of the processes start() spawned (pebble, then challtestsrv). */
  get pids(): number[] {
    return [this.pebble.pid, this.challtestsrv.pid].filter((pid) => pid !== undefined);
  }

  /**
   * The root that signs what Pebble issues: new at every start, so read it
   * per run. `index` 1 and up: the alternate roots (env PEBBLE_ALTERNATE_ROOTS).
   */
  async rootPem(index = 0): Promise<string> {
    const response = await this.request(`${this.managementUrl}/roots/${index}`);
    if (response.status !== 200 || !response.body.includes('BEGIN CERTIFICATE')) {
      throw new Error(`Pebble's /roots/${index} answered ${response.status}: ${response.body}`);
    }
    return response.body;
  }

  /** An HTTPS request to Pebble that trusts only `trustFile`'s CA. */
  request(url: string, method = 'GET'): Promise<HttpsResponse> {
    return httpsRequest(url, this.ca, method);
  }

  /** The last lines Pebble and challtestsrv wrote, for a failing test's message. */
  output(): string {
    return this.pebble.describe() + this.challtestsrv.describe();
  }

  /** Stop both processes and remove the temp dir; safe to call more than once. */
  stop(): Promise<void> {
    this.stopping ??= stopAll([this.pebble, this.challtestsrv], this.dir).finally(() => {
      live.delete(this);
    });
    return this.stopping;
  }

  /** For the exit hook: no waiting is possible there. */
  private killNow(): void {
    this.pebble.signal('SIGKILL');
    this.challtestsrv.signal('SIGKILL');
    fs.rmSync(this.dir, { recursive: true, force: true });
  }

  static killAllNow(): void {
    for (const pebble of live) pebble.killNow();
  }
}

const live = new Set<Pebble>();
let hooked = false;

function track(pebble: Pebble): Pebble {
  live.add(pebble);
  if (!hooked) {
    process.once('exit', () => {
      Pebble.killAllNow();
    });
    hooked = true;
  }
  return pebble;
}

async function stopAll(children: (Child | undefined)[], dir: string): Promise<void> {
  try {
    await Promise.all(children.map((child) => child?.stop() ?? Promise.resolve()));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

function withPebble26(options: PebbleOptions): PebbleOptions {
  const pebble = path.join(PEBBLE_26_DIR, 'pebble');
  if (!fs.existsSync(pebble)) {
    throw new PebbleStartError(
      `Pebble 2.6 is not at ${pebble}: run scripts/lib/pebble-trixie.sh (scripts/test does)`,
    );
  }
  return {
    pebbleBinary: pebble,
    challtestsrvBinary: path.join(PEBBLE_26_DIR, 'pebble-challtestsrv'),
    ...options,
  };
}

function checkOptions(options: PebbleOptions): void {
  for (const name of ['httpPort', 'tlsPort'] as const) {
    const port = options[name];
    if (!Number.isInteger(port) || port < 1 || port > 65_535) {
      throw new RangeError(`Pebble: ${name} must be a port number from 1 to 65535, not ${port}`);
    }
  }
  const validity = options.certificateValiditySeconds;
  if (validity !== undefined && (!Number.isInteger(validity) || validity < 1)) {
    throw new RangeError(
      `Pebble: certificateValiditySeconds must be a positive whole number, not ${validity}`,
    );
  }
}

/** A throwaway CA and, signed by it, a certificate for localhost and 127.0.0.1. */
async function makeServerCertificate(dir: string): Promise<void> {
  const file = (name: string): string => path.join(dir, name);
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
  fs.writeFileSync(
    file('server.ext'),
    [
      'subjectAltName = DNS:localhost, IP:127.0.0.1',
      'basicConstraints = critical, CA:FALSE',
      'keyUsage = critical, digitalSignature',
      'extendedKeyUsage = serverAuth',
      '',
    ].join('\n'),
  );
  await openssl([
    ...['req', '-x509', ...ec, '-keyout', file('ca.key'), '-out', file('ca.pem')],
    ...['-days', '2', '-subj', '/CN=Gatehouse test: Pebble HTTPS CA'],
    ...['-addext', 'basicConstraints=critical,CA:TRUE'],
    ...['-addext', 'keyUsage=critical,keyCertSign'],
  ]);
  await openssl([
    ...['req', ...ec, '-keyout', file('server.key'), '-out', file('server.csr')],
    ...['-subj', '/CN=localhost'],
  ]);
  await openssl([
    ...['x509', '-req', '-in', file('server.csr'), '-days', '2'],
    ...['-CA', file('ca.pem'), '-CAkey', file('ca.key')],
    ...['-set_serial', `0x${randomBytes(8).toString('hex')}`],
    ...['-extfile', file('server.ext'), '-out', file('server.pem')],
  ]);
}

async function openssl(args: string[]): Promise<void> {
  const result = await run('openssl', args);
  if (result.code !== 0) {
    throw new Error(`openssl ${args[0] ?? ''} failed (code ${result.code}): ${result.stderr}`);
  }
}

function writeConfig(
  dir: string,
  ports: { listen: number; management: number },
  options: PebbleOptions,
): string {
  const config = {
    pebble: {
      listenAddress: `127.0.0.1:${ports.listen}`,
      managementListenAddress: `127.0.0.1:${ports.management}`,
      certificate: path.join(dir, 'server.pem'),
      privateKey: path.join(dir, 'server.key'),
      httpPort: options.httpPort,
      tlsPort: options.tlsPort,
      ocspResponderURL: '',
      externalAccountBindingRequired: options.externalAccountMacKeys !== undefined,
      ...(options.externalAccountMacKeys === undefined
        ? {}
        : { externalAccountMACKeys: options.externalAccountMacKeys }),
      ...(options.certificateValiditySeconds === undefined
        ? {}
        : { certificateValidityPeriod: options.certificateValiditySeconds }),
    },
  };
  const file = path.join(dir, 'pebble-config.json');
  fs.writeFileSync(file, JSON.stringify(config, null, 2));
  return file;
}

/** Poll `check` until it holds, the child exits, or the deadline passes. */
async function waitUntil(
  deadline: { at: number; ms: number },
  child: Child,
  what: string,
  check: () => Promise<boolean>,
): Promise<void> {
  for (;;) {
    if (!child.running) throw new Error(`${child.command} ${child.state}`);
    if (await check()) return;
    if (Date.now() > deadline.at) {
      throw new Error(`${what}: no answer within ${deadline.ms} ms (startTimeoutMs)`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

async function answersDns(port: number): Promise<boolean> {
  const resolver = new dns.Resolver({ timeout: 250, tries: 1 });
  resolver.setServers([`127.0.0.1:${port}`]);
  try {
    return (await resolver.resolve4('ready.gatehouse.test')).length > 0;
  } catch {
    return false;
  }
}

/** One HTTPS request that trusts only `ca`, on a fresh connection, bounded at 5 s. */
export function httpsRequest(url: string, ca: string, method = 'GET'): Promise<HttpsResponse> {
  return new Promise((resolve, reject) => {
    const request = https.request(url, { method, ca, agent: false, timeout: 5_000 }, (response) => {
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (body += chunk));
      response.on('end', () => {
        resolve({ status: response.statusCode ?? 0, headers: response.headers, body });
      });
      response.on('error', reject);
    });
    request.on('timeout', () => {
      request.destroy(new Error(`${method} ${url} timed out after 5 s`));
    });
    request.on('error', reject);
    request.end();
  });
}
