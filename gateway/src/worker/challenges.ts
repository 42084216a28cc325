/**
 * The ACME challenges a worker answers while the supervisor keeps them
 * pending: http-01 key authorizations by token (RFC 8555 section 8.3) and
 * tls-alpn-01 certificates by the server name a validator sends (RFC 8737
 * section 3). Every worker holds every pending challenge, since the CA's
 * connections may reach any of them. A tls-alpn-01 key comes from the
 * keyvault straight to the worker and lives in a SecureContext only.
 */
import net from 'node:net';
import tls from 'node:tls';
import type { ChallengeSpec } from '../ipc/acme-messages.js';
import type { Logger } from '../log/logger.js';
import { challengeServerName, type Identifier } from './names.js';

export const ACME_TLS_ALPN = 'acme-tls/1';

/** A validator that has not finished its handshake in this time is dropped. */
const TLS_ALPN_HANDSHAKE_MS = 10_000;

/** What the keyvault answers to keyvault.challenge-bundle. */
export type ChallengeBundle = { certificatePem: string; keyPem: string } | null;

/** A challenge that cannot be served; the message says why and what to do. */
export class ChallengeError extends Error {
  override readonly name = 'ChallengeError';
}

export interface SyncReport {
  added: number;
  removed: number;
  /** Challenges the list named that could not be installed, with the reason. */
  failed: string[];
}

export class WorkerChallenges {
  /** http-01: key authorization by token. */
  readonly #tokens = new Map<string, string>();
  /** tls-alpn-01: the challenge certificate by the SNI a validator sends. */
  readonly #contexts = new Map<string, tls.SecureContext>();
  /** tls-alpn-01 certificates being fetched, by key; a remove or a newer add replaces the entry. */
  readonly #loading = new Map<string, { done: Promise<void> }>();
  /** Keys changed by add or remove while a sync waits for its list. */
  readonly #watchers = new Set<Set<string>>();

  constructor(private readonly fetchBundle: (identifier: Identifier) => Promise<ChallengeBundle>) {}

  /** The key authorization for an http-01 token, or undefined when none is pending. */
  keyAuthorization(token: string): string | undefined {
    return this.#tokens.get(token);
  }

  /** The tls-alpn-01 certificate for a (lowercased) server name, or undefined. */
  tlsAlpnContext(serverName: string): tls.SecureContext | undefined {
    return this.#contexts.get(serverName);
  }

  get size(): number {
    return this.#tokens.size + this.#contexts.size;
  }

  /**
   * Serve a challenge; resolves once it is served (a tls-alpn-01
   * certificate loaded). Throws ChallengeError when the keyvault holds no
   * certificate for it, or the keyvault's IpcError when it cannot answer.
   * Calls for the same challenge may overlap: the last one wins, and an
   * earlier one resolves when the last one does.
   */
  add(challenge: ChallengeSpec): Promise<void> {
    const key = keyOf(challenge);
    this.#touch(key);
    if (challenge.type === 'http-01') {
      this.#tokens.set(challenge.token, challenge.keyAuthorization);
      return Promise.resolve();
    }
    const entry = { done: Promise.resolve() };
    entry.done = this.#loadContext(key, challenge.identifier, entry);
    this.#loading.set(key, entry);
    return entry.done;
  }

  /** Stop serving a challenge at once; removing one that is not there is no error. */
  remove(challenge: ChallengeSpec): void {
    const key = keyOf(challenge);
    this.#touch(key);
    this.#removeKey(key);
  }

  /**
   * Make the set what `list` says, for a worker that starts while
   * challenges are pending. A challenge that add or remove changed while
   * the list was on its way keeps what they made of it: they are newer.
   */
  async sync(list: () => Promise<ChallengeSpec[]>): Promise<SyncReport> {
    const touched = new Set<string>();
    this.#watchers.add(touched);
    let wanted: Map<string, ChallengeSpec>;
    try {
      wanted = new Map((await list()).map((challenge) => [keyOf(challenge), challenge]));
    } finally {
      this.#watchers.delete(touched);
    }

    let removed = 0;
    for (const key of this.#keys()) {
      if (wanted.has(key) || touched.has(key)) continue;
      this.#removeKey(key);
      removed += 1;
    }
    const missing = [...wanted].filter(([key]) => !touched.has(key) && !this.#has(key));
    const results = await Promise.allSettled(missing.map(([, challenge]) => this.add(challenge)));
    const failed = results.flatMap((result, index) =>
      result.status === 'rejected'
        ? [`${missing[index]?.[0] ?? '?'}: ${messageOf(result.reason)}`]
        : [],
    );
    return { added: missing.length - failed.length, removed, failed };
  }

  async #loadContext(
    key: string,
    identifier: Identifier,
    entry: { done: Promise<void> },
  ): Promise<void> {
    const name = challengeServerName(identifier);
    let bundle: ChallengeBundle = null;
    let failure: Error | undefined;
    try {
      bundle = await this.fetchBundle(identifier);
    } catch (error) {
      failure = error instanceof Error ? error : new Error(String(error));
    }

    const latest = this.#loading.get(key);
    if (latest !== entry) return latest?.done; // removed, or added again, meanwhile
    this.#loading.delete(key);
    if (failure !== undefined) throw failure;
    if (!bundle) {
      throw new ChallengeError(
        `the keyvault holds no tls-alpn-01 certificate for ${identifier.type} ${identifier.value}; ` +
          'make one with keyvault.challenge-certificate before installing the challenge',
      );
    }
    this.#contexts.set(
      name,
      tls.createSecureContext({ cert: bundle.certificatePem, key: bundle.keyPem }),
    );
  }

  #touch(key: string): void {
    for (const touched of this.#watchers) touched.add(key);
  }

  #has(key: string): boolean {
    const [type, id] = splitKey(key);
    if (type === 'http-01') return this.#tokens.has(id);
    return this.#contexts.has(id) || this.#loading.has(key);
  }

  #keys(): Set<string> {
    const keys = new Set(this.#loading.keys());
    for (const token of this.#tokens.keys()) keys.add(`http-01 ${token}`);
    for (const name of this.#contexts.keys()) keys.add(`tls-alpn-01 ${name}`);
    return keys;
  }

  #removeKey(key: string): void {
    const [type, id] = splitKey(key);
    if (type === 'http-01') {
      this.#tokens.delete(id);
      return;
    }
    this.#loading.delete(key);
    this.#contexts.delete(id);
  }
}

/**
 * Answer a tls-alpn-01 validation on a connection the acceptor handed over:
 * a Node TLS server socket that presents the challenge certificate and
 * negotiates acme-tls/1 only, then closes, since RFC 8737 section 3 has
 * the validator send nothing after the handshake. The fd belongs to the
 * socket from here on.
 */
export function serveTlsAlpnChallenge(fd: number, context: tls.SecureContext, log: Logger): void {
  const socket = new tls.TLSSocket(new net.Socket({ fd, readable: true, writable: true }), {
    isServer: true,
    secureContext: context,
    ALPNProtocols: [ACME_TLS_ALPN],
  });
  socket.setTimeout(TLS_ALPN_HANDSHAKE_MS, () => socket.destroy());
  socket.once('secure', () => {
    log.debug('answered a tls-alpn-01 validation', { server_name: socket.servername });
    socket.end();
  });
  socket.on('error', (error: Error) => {
    log.debug('tls-alpn-01 handshake failed', { error: error.message });
    socket.destroy();
  });
}

/** One string per challenge: the token of an http-01, the server name of a tls-alpn-01. */
function keyOf(challenge: ChallengeSpec): string {
  return challenge.type === 'http-01'
    ? `http-01 ${challenge.token}`
    : `tls-alpn-01 ${challengeServerName(challenge.identifier)}`;
}

function splitKey(key: string): ['http-01' | 'tls-alpn-01', string] {
  const space = key.indexOf(' ');
  return [key.slice(0, space) === 'http-01' ? 'http-01' : 'tls-alpn-01', key.slice(space + 1)];
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
