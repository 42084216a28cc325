/**
 * A gateway worker: terminates TLS and serves HTTP with uWebSockets.js.
 * Connections reach it through its native acceptor, which reads each
 * ClientHello before uWS sees the connection. It holds the certificates and
 * keys it serves, in memory only; it never sees an ACME account key and
 * writes no key file that outlives loading.
 *
 * Each name gets the certificate the keyvault holds for it, looked up at
 * its first connection (certificates.ts), and a client without SNI the one
 * for the IP address it connected to; anything else gets the keyvault's
 * local-CA certificate for localhost, fetched at start. Known gap: that
 * default is not fetched again, so a worker running longer than the leaf's
 * 7 days serves it expired until it restarts. ACME validations get the
 * pending challenges (challenges.ts).
 */
import { IpcError } from '../ipc/channel.js';
import { startChild } from '../ipc/child.js';
import type { RequestPayload, RequestResult, RequestType } from '../ipc/messages.js';
import { loadAcceptorAddon, type NativeAcceptor } from '../native/addon.js';
import { loadUws } from '../uws/load.js';
import { CertificateLoader, addressKey, type CertificateKey } from './certificates.js';
import { ACME_TLS_ALPN, WorkerChallenges, serveTlsAlpnChallenge } from './challenges.js';
import { parseListeners } from './listeners.js';
import { serverNameOf } from './names.js';
import {
  HTTP_CHALLENGE_ROUTE,
  serveHttpChallenge,
  serveHttpRedirect,
  serveWelcome,
} from './routes.js';
import { makeSelfSigned, type ServedCertificate } from './self-signed.js';
import { TlsApps } from './tls-apps.js';

/** TLS alert no_application_protocol (RFC 7301 section 3.2). */
const ALERT_NO_APPLICATION_PROTOCOL = 120;
/** Connections still sending their ClientHello, per listener, before the oldest is dropped. */
const MAX_PENDING_HELLOS = 4096;
/** How long a starting worker waits for the keyvault, which may be starting too. */
const KEYVAULT_PATIENCE_MS = 10_000;
/** The supervisor answers at once; only a supervisor still booting is waited for. */
const SUPERVISOR_PATIENCE_MS = 2_000;

const runtime = startChild('worker');
const { channel, log } = runtime;
const listeners = parseListeners(process.env.GATEHOUSE_LISTENERS);
const httpsPort = Number(process.env.GATEHOUSE_HTTPS_PORT ?? '443');
const helloTimeoutMs = Number(process.env.GATEHOUSE_HELLO_TIMEOUT_MS ?? '10000');

const uws = loadUws();
const addon = loadAcceptorAddon();
const tlsApps = new TlsApps(
  uws,
  await defaultCertificate(),
  (app) => {
    app.any('/*', serveWelcome);
  },
  log.child('tls'),
);
const certificates = new CertificateLoader(
  tlsApps,
  async function lookUpCertificate(identifier) {
    const found = await channel.request('keyvault.bundle', { identifier });
    return (
      found && { certificateId: found.certificateId, certPem: found.chainPem, keyPem: found.keyPem }
    );
  },
  log.child('certificates'),
);
const challenges = new WorkerChallenges((identifier) =>
  channel.request('keyvault.challenge-bundle', { identifier }),
);

const plainApp = uws.App();
plainApp.get(
  HTTP_CHALLENGE_ROUTE,
  serveHttpChallenge((token) => challenges.keyAuthorization(token)),
);
plainApp.any('/*', serveHttpRedirect(httpsPort));

channel.handle('worker.challenge-add', async ({ challenge }) => {
  await challenges.add(challenge);
  return {};
});
channel.handle('worker.challenge-remove', ({ challenge }) => {
  challenges.remove(challenge);
  return {};
});
channel.handle('worker.certificates-changed', async ({ identifiers }) => {
  await certificates.reload(identifiers);
  return {};
});

// Pending challenges are served from the first connection on.
await syncChallenges('start');

let draining = false;
const acceptors: NativeAcceptor[] = listeners.map((listener) => {
  const tls = listener.scheme === 'https';
  return addon.createAcceptor(
    listener.fd,
    { tls, helloTimeoutMs, maxPending: MAX_PENDING_HELLOS },
    tls ? tlsConnections(addressKey(listener.host)) : onPlainConnection,
  );
});

runtime.onShutdown(async function drain(deadlineMs) {
  draining = true;
  for (const acceptor of acceptors) acceptor.close();
  // Requests in flight get a moment to finish; keep-alive connections are
  // then closed, as nginx and Caddy do on a graceful stop.
  await new Promise((resolve) => setTimeout(resolve, Math.min(deadlineMs, 300)));
  tlsApps.close();
  plainApp.close();
});

log.info('worker serving', {
  listeners: listeners.map((listener) => `${listener.scheme}://${listener.host}:${listener.port}`),
  challenges: challenges.size,
});
runtime.ready();
// A challenge installed between the first list and now was not sent here:
// the supervisor sends changes only to running workers.
void syncChallenges('ready');

/**
 * The handler of TLS connections on one listener; `local` is the key of
 * its address, which a client without SNI connected to. Known gap: on a
 * wildcard address (0.0.0.0, ::) the acceptor does not say which local
 * address a connection reached, so a client without SNI there gets the
 * default certificate, not one for the IP address it used.
 */
function tlsConnections(local: CertificateKey | undefined) {
  /**
   * A connection whose ClientHello the acceptor read. The fd is ours from
   * the first moment: every path adopts it, hands it to a Node socket or
   * closes it, exactly once.
   */
  return function onTlsConnection(fd: number, sni: string | undefined, alpn: string[]): void {
    const name = serverNameOf(sni);
    if (alpn.includes(ACME_TLS_ALPN)) {
      // RFC 8737 section 3: a validator offers acme-tls/1 and expects the
      // challenge certificate; a name with none pending gets a refusal.
      const context = name === undefined ? undefined : challenges.tlsAlpnContext(name);
      if (context) serveTlsAlpnChallenge(fd, context, log);
      else addon.sendAlertAndClose(fd, ALERT_NO_APPLICATION_PROTOCOL);
      return;
    }

    const key = sni === undefined ? local : name;
    const wait = key === undefined ? undefined : certificates.prepare(key);
    if (!wait) {
      tlsApps.adopt(fd, key);
      return;
    }
    void wait.then(function adoptOnceLoaded() {
      if (draining) addon.closeFd(fd);
      else tlsApps.adopt(fd, key);
    });
  };
}

function onPlainConnection(fd: number): void {
  plainApp.adoptSocket(fd);
}

/** Serve what the supervisor says is pending; a failure is logged, the worker serves on. */
async function syncChallenges(when: 'start' | 'ready'): Promise<void> {
  try {
    const report = await challenges.sync(async () => {
      const answer = await askPatiently('supervisor.challenges', {}, SUPERVISOR_PATIENCE_MS);
      return answer.challenges;
    });
    if (report.failed.length > 0) {
      log.warn('some pending challenges could not be served', { when, failed: report.failed });
    } else if (report.added + report.removed > 0) {
      log.info('pending challenges loaded', { when, ...report });
    }
  } catch (error) {
    log.warn('could not read the pending challenges; serving none until they are installed', {
      when,
      error: error instanceof Error ? error.message : String(error),
    });
  }
}

/** A request to a role that may still be starting: retried while it is unavailable. */
async function askPatiently<T extends RequestType>(
  type: T,
  payload: RequestPayload<T>,
  patienceMs: number,
): Promise<RequestResult<T>> {
  const deadline = Date.now() + patienceMs;
  for (;;) {
    try {
      return await channel.request(type, payload);
    } catch (error) {
      const retry = error instanceof IpcError && error.code === 'unavailable';
      if (!retry || Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }
}

/**
 * The certificate for clients without SNI and names without one of their
 * own: the keyvault's local-CA certificate for localhost. If the keyvault
 * has not answered in 10 s, a self-signed one made here serves instead, so
 * that HTTPS answers at all.
 */
async function defaultCertificate(): Promise<ServedCertificate> {
  try {
    const bundle = await askPatiently(
      'keyvault.bundle',
      { identifier: { type: 'dns', value: 'localhost' } },
      KEYVAULT_PATIENCE_MS,
    );
    if (bundle) return { certPem: bundle.chainPem, keyPem: bundle.keyPem };
    log.warn('the keyvault has no certificate for localhost; serving a self-signed one');
  } catch (error) {
    log.warn('no certificate from the keyvault; serving a self-signed one', { error });
  }
  return makeSelfSigned();
}
