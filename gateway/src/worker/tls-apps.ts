/**
 * The uWS apps that terminate TLS in a worker, and which certificate each
 * server name gets: the default one, or the one loaded for that name with
 * `addServerName`. Connections come from the acceptor, which knows the SNI
 * before the hand-off, so the app is picked per connection. A client
 * without SNI gets the app's default certificate, so an IP address with a
 * certificate of its own gets an app whose default that certificate is.
 *
 * Why more than one app: uWS's `removeServerName` frees the name's router
 * while connections made under that name still point at it, and the next
 * request on such a connection crashes the process (a segfault, seen here
 * with uWS.js 20.57). So a name is never removed from an app that may have
 * connections open. A name whose certificate changes is loaded into a newer
 * app (a generation) and its new connections go there; an app that no name
 * is routed to any more is emptied (`removeServerName` is safe once uWS's
 * `filter` has counted its last connection closed) and closed.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { AppOptions } from '@btc-vision/uwebsockets.js';
import type { Logger } from '../log/logger.js';
import type { UwsApp, UwsModule } from '../uws/load.js';
import type { CertificateKey } from './certificates.js';
import type { ServedCertificate } from './self-signed.js';

/** A certificate chain and key from the keyvault, with the id it is stored under. */
export interface NamedCertificate extends ServedCertificate {
  certificateId: string;
}

interface Generation {
  readonly app: UwsApp;
  /** Server names added to this app; some may be routed to a newer app now. */
  readonly loaded: Set<string>;
  /** Names whose new connections come here. */
  routed: number;
  /** Connections open on the app, as uWS's filter counts them. */
  open: number;
}

export class TlsApps {
  #current: Generation;
  readonly #routes = new Map<string, { generation: Generation; certificateId: string }>();
  readonly #generations = new Set<Generation>();
  /** Generations no name is routed to, waiting for their last connection to close. */
  readonly #retiring = new Set<Generation>();

  /**
   * `attachRoutes` registers the request handlers on an app, or on an app
   * after `domain(name)`: uWS answers a name added with addServerName only
   * with the routes registered under it, and closes the connection
   * otherwise.
   */
  constructor(
    private readonly uws: UwsModule,
    private readonly defaultCertificate: ServedCertificate,
    private readonly attachRoutes: (app: UwsApp) => void,
    private readonly log: Logger,
  ) {
    this.#current = this.#newGeneration(defaultCertificate);
  }

  /** Hand a connection to the app that serves `key` (the default certificate when none). */
  adopt(fd: number, key: CertificateKey | undefined): void {
    const route = key === undefined ? undefined : this.#routes.get(key);
    (route?.generation ?? this.#current).app.adoptSocket(fd);
  }

  /** The id of the certificate loaded for `key`, or undefined when it gets the default one. */
  certificateId(key: CertificateKey): string | undefined {
    return this.#routes.get(key)?.certificateId;
  }

  /** Names and addresses with a certificate of their own. */
  keys(): IterableIterator<CertificateKey> {
    return this.#routes.keys();
  }

  get size(): number {
    return this.#routes.size;
  }

  get generations(): number {
    return this.#generations.size;
  }

  /**
   * Serve `certificate` for new handshakes of `name`; connections open on
   * the old one keep it. Throws when the PEM files cannot be written.
   */
  load(key: CertificateKey, certificate: NamedCertificate): void {
    if (key.startsWith('ip:')) {
      this.#route(key, {
        generation: this.#newGeneration(certificate),
        certificateId: certificate.certificateId,
      });
      return;
    }
    if (this.#current.loaded.has(key)) this.#roll();
    const target = this.#current;
    withPemFiles(certificate, (files) => {
      target.app.addServerName(key, files);
      this.attachRoutes(target.app.domain(key));
    });
    target.loaded.add(key);
    this.#route(key, { generation: target, certificateId: certificate.certificateId });
  }

  /** New handshakes of `key` get the default certificate again. */
  unload(key: CertificateKey): void {
    if (!this.#routes.has(key)) return;
    this.#route(key, undefined);
    // The current app still holds the name; new connections without a
    // route go to the current app, so they need one without it.
    if (this.#current.loaded.has(key)) this.#roll();
  }

  /** Close every app and the connections on them (a worker's drain). */
  close(): void {
    for (const generation of this.#generations) generation.app.close();
    this.#generations.clear();
    this.#retiring.clear();
  }

  #route(name: string, route: { generation: Generation; certificateId: string } | undefined): void {
    const previous = this.#routes.get(name)?.generation;
    if (route) {
      this.#routes.set(name, route);
      route.generation.routed += 1;
    } else {
      this.#routes.delete(name);
    }
    if (!previous) return;
    previous.routed -= 1;
    this.#retireIfUnused(previous);
  }

  #roll(): void {
    const previous = this.#current;
    this.#current = this.#newGeneration(this.defaultCertificate);
    this.log.debug('new TLS app for names whose certificate changed', {
      apps: this.#generations.size,
    });
    this.#retireIfUnused(previous);
  }

  #retireIfUnused(generation: Generation): void {
    if (generation === this.#current || generation.routed > 0) return;
    this.#retiring.add(generation);
    if (generation.open === 0) this.#free(generation);
  }

  #free(generation: Generation): void {
    if (!this.#retiring.delete(generation)) return;
    this.#generations.delete(generation);
    for (const name of generation.loaded) generation.app.removeServerName(name);
    generation.app.close();
    this.log.debug('freed a TLS app no name is served from', {
      names: generation.loaded.size,
      apps: this.#generations.size,
    });
    generation.loaded.clear();
  }

  /** A new app whose certificate for clients without a name of their own is `certificate`. */
  #newGeneration({ certPem, keyPem }: ServedCertificate): Generation {
    const app = withPemFiles({ certPem, keyPem }, (files) => this.uws.SSLApp(files));
    this.attachRoutes(app);
    const generation: Generation = { app, loaded: new Set(), routed: 0, open: 0 };
    const freeIfRetiring = (): void => {
      if (generation.open === 0 && this.#retiring.has(generation)) this.#free(generation);
    };
    app.filter(function countConnections(_res, change) {
      generation.open += Number(change);
      // Not inside uWS's close callback: the app is changed once it returned.
      if (generation.open === 0) setImmediate(freeIfRetiring);
    });
    this.#generations.add(generation);
    return generation;
  }
}

/**
 * uWS loads certificates only from files: write them into a private
 * directory, let `load` read them, and remove them at once.
 */
export function withPemFiles<T>(
  { certPem, keyPem }: ServedCertificate,
  load: (files: AppOptions) => T,
): T {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gatehouse-worker-'));
  try {
    const keyFile = path.join(dir, 'key.pem');
    const certFile = path.join(dir, 'cert.pem');
    fs.writeFileSync(keyFile, keyPem, { mode: 0o600 });
    fs.writeFileSync(certFile, certPem, { mode: 0o600 });
    return load({ key_file_name: keyFile, cert_file_name: certFile });
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
