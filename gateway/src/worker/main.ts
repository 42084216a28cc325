/**
 * A gateway worker: terminates TLS and serves HTTP with uWebSockets.js.
 * Connections reach it through its native acceptor, which reads each
 * ClientHello before uWS sees the connection. It holds the certificates and
 * keys it serves, in memory only; it never sees an ACME account key and
 * writes no key file that outlives loading.
 *
 * Until routes and domains exist, every name is served with the keyvault's
 * local-CA certificate for localhost, fetched at start. Known gap: it is
 * not fetched again, so a worker running longer than the leaf's 7 days
 * serves an expired certificate until it restarts.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { IpcError } from '../ipc/channel.js';
import { startChild } from '../ipc/child.js';
import { loadAcceptorAddon, type NativeAcceptor } from '../native/addon.js';
import { loadUws, type UwsApp } from '../uws/load.js';
import { parseListeners } from './listeners.js';
import { makeSelfSigned, type ServedCertificate } from './self-signed.js';
import { serveHttpRedirect, serveWelcome } from './routes.js';

/** TLS alert no_application_protocol (RFC 7301 section 3.2). */
const ALERT_NO_APPLICATION_PROTOCOL = 120;
const ACME_TLS_ALPN = 'acme-tls/1';
/** Connections still sending their ClientHello, per listener, before the oldest is dropped. */
const MAX_PENDING_HELLOS = 4096;

const runtime = startChild('worker');
const log = runtime.log;
const listeners = parseListeners(process.env.GATEHOUSE_LISTENERS);
const httpsPort = Number(process.env.GATEHOUSE_HTTPS_PORT ?? '443');
const helloTimeoutMs = Number(process.env.GATEHOUSE_HELLO_TIMEOUT_MS ?? '10000');

const uws = loadUws();
const addon = loadAcceptorAddon();
const tlsApp = createTlsApp(await defaultCertificate());
const plainApp = uws.App();
plainApp.any('/*', serveHttpRedirect(httpsPort));

const acceptors: NativeAcceptor[] = listeners.map((listener) => {
  const tls = listener.scheme === 'https';
  return addon.createAcceptor(
    listener.fd,
    { tls, helloTimeoutMs, maxPending: MAX_PENDING_HELLOS },
    tls
      ? function onTlsConnection(fd, _sni, alpn) {
          // No tls-alpn-01 challenge can be pending yet: a CA's validation
          // gets an immediate, clean refusal instead of our certificate.
          if (alpn.includes(ACME_TLS_ALPN)) {
            addon.sendAlertAndClose(fd, ALERT_NO_APPLICATION_PROTOCOL);
            return;
          }
          tlsApp.adoptSocket(fd);
        }
      : function onPlainConnection(fd) {
          plainApp.adoptSocket(fd);
        },
  );
});

runtime.onShutdown(async function drain(deadlineMs) {
  for (const acceptor of acceptors) acceptor.close();
  // Requests in flight get a moment to finish; keep-alive connections are
  // then closed, as nginx and Caddy do on a graceful stop.
  await new Promise((resolve) => setTimeout(resolve, Math.min(deadlineMs, 300)));
  tlsApp.close();
  plainApp.close();
});

log.info('worker serving', {
  listeners: listeners.map((listener) => `${listener.scheme}://${listener.host}:${listener.port}`),
});
runtime.ready();

/**
 * The certificate served for every name until routes exist: the keyvault's
 * local-CA certificate for localhost. The keyvault may still be starting;
 * if it has not answered in 10 s, a self-signed one made here serves
 * instead, so that HTTPS answers at all.
 */
async function defaultCertificate(): Promise<ServedCertificate> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    try {
      const bundle = await runtime.channel.request('keyvault.bundle', {
        identifier: { type: 'dns', value: 'localhost' },
      });
      if (bundle) return { certPem: bundle.chainPem, keyPem: bundle.keyPem };
      log.warn('the keyvault has no certificate for localhost; serving a self-signed one');
      break;
    } catch (error) {
      const retry = error instanceof IpcError && error.code === 'unavailable';
      if (!retry || Date.now() > deadline) {
        log.warn('no certificate from the keyvault; serving a self-signed one', { error });
        break;
      }
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }
  return makeSelfSigned();
}

/**
 * uWS loads certificates only from files: write them into a private
 * directory, load, and remove them at once.
 */
function createTlsApp({ certPem, keyPem }: ServedCertificate): UwsApp {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gatehouse-worker-'));
  try {
    const keyFile = path.join(dir, 'key.pem');
    const certFile = path.join(dir, 'cert.pem');
    fs.writeFileSync(keyFile, keyPem, { mode: 0o600 });
    fs.writeFileSync(certFile, certPem, { mode: 0o600 });
    const app = uws.SSLApp({ key_file_name: keyFile, cert_file_name: certFile });
    app.any('/*', serveWelcome);
    return app;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
