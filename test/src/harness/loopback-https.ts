/**
 * An HTTPS server on 127.0.0.1 and a free port, with a certificate for IP
 * 127.0.0.1 from a throwaway openssl CA whose root is `trustFile` (for
 * --acme-trust): the stand-in CAs of the tests (hostile-ca.ts, ca-proxy.ts)
 * listen this way.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import https from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import path from 'node:path';
import { run } from './clients.js';
import { opensslCa } from './openssl-ca.js';
import { freePort } from './ports.js';

export interface LoopbackHttps {
  readonly port: number;
  /** Answer requests with `handler` from now on (until then: 503). */
  serve(handler: (request: IncomingMessage, response: ServerResponse) => void): void;
  /** PEM file of the throwaway CA that signed the server's certificate. */
  readonly trustFile: string;
  /** Close the server and every connection. */
  close(): Promise<void>;
}

export async function loopbackHttps(dir: string): Promise<LoopbackHttps> {
  fs.mkdirSync(dir, { recursive: true });
  const ca = await opensslCa(path.join(dir, 'ca'));
  const { cert, key } = await serverCertificate(dir, ca);
  const port = await freePort();
  const server = https.createServer({ cert, key });
  let handler = (_request: IncomingMessage, response: ServerResponse): void => {
    response.writeHead(503).end();
  };
  server.on('request', (request: IncomingMessage, response: ServerResponse) => {
    handler(request, response);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      resolve();
    });
  });
  return {
    port,
    trustFile: ca.cert,
    serve: (next) => {
      handler = next;
    },
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => {
        server.close(() => {
          resolve();
        });
      });
    },
  };
}

/** A certificate for IP 127.0.0.1 from the throwaway CA, as PEM. */
async function serverCertificate(
  dir: string,
  ca: { cert: string; key: string },
): Promise<{ cert: string; key: string }> {
  const file = (name: string): string => path.join(dir, name);
  fs.writeFileSync(file('server.ext'), 'subjectAltName = IP:127.0.0.1\n');
  await openssl([
    ...['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'],
    ...['-keyout', file('server.key'), '-out', file('server.csr'), '-subj', '/CN=test CA server'],
  ]);
  await openssl([
    ...['x509', '-req', '-in', file('server.csr'), '-days', '2'],
    ...['-CA', ca.cert, '-CAkey', ca.key, '-set_serial', `0x${randomBytes(8).toString('hex')}`],
    ...['-extfile', file('server.ext'), '-out', file('server.pem')],
  ]);
  return {
    cert: fs.readFileSync(file('server.pem'), 'utf8'),
    key: fs.readFileSync(file('server.key'), 'utf8'),
  };
}

async function openssl(args: string[]): Promise<void> {
  const result = await run('openssl', args);
  if (result.code !== 0) {
    throw new Error(`openssl ${args[0] ?? ''} failed (code ${result.code}): ${result.stderr}`);
  }
}
