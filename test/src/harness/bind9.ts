/**
 * A real authoritative DNS server for the tests: Debian's bind9 (`named`),
 * in the foreground (-g) on 127.0.0.1 and a free port, with its own config
 * directory, one primary zone that takes RFC 2136 updates signed by one
 * TSIG key (made by tsig-keygen), and A records of the caller's choosing.
 *
 *     const bind = await Bind9.start({ zone: 'example.test', records: ['www A 127.0.0.1'] });
 *     after(() => bind.stop());
 *
 * stop() kills named by its PID and removes the directory; an exit hook
 * does the same if the test process exits without calling it.
 */
import { promises as dns } from 'node:dns';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Child } from './child.js';
import { run } from './clients.js';
import { freePort } from './ports.js';

export interface Bind9Options {
  /** The zone named serves as primary, e.g. example.test. */
  zone: string;
  /** Zone file lines added after the SOA and NS, e.g. "*.wild A 127.0.0.1". */
  records?: string[];
  keyName?: string;
  algorithm?: 'hmac-sha256' | 'hmac-sha512';
  /** More keys named knows but that may not update the zone (for REFUSED). */
  extraKeyNames?: string[];
  startTimeoutMs?: number;
}

export class Bind9StartError extends Error {
  override readonly name = 'Bind9StartError';
}

const NAMED = process.env.GATEHOUSE_TEST_NAMED ?? '/usr/sbin/named';
const TSIG_KEYGEN = '/usr/sbin/tsig-keygen';
const live = new Set<Bind9>();
let hooked = false;

export class Bind9 {
  private stopping: Promise<void> | undefined;

  private constructor(
    readonly dir: string,
    readonly port: number,
    readonly zone: string,
    readonly keyName: string,
    readonly algorithm: string,
    /** The TSIG secret (base64) named accepts updates with. */
    readonly secret: string,
    /** Secrets of the extra keys, by name. */
    readonly extraSecrets: ReadonlyMap<string, string>,
    private readonly named: Child,
  ) {}

  /** "127.0.0.1:PORT", as Pebble's -dnsserver and the provider's "server" take it. */
  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  get pid(): number | undefined {
    return this.named.pid;
  }

  static async start(options: Bind9Options): Promise<Bind9> {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gatehouse-bind9-'));
    const keyName = options.keyName ?? 'gatehouse-test-key';
    const algorithm = options.algorithm ?? 'hmac-sha256';
    let bind: Bind9 | undefined;
    try {
      const port = await freePort();
      const keys = new Map<string, string>();
      let keyConf = '';
      for (const name of [keyName, ...(options.extraKeyNames ?? [])]) {
        const keygen = await run(TSIG_KEYGEN, ['-a', algorithm, name]);
        const secret = /secret "([^"]+)"/.exec(keygen.stdout)?.[1];
        if (keygen.code !== 0 || secret === undefined) {
          throw new Error(`tsig-keygen failed (code ${keygen.code}): ${keygen.stderr}`);
        }
        keys.set(name, secret);
        keyConf += keygen.stdout;
      }
      const secret = keys.get(keyName) ?? '';
      keys.delete(keyName);
      fs.writeFileSync(path.join(dir, 'key.conf'), keyConf, { mode: 0o600 });
      fs.writeFileSync(path.join(dir, 'named.conf'), namedConf(dir, port, options.zone, keyName));
      fs.writeFileSync(
        path.join(dir, 'zone.db'),
        [
          '$TTL 60',
          `@ IN SOA ns1.${options.zone}. hostmaster.${options.zone}. 1 60 60 600 60`,
          `@ IN NS ns1.${options.zone}.`,
          'ns1 IN A 127.0.0.1',
          ...(options.records ?? []),
          '',
        ].join('\n'),
      );
      // -n 1: one worker thread is plenty and spares the shared cores.
      const child = new Child(NAMED, ['-g', '-n', '1', '-c', path.join(dir, 'named.conf')], {
        debianPackage: 'bind9',
      });
      bind = new Bind9(dir, port, options.zone, keyName, algorithm, secret, keys, child);
      track(bind);
      await bind.waitUntilServing(options.startTimeoutMs ?? 15_000);
      return bind;
    } catch (error) {
      const tail = bind?.output() ?? '';
      if (bind) await bind.stop();
      else fs.rmSync(dir, { recursive: true, force: true });
      const message = error instanceof Error ? error.message : String(error);
      throw new Bind9StartError(`bind9 did not start: ${message}${tail}`, { cause: error });
    }
  }

  /** The TXT strings named answers at `name` now, each record's strings joined; [] if none. */
  async txt(name: string): Promise<string[]> {
    const resolver = new dns.Resolver({ timeout: 1_000, tries: 2 });
    resolver.setServers([this.address]);
    try {
      return (await resolver.resolveTxt(name)).map((strings) => strings.join(''));
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ENODATA' || code === 'ENOTFOUND') return [];
      throw error;
    }
  }

  /** The last lines named wrote, for a failing test's message. */
  output(): string {
    return this.named.describe(40);
  }

  /** Kill named by PID (TERM, then KILL) and remove its directory; safe to call twice. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      try {
        await this.named.stop();
      } finally {
        fs.rmSync(this.dir, { recursive: true, force: true });
        live.delete(this);
      }
    })();
    return this.stopping;
  }

  static killAllNow(): void {
    for (const bind of live) {
      bind.named.signal('SIGKILL');
      fs.rmSync(bind.dir, { recursive: true, force: true });
    }
  }

  private async waitUntilServing(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    const resolver = new dns.Resolver({ timeout: 250, tries: 1 });
    resolver.setServers([this.address]);
    for (;;) {
      if (!this.named.running) throw new Error(`named ${this.named.state}`);
      const soa = await resolver.resolveSoa(this.zone).catch(() => undefined);
      if (soa) return;
      if (Date.now() > deadline)
        throw new Error(`named did not answer for ${this.zone} within ${timeoutMs} ms`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}

function track(bind: Bind9): void {
  live.add(bind);
  if (!hooked) {
    process.once('exit', () => {
      Bind9.killAllNow();
    });
    hooked = true;
  }
}

/**
 * Everything named would write goes into `dir`: no pid file, no session
 * key, no rndc channel (they default to paths under /run and /etc/bind).
 */
function namedConf(dir: string, port: number, zone: string, keyName: string): string {
  return `include "${dir}/key.conf";
options {
  directory "${dir}";
  listen-on port ${port} { 127.0.0.1; };
  listen-on-v6 { none; };
  pid-file none;
  session-keyfile none;
  managed-keys-directory "${dir}";
  recursion no;
  dnssec-validation no;
  notify no;
};
controls { };
zone "${zone}" {
  type primary;
  file "${dir}/zone.db";
  allow-update { key "${keyName}"; };
};
`;
}
