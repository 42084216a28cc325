/**
 * Which certificate a TLS connection gets, found by its SNI before the
 * hand-off to uWS (or, without SNI, by the address it connected to): a
 * name not seen before is looked up in the keyvault once, its connection
 * waiting a moment for the answer, and a found certificate is loaded for
 * every later handshake. uWS's own
 * `missingServerName` hook could not do this: it is synchronous, so an
 * answer that arrives later serves only the next handshake.
 *
 * Random names must not flood the keyvault: lookups of one name share one
 * request, at most `maxConcurrent` run at a time (past that a connection
 * gets the default certificate at once), and names the keyvault has nothing
 * for are remembered for a while, a bounded number of them.
 */
import { IpcError } from '../ipc/channel.js';
import type { Logger } from '../log/logger.js';
import { canonicalIp, checkIdentifier, type Identifier } from './names.js';
import type { NamedCertificate } from './tls-apps.js';

/**
 * What a certificate is found by: a lowercase DNS name from SNI, or, for a
 * client without SNI, `ip:` and the canonical local address (addressKey).
 */
export type CertificateKey = string;

/** The key of a local address, or undefined for one no connection arrives on. */
export function addressKey(ip: string): CertificateKey | undefined {
  const canonical = canonicalIp(ip);
  return canonical === undefined ? undefined : `ip:${canonical}`;
}

/** The identifier the keyvault knows a key's certificate by. */
export function identifierOfKey(key: CertificateKey): Identifier {
  return key.startsWith('ip:') ? { type: 'ip', value: key.slice(3) } : { type: 'dns', value: key };
}

/** Where certificates are loaded; TlsApps in a worker. */
export interface CertificateTarget {
  certificateId(key: CertificateKey): string | undefined;
  keys(): Iterable<CertificateKey>;
  readonly size: number;
  load(key: CertificateKey, certificate: NamedCertificate): void;
  unload(key: CertificateKey): void;
}

/** Ask the keyvault for the newest certificate for an identifier; null when it has none. */
export type BundleLookup = (identifier: Identifier) => Promise<NamedCertificate | null>;

export interface CertificateLoaderOptions {
  /** How long a connection waits for its name's lookup before it gets the default certificate. */
  waitMs: number;
  /** Lookups started by connections that may run at once. */
  maxConcurrent: number;
  /** How long a name the keyvault has no certificate for is not asked again. */
  missTtlMs: number;
  /** How long a name whose lookup failed (keyvault down, timeout) is not asked again. */
  failureTtlMs: number;
  /** Names remembered as missing at most; the oldest is forgotten first. */
  maxMisses: number;
  /** Names with a certificate of their own at most; past it new names get the default one. */
  maxNames: number;
}

export const DEFAULT_LOADER_OPTIONS: CertificateLoaderOptions = {
  waitMs: 2_000,
  maxConcurrent: 16,
  missTtlMs: 60_000,
  failureTtlMs: 5_000,
  maxMisses: 10_000,
  maxNames: 50_000,
};

export interface LoaderStats {
  lookups: number;
  loaded: number;
  misses: number;
  failures: number;
  /** Connections that got the default certificate because maxConcurrent lookups ran. */
  overLimit: number;
  /** Connections that got the default certificate because maxNames were loaded. */
  overNames: number;
}

export class CertificateLoader {
  readonly stats: LoaderStats = {
    lookups: 0,
    loaded: 0,
    misses: 0,
    failures: 0,
    overLimit: 0,
    overNames: 0,
  };
  readonly #options: CertificateLoaderOptions;
  /** Names with nothing to load, until when (ms since the epoch), oldest first. */
  readonly #misses = new Map<string, number>();
  /** The lookup a connection started, shared by later connections of the name. */
  readonly #inFlight = new Map<string, Promise<void>>();
  /** Per name with lookups running: how many, and the sequence number of the last one applied. */
  readonly #running = new Map<string, { count: number; applied: number }>();
  #sequence = 0;
  #connectionLookups = 0;
  #warnedFull = false;

  constructor(
    private readonly target: CertificateTarget,
    private readonly lookup: BundleLookup,
    private readonly log: Logger,
    options: Partial<CertificateLoaderOptions> = {},
  ) {
    this.#options = { ...DEFAULT_LOADER_OPTIONS, ...options };
  }

  /**
   * Called for a connection to `name` (a checked, lowercase DNS name, or an
   * address key) before its hand-off: undefined when it can be handed off
   * now, or a promise
   * that resolves, never rejects, once its certificate is loaded, known
   * missing, or it has waited `waitMs`.
   */
  prepare(name: string): Promise<void> | undefined {
    if (this.target.certificateId(name) !== undefined || this.#isMiss(name)) return undefined;
    let pending = this.#inFlight.get(name);
    if (!pending) {
      if (this.#connectionLookups >= this.#options.maxConcurrent) {
        this.stats.overLimit += 1;
        return undefined;
      }
      if (this.target.size >= this.#options.maxNames) {
        this.#warnFull();
        this.stats.overNames += 1;
        return undefined;
      }
      pending = this.#connectionLookup(name);
    }
    return waitAtMost(pending, this.#options.waitMs);
  }

  /**
   * Load the newest certificate for each identifier now, forgetting that a
   * name had none (worker.certificates-changed). A wildcard reloads the
   * names one label under it that were looked up. Rejects when a lookup
   * fails.
   */
  async reload(identifiers: Identifier[]): Promise<void> {
    const names = new Set<string>();
    for (const identifier of identifiers) {
      if (identifier.type === 'ip') {
        const key = addressKey(identifier.value);
        if (key !== undefined) names.add(key);
        continue;
      }
      const { value } = checkIdentifier(identifier, { wildcard: true });
      if (!value.startsWith('*.')) names.add(value);
      else for (const name of this.#namesUnder(value.slice(1))) names.add(name);
    }
    await Promise.all(
      [...names].map(async (name) => {
        this.#misses.delete(name);
        const sequence = this.#begin(name);
        try {
          this.#apply(name, sequence, await this.lookup(identifierOfKey(name)));
        } finally {
          this.#end(name);
        }
      }),
    );
  }

  #connectionLookup(name: string): Promise<void> {
    const sequence = this.#begin(name);
    this.#connectionLookups += 1;
    const done = this.lookup(identifierOfKey(name))
      .then(
        (certificate) => {
          this.#apply(name, sequence, certificate);
        },
        (error: unknown) => {
          this.#failed(name, error);
        },
      )
      .catch((error: unknown) => {
        // Loading failed (a temporary file could not be written, say).
        this.#failed(name, error);
      })
      .finally(() => {
        this.#connectionLookups -= 1;
        this.#inFlight.delete(name);
        this.#end(name);
      });
    this.#inFlight.set(name, done);
    return done;
  }

  #begin(name: string): number {
    this.#sequence += 1;
    this.stats.lookups += 1;
    const running = this.#running.get(name);
    if (running) running.count += 1;
    else this.#running.set(name, { count: 1, applied: 0 });
    return this.#sequence;
  }

  #end(name: string): void {
    const running = this.#running.get(name);
    if (running && --running.count === 0) this.#running.delete(name);
  }

  /**
   * Use a lookup's answer unless an answer to a lookup begun later was
   * used already: that one was asked after any change this one may miss.
   */
  #apply(name: string, sequence: number, certificate: NamedCertificate | null): void {
    const running = this.#running.get(name);
    if (running) {
      if (running.applied > sequence) return;
      running.applied = sequence;
    }
    if (!certificate) {
      this.target.unload(name);
      this.#remember(name, this.#options.missTtlMs);
      this.stats.misses += 1;
      return;
    }
    this.#misses.delete(name);
    if (this.target.certificateId(name) === certificate.certificateId) return;
    if (
      this.target.certificateId(name) === undefined &&
      this.target.size >= this.#options.maxNames
    ) {
      this.#warnFull();
      return;
    }
    this.target.load(name, certificate);
    this.stats.loaded += 1;
  }

  #failed(name: string, error: unknown): void {
    // The keyvault refusing the name is an answer, and a lasting one; a
    // keyvault that is down or slow may answer shortly.
    const refused =
      error instanceof IpcError &&
      (error.code === 'handler_failed' || error.code === 'invalid_payload');
    this.#remember(name, refused ? this.#options.missTtlMs : this.#options.failureTtlMs);
    this.stats.failures += 1;
    this.log.warn('certificate lookup failed; serving the default certificate', {
      server_name: name,
      error: error instanceof Error ? error.message : String(error),
    });
  }

  #remember(name: string, ttlMs: number): void {
    this.#misses.delete(name);
    this.#misses.set(name, Date.now() + ttlMs);
    if (this.#misses.size > this.#options.maxMisses) {
      const oldest = this.#misses.keys().next();
      if (!oldest.done) this.#misses.delete(oldest.value);
    }
  }

  #isMiss(name: string): boolean {
    const until = this.#misses.get(name);
    if (until === undefined) return false;
    if (until > Date.now()) return true;
    this.#misses.delete(name);
    return false;
  }

  /** Loaded and missing names one label under `suffix` (".example.com"). */
  #namesUnder(suffix: string): string[] {
    const under = (name: string): boolean =>
      name.endsWith(suffix) && !name.slice(0, -suffix.length).includes('.');
    return [...this.target.keys(), ...this.#misses.keys()].filter(under);
  }

  #warnFull(): void {
    if (this.#warnedFull) return;
    this.#warnedFull = true;
    this.log.warn('too many names with certificates of their own; new ones get the default', {
      limit: this.#options.maxNames,
    });
  }
}

/** `promise`, or nothing after `ms`; never rejects. */
function waitAtMost(promise: Promise<void>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, ms);
  });
  return Promise.race([promise.catch(() => undefined), deadline]).finally(() => {
    clearTimeout(timer);
  });
}
