/**
 * Tests for the native acceptor with real sockets and real clients: curl
 * and openssl s_client against an in-process uWS SSLApp that gets its
 * connections only through the acceptor (adoptSocket; uWS never listens on
 * the acceptor's port), slow and fragmented ClientHellos through a relay,
 * refusals, timeouts, floods of half-open connections, fd exhaustion in a
 * child process with a low fd limit, and the acme-tls/1 hand-off to Node.
 */
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import tls from 'node:tls';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';

import { loadUws, type UwsApp } from '../uws/load.js';
import {
  ADDON_PATH,
  loadAcceptorAddon,
  type AcceptorOptions,
  type ConnectionHandler,
  type NativeAcceptor,
} from './addon.js';

const run = promisify(execFile);
const here = path.dirname(fileURLToPath(import.meta.url));
const fixtures = path.resolve(here, '../../native/test/fixtures/clienthello');
const addon = loadAcceptorAddon();
const uws = loadUws();

const BODY = 'served by uWS through the acceptor';
const ALERT = (description: number) => Buffer.from([21, 3, 3, 0, 2, 2, description]);

interface Handoff {
  sni: string | undefined;
  alpn: string[];
  remoteAddress: string;
}

let tmp = '';
let keyFile = '';
let certFile = '';
let acmeContext: tls.SecureContext;
let app: UwsApp;
let plainApp: UwsApp;
const handoffs: Handoff[] = [];

before(async () => {
  tmp = mkdtempSync(path.join(os.tmpdir(), 'gatehouse-acceptor-test-'));
  keyFile = path.join(tmp, 'key.pem');
  certFile = path.join(tmp, 'cert.pem');
  await makeCertificate(keyFile, certFile, 'localhost', 'DNS:localhost,IP:127.0.0.1,IP:::1');
  const acmeKey = path.join(tmp, 'acme-key.pem');
  const acmeCert = path.join(tmp, 'acme-cert.pem');
  await makeCertificate(acmeKey, acmeCert, 'acme-challenge', 'DNS:acme.test');
  acmeContext = tls.createSecureContext({
    key: readFileSync(acmeKey),
    cert: readFileSync(acmeCert),
  });

  app = uws.SSLApp({ key_file_name: keyFile, cert_file_name: certFile });
  app.any('/*', (res) => {
    res.end(BODY);
  });
  plainApp = uws.App();
  plainApp.any('/*', (res) => {
    res.end('plain HTTP through the acceptor');
  });
});

after(() => {
  app.close();
  plainApp.close();
  rmSync(tmp, { recursive: true, force: true });
});

/** The usual hand-off: record what the acceptor saw, give the fd to uWS. */
const toUws: ConnectionHandler = (fd, sni, alpn, remoteAddress) => {
  handoffs.push({ sni, alpn, remoteAddress });
  app.adoptSocket(fd);
};

void describe('listen', () => {
  void test('refuses a second listener on the same address and port', () => {
    const { port, fds } = listenOnFreePort(['127.0.0.1']);
    try {
      assert.throws(
        () => addon.listen('127.0.0.1', port, 16),
        (error: unknown) =>
          error instanceof Error &&
          (error as NodeJS.ErrnoException).code === 'EADDRINUSE' &&
          (error as NodeJS.ErrnoException).syscall === 'bind',
      );
    } finally {
      fds.forEach((fd) => {
        addon.closeFd(fd);
      });
    }
  });

  void test('refuses names and bad arguments with clear errors', () => {
    assert.throws(() => addon.listen('localhost', 1, 16), /not an IP address/);
    assert.throws(() => addon.listen('127.0.0.1\0junk', 1, 16), { code: 'EINVAL' });
    assert.throws(() => addon.listen('1'.repeat(300), 1, 16), { code: 'EINVAL' });
    assert.throws(() => addon.listen('127.0.0.1', 70000, 16), RangeError);
    assert.throws(() => addon.listen('127.0.0.1', 1.5, 16), RangeError);
    assert.throws(() => addon.listen(7 as unknown as string, 1, 16), TypeError);
  });
});

void describe('createAcceptor', () => {
  void test('refuses an fd that is not a listening socket, and a second acceptor', () => {
    const { fds } = listenOnFreePort(['127.0.0.1']);
    const fd = fds[0] ?? -1;
    const options = { tls: true, helloTimeoutMs: 1000, maxPending: 4 };
    const acceptor = addon.createAcceptor(fd, options, toUws);
    try {
      assert.throws(() => addon.createAcceptor(fd, options, toUws), /already has an acceptor/);
      assert.throws(() => {
        addon.closeFd(fd);
      }, /close\(\) it first/);
      assert.throws(() => addon.createAcceptor(1, options, toUws), RangeError);
      assert.throws(
        () => addon.createAcceptor(fd, { ...options, maxPending: 0 }, toUws),
        RangeError,
      );
      assert.throws(
        () => addon.createAcceptor(fd, options, undefined as unknown as ConnectionHandler),
        TypeError,
      );
    } finally {
      acceptor.close();
      acceptor.close(); // idempotent
      addon.closeFd(fd);
    }
    // A closed acceptor frees the fd for a new one.
    const again = listenOnFreePort(['127.0.0.1']);
    const fresh = addon.createAcceptor(again.fds[0] ?? -1, options, toUws);
    fresh.close();
    again.fds.forEach((n) => {
      addon.closeFd(n);
    });
  });
});

void describe('hand-off to uWS', () => {
  void test('curl over IPv4 and IPv6 is served, with SNI, ALPN and the address seen', async () => {
    await withAcceptors(['127.0.0.1', '::1'], {}, toUws, async ({ port, acceptors }) => {
      handoffs.length = 0;
      const v4 = await curl([
        '--resolve',
        `localhost:${port}:127.0.0.1`,
        `https://localhost:${port}/a`,
      ]);
      const v6 = await curl(['--resolve', `localhost:${port}:::1`, `https://localhost:${port}/b`]);
      assert.equal(v4, BODY);
      assert.equal(v6, BODY);

      assert.deepEqual(
        handoffs.map((h) => [h.sni, h.remoteAddress]),
        [
          ['localhost', '127.0.0.1'],
          ['localhost', '::1'],
        ],
      );
      for (const h of handoffs) assert.ok(h.alpn.includes('http/1.1'), `alpn ${h.alpn.join()}`);
      const handedOff = acceptors.reduce((sum, a) => sum + a.stats().handedOff, 0);
      assert.equal(handedOff, 2);
      assert.equal(
        acceptors.reduce((sum, a) => sum + a.stats().pending, 0),
        0,
      );
    });
  });

  void test('openssl s_client is served', async () => {
    await withAcceptors(['127.0.0.1'], {}, toUws, async ({ port }) => {
      const { stdout } = await sClient(
        [
          '-connect',
          `127.0.0.1:${port}`,
          '-servername',
          'localhost',
          '-alpn',
          'http/1.1',
          '-quiet',
        ],
        'GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n',
      );
      assert.ok(stdout.includes(BODY), stdout);
    });
  });

  void test('a ClientHello sent one byte per TCP segment is still served', async () => {
    await withAcceptors(['127.0.0.1'], {}, toUws, async ({ port, acceptors }) => {
      const relay = await startRelay(port, { recordSize: 0, byteDelayMs: 1 });
      try {
        const body = await curl([`https://127.0.0.1:${relay.port}/slow`]);
        assert.equal(body, BODY);
        assert.ok(relay.helloBytes() > 200, 'the hello went through the relay');
        // Without SO_RCVLOWAT every byte would wake the acceptor, and more
        // than 64 wakeups close the connection as rejected.
        const stats = acceptors[0]?.stats();
        assert.equal(stats?.handedOff, 1);
        assert.equal(stats?.rejected, 0);
      } finally {
        await relay.close();
      }
    });
  });

  void test('a ClientHello split into several TLS records is served', async () => {
    await withAcceptors(['127.0.0.1'], {}, toUws, async ({ port }) => {
      for (const [recordSize, byteDelayMs] of [
        [64, 0],
        [200, 0],
        [100, 1],
      ] as const) {
        const relay = await startRelay(port, { recordSize, byteDelayMs });
        try {
          handoffs.length = 0;
          const body = await curl([
            '--resolve',
            `split.test:${relay.port}:127.0.0.1`,
            `https://split.test:${relay.port}/`,
          ]);
          assert.equal(body, BODY, `records of ${recordSize} bytes`);
          assert.equal(handoffs[0]?.sni, 'split.test');
          assert.ok(relay.records() > 2, `only ${relay.records()} records`);
        } finally {
          await relay.close();
        }
      }
    });
  });

  void test('plain HTTP (tls: false) is handed off at once', async () => {
    const toPlain: ConnectionHandler = (fd, sni, alpn) => {
      assert.equal(sni, undefined);
      assert.deepEqual(alpn, []);
      plainApp.adoptSocket(fd);
    };
    await withAcceptors(['127.0.0.1'], { tls: false }, toPlain, async ({ port }) => {
      const { stdout } = await run('curl', [
        '-sS',
        '--max-time',
        '10',
        `http://127.0.0.1:${port}/`,
      ]);
      assert.equal(stdout, 'plain HTTP through the acceptor');
    });
  });
});

void describe('refusals', () => {
  void test('a plain HTTP request on the TLS port gets a 400 that says HTTPS', async () => {
    await withAcceptors(['127.0.0.1'], {}, toUws, async ({ port, acceptors }) => {
      const { stdout } = await run('curl', [
        '-sS',
        '-i',
        '--max-time',
        '10',
        `http://127.0.0.1:${port}/`,
      ]);
      assert.match(stdout, /^HTTP\/1\.1 400 /);
      assert.match(stdout, /speaks HTTPS/);
      assert.equal(acceptors[0]?.stats().rejected, 1);
      assert.equal(acceptors[0]?.stats().handedOff, 0);
    });
  });

  void test('other non-TLS bytes are closed without an answer', async () => {
    await withAcceptors(['127.0.0.1'], {}, toUws, async ({ port, acceptors }) => {
      const reply = await exchange(port, Buffer.from([0x00, 0x01, 0x02, 0x03, 0x7f]));
      assert.equal(reply.length, 0);
      assert.equal(acceptors[0]?.stats().rejected, 1);
    });
  });

  const refusals: [string, string, number][] = [
    ['an oversized ClientHello', 'gen-20k-handshake.bin', 22],
    ['a ClientHello with an empty server name', 'gen-sni-empty.bin', 50],
    ['a ServerHello instead of a ClientHello', 'gen-server-hello.bin', 50],
  ];
  for (const [what, fixture, alert] of refusals) {
    void test(`${what} gets alert ${alert} and a close`, async () => {
      await withAcceptors(['127.0.0.1'], {}, toUws, async ({ port, acceptors }) => {
        const hello = readFileSync(path.join(fixtures, fixture));
        const reply = await exchange(port, hello);
        assert.deepEqual(reply, ALERT(alert));
        assert.equal(acceptors[0]?.stats().rejected, 1);
      });
    });
  }

  void test('a silent client and a stalled hello are closed after helloTimeoutMs', async () => {
    await withAcceptors(
      ['127.0.0.1'],
      { helloTimeoutMs: 300 },
      toUws,
      async ({ port, acceptors }) => {
        const hello = readFileSync(path.join(fixtures, 'curl-default.bin'));
        const started = Date.now();
        const [silent, stalled] = await Promise.all([
          exchange(port, Buffer.alloc(0)),
          exchange(port, hello.subarray(0, 100)),
        ]);
        const elapsed = Date.now() - started;
        assert.equal(silent.length + stalled.length, 0);
        assert.ok(elapsed >= 250 && elapsed < 3000, `closed after ${elapsed} ms`);
        assert.equal(acceptors[0]?.stats().timedOut, 2);
        assert.equal(acceptors[0]?.stats().pending, 0);
      },
    );
  });

  void test('a FIN before the whole ClientHello closes at once', async () => {
    await withAcceptors(
      ['127.0.0.1'],
      { helloTimeoutMs: 30_000 },
      toUws,
      async ({ port, acceptors }) => {
        const hello = readFileSync(path.join(fixtures, 'curl-default.bin'));
        const started = Date.now();
        const reply = await exchange(port, hello.subarray(0, 200), { end: true });
        assert.equal(reply.length, 0);
        assert.ok(Date.now() - started < 2000, 'closed long before the hello timeout');
        await waitFor(() => acceptors[0]?.stats().aborted === 1, 'aborted counted');
        assert.equal(acceptors[0]?.stats().pending, 0);
      },
    );
  });
});

void describe('load', () => {
  void test('300 half-open hellos: low CPU, pending bounded by maxPending', async (t) => {
    const maxPending = 100;
    await withAcceptors(
      ['127.0.0.1'],
      { maxPending, helloTimeoutMs: 60_000 },
      toUws,
      async ({ port, acceptors }) => {
        const acceptor = acceptors[0];
        assert.ok(acceptor);
        const hello = readFileSync(path.join(fixtures, 'curl-default.bin'));
        const sockets: net.Socket[] = [];
        let closedByServer = 0;
        try {
          for (let i = 0; i < 300; i++) {
            const socket = net.connect({ host: '127.0.0.1', port });
            socket.on('error', () => undefined);
            socket.on('close', () => closedByServer++);
            socket.write(hello.subarray(0, 150 + (i % 300)));
            sockets.push(socket);
          }
          await waitFor(() => acceptor.stats().accepted === 300, 'all 300 accepted');
          await sleep(100);

          const before = process.cpuUsage();
          const wallStart = process.hrtime.bigint();
          await sleep(1000);
          const used = process.cpuUsage(before);
          const wallUs = Number(process.hrtime.bigint() - wallStart) / 1000;
          const share = (used.user + used.system) / wallUs;

          const stats = acceptor.stats();
          t.diagnostic(`CPU with ${stats.pending} waiting: ${(share * 100).toFixed(2)}% of a core`);
          assert.ok(share < 0.1, `acceptor used ${(share * 100).toFixed(1)}% of a core`);
          assert.equal(stats.pending, maxPending);
          assert.equal(stats.evicted, 300 - maxPending);
          assert.equal(stats.rejected, 0, 'none woke often enough to be cut off');
          await waitFor(() => closedByServer === 300 - maxPending, 'evicted clients see a close');
        } finally {
          sockets.forEach((s) => s.destroy());
        }
        await waitFor(() => acceptor.stats().pending === 0, 'pending drains as clients leave');
      },
    );
  });

  void test('fd exhaustion (EMFILE): no spin, no crash, serving again afterwards', async (t) => {
    const harness = await startEmfileHarness();
    const sockets: net.Socket[] = [];
    try {
      // More connections than the child has fds: each waits for a hello.
      for (let i = 0; i < 120; i++) {
        const socket = net.connect({ host: '127.0.0.1', port: harness.port });
        socket.on('error', () => undefined);
        sockets.push(socket);
      }
      await waitFor(async () => (await harness.stats()).fdExhausted > 0, 'EMFILE seen');
      await sleep(300);

      const cpu = await childCpuShare(harness.child.pid ?? 0, 1000);
      t.diagnostic(`child CPU while out of fds: ${(cpu * 100).toFixed(1)}% of a core`);
      assert.ok(cpu < 0.2, `child used ${(cpu * 100).toFixed(1)}% of a core while out of fds`);
      assert.equal(harness.child.exitCode, null, 'the child is alive');

      sockets.forEach((s) => s.destroy());
      await waitFor(async () => (await harness.stats()).pending === 0, 'waiting fds released');
      const body = await curl([`https://127.0.0.1:${harness.port}/`]);
      assert.equal(body, 'served after EMFILE');
      const stats = await harness.stats();
      assert.ok(stats.fdExhausted >= 1);
      assert.ok(stats.handedOff >= 1);
    } finally {
      sockets.forEach((s) => s.destroy());
      await harness.stop();
    }
  });
});

void describe('acme-tls/1', () => {
  void test('hands acme-tls/1 to a Node TLS socket that negotiates it', async () => {
    const negotiated: (string | false | null)[] = [];
    const handler: ConnectionHandler = (fd, sni, alpn) => {
      if (!alpn.includes('acme-tls/1')) {
        app.adoptSocket(fd);
        return;
      }
      assert.equal(sni, 'acme.test');
      const socket = new tls.TLSSocket(new net.Socket({ fd, readable: true, writable: true }), {
        isServer: true,
        secureContext: acmeContext,
        ALPNProtocols: ['acme-tls/1'],
      });
      socket.on('secure', () => {
        negotiated.push(socket.alpnProtocol);
        socket.end();
      });
      socket.on('error', () => undefined);
    };
    await withAcceptors(['127.0.0.1'], {}, handler, async ({ port }) => {
      const { stdout } = await sClient(
        ['-connect', `127.0.0.1:${port}`, '-servername', 'acme.test', '-alpn', 'acme-tls/1'],
        '',
      );
      assert.match(stdout, /ALPN protocol: acme-tls\/1/);
      assert.match(stdout, /subject=CN ?= ?acme-challenge/);
      assert.deepEqual(negotiated, ['acme-tls/1']);

      // Everyone else still gets uWS and the normal certificate.
      assert.equal(await curl([`https://127.0.0.1:${port}/`]), BODY);
    });
  });

  void test('sendAlertAndClose(fd, 120) gives no_application_protocol at once', async () => {
    const handler: ConnectionHandler = (fd, _sni, alpn) => {
      if (alpn.includes('acme-tls/1')) addon.sendAlertAndClose(fd, 120);
      else app.adoptSocket(fd);
    };
    await withAcceptors(['127.0.0.1'], {}, handler, async ({ port }) => {
      const { stdout, stderr } = await sClient(
        ['-connect', `127.0.0.1:${port}`, '-servername', 'acme.test', '-alpn', 'acme-tls/1'],
        '',
        true,
      );
      assert.match(stdout + stderr, /no application protocol|alert number 120/i);
    });
  });
});

void describe('lifecycle', () => {
  void test('close() inside onConnection, with connections still waiting', async () => {
    const hello = readFileSync(path.join(fixtures, 'curl-default.bin'));
    const { port, fds } = listenOnFreePort(['127.0.0.1']);
    const fd = fds[0] ?? -1;
    let acceptor: NativeAcceptor | undefined;
    const waiting = net.connect({ host: '127.0.0.1', port });
    waiting.on('error', () => undefined);
    waiting.write(hello.subarray(0, 50));
    const waitingClosed = closed(waiting);
    try {
      acceptor = addon.createAcceptor(
        fd,
        { tls: true, helloTimeoutMs: 60_000, maxPending: 8 },
        (c) => {
          acceptor?.close();
          addon.closeFd(c);
        },
      );
      await waitFor(() => acceptor?.stats().pending === 1, 'first client waiting');
      const reply = await exchange(port, hello);
      assert.equal(reply.length, 0, 'handed off, then closed by the callback');
      await waitingClosed;
      assert.equal(acceptor.stats().handedOff, 1);
      assert.equal(acceptor.stats().pending, 0);
    } finally {
      acceptor?.close();
      waiting.destroy();
      addon.closeFd(fd);
    }
  });

  void test('a worker thread that exits with an open acceptor leaves the process sound', async () => {
    const { Worker } = await import('node:worker_threads');
    const { port, fds } = listenOnFreePort(['127.0.0.1']);
    const fd = fds[0] ?? -1;
    const code = `
      const { createRequire } = require('node:module');
      const { parentPort, workerData } = require('node:worker_threads');
      const addon = createRequire(workerData.addon)(workerData.addon);
      globalThis.acceptor = addon.createAcceptor(workerData.fd,
        { tls: true, helloTimeoutMs: 60000, maxPending: 8 }, (fd) => addon.closeFd(fd));
      parentPort.postMessage('ready');
      parentPort.on('message', () => parentPort.postMessage(globalThis.acceptor.stats()));
    `;
    const worker = new Worker(code, { eval: true, workerData: { addon: ADDON_PATH, fd } });
    const client = net.connect({ host: '127.0.0.1', port });
    client.on('error', () => undefined);
    try {
      await once(worker, 'message');
      client.write(Buffer.from([22, 3, 1]));
      await waitFor(async () => {
        worker.postMessage('stats');
        const [stats] = (await once(worker, 'message')) as [{ pending: number }];
        return stats.pending === 1;
      }, 'a connection waits in the worker');
      const clientClosed = closed(client);
      assert.equal(await worker.terminate(), 1);
      await clientClosed; // the worker's teardown closed the waiting connection

      // The listening fd outlives the worker, and this thread can take over.
      const acceptor = addon.createAcceptor(
        fd,
        { tls: true, helloTimeoutMs: 1000, maxPending: 8 },
        toUws,
      );
      try {
        assert.equal(await curl([`https://127.0.0.1:${port}/`]), BODY);
      } finally {
        acceptor.close();
      }
    } finally {
      client.destroy();
      await worker.terminate();
      addon.closeFd(fd);
    }
  });
});

void describe('errors in onConnection', () => {
  void test('a throw reaches uncaughtException, and the acceptor keeps going', async () => {
    const code = `
      const { createRequire } = require('node:module');
      const net = require('node:net');
      const addon = createRequire(process.argv[1])(process.argv[1]);
      let fd, port;
      for (let i = 0; i < 50 && fd === undefined; i++) {
        port = 20000 + Math.floor(Math.random() * 12000);
        try { fd = addon.listen('127.0.0.1', port, 16); }
        catch (e) { if (e.code !== 'EADDRINUSE') throw e; }
      }
      const acceptor = addon.createAcceptor(fd, { tls: false, helloTimeoutMs: 1000, maxPending: 4 },
        (conn) => { addon.closeFd(conn); throw new Error('boom ' + acceptor.stats().handedOff); });
      let caught = 0;
      process.on('uncaughtException', (error) => {
        console.log('caught ' + error.message);
        if (++caught === 2) { acceptor.close(); addon.closeFd(fd); }
        else net.connect(port, '127.0.0.1').on('error', () => {});
      });
      net.connect(port, '127.0.0.1').on('error', () => {});
    `;
    const { stdout } = await run(process.execPath, ['-e', code, ADDON_PATH], { timeout: 15_000 });
    assert.equal(stdout, 'caught boom 1\ncaught boom 2\n');
  });
});

void describe('parseClientHello', () => {
  void test('reads SNI and ALPN, reports what is missing, refuses wrong types', () => {
    const hello = readFileSync(path.join(fixtures, 'curl-default.bin'));
    const parsed = addon.parseClientHello(hello);
    assert.equal(parsed.status, 'ok');
    assert.equal(typeof parsed.sni, 'string');
    assert.ok(Array.isArray(parsed.alpn));
    assert.deepEqual(addon.parseClientHello(hello.subarray(0, 3)), {
      status: 'need_more',
      need: 5,
    });
    assert.equal(addon.parseClientHello(Buffer.from('GET / HTTP/1.1\r\n')).status, 'not_tls');
    assert.throws(() => addon.parseClientHello('hello' as unknown as Uint8Array), TypeError);
  });
});

// ---------------------------------------------------------------------------
// Helpers

async function makeCertificate(key: string, cert: string, cn: string, san: string): Promise<void> {
  await run('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
    '-keyout', key, '-out', cert, '-days', '1', '-subj', `/CN=${cn}`,
    '-addext', `subjectAltName=${san}`,
  ]); // prettier-ignore
}

/** Listen on one port, chosen per run below 32768, on every host given. */
function listenOnFreePort(hosts: string[]): { port: number; fds: number[] } {
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = 20000 + Math.floor(Math.random() * 12000);
    const fds: number[] = [];
    try {
      for (const host of hosts) fds.push(addon.listen(host, port, 511));
      return { port, fds };
    } catch (error) {
      fds.forEach((fd) => {
        addon.closeFd(fd);
      });
      if ((error as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw error;
    }
  }
  throw new Error('no free port found below 32768 after 50 tries');
}

interface AcceptorRun {
  port: number;
  acceptors: NativeAcceptor[];
}

async function withAcceptors(
  hosts: string[],
  options: Partial<AcceptorOptions>,
  handler: ConnectionHandler,
  body: (run: AcceptorRun) => Promise<void>,
): Promise<void> {
  const { port, fds } = listenOnFreePort(hosts);
  const acceptors: NativeAcceptor[] = [];
  try {
    for (const fd of fds) {
      acceptors.push(
        addon.createAcceptor(
          fd,
          { tls: true, helloTimeoutMs: 5000, maxPending: 1000, ...options },
          handler,
        ),
      );
    }
    await body({ port, acceptors });
  } finally {
    acceptors.forEach((a) => {
      a.close();
    });
    fds.forEach((fd) => {
      addon.closeFd(fd);
    });
  }
}

async function curl(args: string[]): Promise<string> {
  const { stdout } = await run('curl', ['-sS', '-k', '--max-time', '15', ...args]);
  return stdout;
}

/** Run openssl s_client with `input` on stdin; bounded in time. */
function sClient(
  args: string[],
  input: string,
  allowFailure = false,
): Promise<{ stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('openssl', ['s_client', ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill(), 15_000);
    child.on('close', (code) => {
      clearTimeout(timer);
      if (code === 0 || allowFailure) resolve({ stdout, stderr });
      else reject(new Error(`openssl s_client exited with ${code}: ${stderr}`));
    });
    child.stdin.end(input);
  });
}

/** Connect, send `bytes`, and collect everything until the server closes. */
function exchange(port: number, bytes: Buffer, options: { end?: boolean } = {}): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const socket = net.connect({ host: '127.0.0.1', port }, () => {
      if (bytes.length > 0) socket.write(bytes);
      if (options.end === true) socket.end();
    });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error('the server did not close the connection within 10 s'));
    }, 10_000);
    socket.on('data', (d: Buffer) => chunks.push(d));
    socket.on('error', () => undefined); // a RST after the reply is fine
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(Buffer.concat(chunks));
    });
  });
}

/** Resolves when the socket closes, whatever error came first. */
function closed(socket: net.Socket): Promise<void> {
  return new Promise((resolve) =>
    socket.once('close', () => {
      resolve();
    }),
  );
}

async function waitFor(
  condition: () => boolean | Promise<boolean>,
  what: string,
  timeoutMs = 10_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting: ${what}`);
    await sleep(20);
  }
}

interface Relay {
  port: number;
  helloBytes: () => number;
  records: () => number;
  close: () => Promise<void>;
}

/**
 * A TCP relay that holds the client's ClientHello until it is whole, then
 * passes it on re-framed into records of `recordSize` handshake bytes (0:
 * as sent) and written `byteDelayMs` apart one byte at a time (0: at once),
 * each write its own segment. Everything after the hello flows unchanged.
 */
async function startRelay(
  targetPort: number,
  { recordSize, byteDelayMs }: { recordSize: number; byteDelayMs: number },
): Promise<Relay> {
  let helloBytes = 0;
  let records = 0;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect({ host: '127.0.0.1', port: targetPort });
    upstream.setNoDelay(true);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('error', () => undefined);
      s.on('close', () => {
        client.destroy();
        upstream.destroy();
      });
    }
    upstream.on('data', (d: Buffer) => client.write(d));

    let pending = Buffer.alloc(0);
    let forwarding = false;
    client.on('data', (chunk: Buffer) => {
      if (forwarding) {
        upstream.write(chunk);
        return;
      }
      pending = Buffer.concat([pending, chunk]);
      if (addon.parseClientHello(pending).status === 'need_more') return;
      client.pause();
      const wire = recordSize > 0 ? reframe(pending, recordSize) : pending;
      helloBytes = wire.length;
      records = countRecords(wire);
      void sendSlowly(upstream, wire, byteDelayMs).then(() => {
        forwarding = true;
        client.resume();
      });
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address() as net.AddressInfo;
  return {
    port: address.port,
    helloBytes: () => helloBytes,
    records: () => records,
    close: async () => {
      sockets.forEach((s) => s.destroy());
      server.close();
      await once(server, 'close');
    },
  };
}

async function sendSlowly(socket: net.Socket, bytes: Buffer, delayMs: number): Promise<void> {
  if (delayMs === 0) {
    socket.write(bytes);
    return;
  }
  for (let i = 0; i < bytes.length && !socket.destroyed; i++) {
    socket.write(bytes.subarray(i, i + 1));
    await sleep(delayMs);
  }
}

/** The handshake bytes of `wire`'s records, cut into records of `size`. */
function reframe(wire: Buffer, size: number): Buffer {
  const body: Buffer[] = [];
  for (let at = 0; at + 5 <= wire.length;) {
    const length = wire.readUInt16BE(at + 3);
    body.push(wire.subarray(at + 5, at + 5 + length));
    at += 5 + length;
  }
  const handshake = Buffer.concat(body);
  const out: Buffer[] = [];
  for (let at = 0; at < handshake.length; at += size) {
    const piece = handshake.subarray(at, at + size);
    out.push(Buffer.from([22, 3, 1, piece.length >> 8, piece.length & 0xff]), piece);
  }
  return Buffer.concat(out);
}

function countRecords(wire: Buffer): number {
  let count = 0;
  for (let at = 0; at + 5 <= wire.length; at += 5 + wire.readUInt16BE(at + 3)) count++;
  return count;
}

/** Share of one core that process `pid` used over `ms`, from /proc. */
async function childCpuShare(pid: number, ms: number): Promise<number> {
  const ticks = (): number => {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
    return Number(fields[11]) + Number(fields[12]); // utime, stime
  };
  const clockTicks = Number((await run('getconf', ['CLK_TCK'])).stdout.trim());
  const start = ticks();
  const wallStart = Date.now();
  await sleep(ms);
  return (ticks() - start) / clockTicks / ((Date.now() - wallStart) / 1000);
}

interface Harness {
  child: ChildProcess;
  port: number;
  stats: () => Promise<{ fdExhausted: number; pending: number; handedOff: number }>;
  stop: () => Promise<void>;
}

/**
 * A child process with at most 64 fds (prlimit) running an acceptor that
 * feeds uWS. It prints its port, then answers "stats" lines on stdin.
 */
async function startEmfileHarness(): Promise<Harness> {
  const code = `
    import { createRequire } from 'node:module';
    const [addonPath, loadUrl, key, cert] = process.argv.slice(1);
    const { loadUws } = await import(loadUrl);
    const addon = createRequire(addonPath)(addonPath);
    const app = loadUws().SSLApp({ key_file_name: key, cert_file_name: cert });
    app.any('/*', (res) => { res.end('served after EMFILE'); });
    let fd, port;
    for (let i = 0; i < 50 && fd === undefined; i++) {
      port = 20000 + Math.floor(Math.random() * 12000);
      try { fd = addon.listen('127.0.0.1', port, 511); }
      catch (e) { if (e.code !== 'EADDRINUSE') throw e; }
    }
    const acceptor = addon.createAcceptor(fd,
      { tls: true, helloTimeoutMs: 60000, maxPending: 10000 },
      (conn) => app.adoptSocket(conn));
    process.stdout.write(JSON.stringify({ port }) + '\\n');
    let input = '';
    process.stdin.setEncoding('utf8');
    process.stdin.on('data', (d) => {
      input += d;
      for (let i; (i = input.indexOf('\\n')) >= 0; ) {
        const line = input.slice(0, i);
        input = input.slice(i + 1);
        if (line === 'stats') process.stdout.write(JSON.stringify(acceptor.stats()) + '\\n');
      }
    });
    process.stdin.on('end', () => { acceptor.close(); app.close(); process.exit(0); });
  `;
  const loadUrl = pathToFileURL(path.resolve(here, '../uws/load.js')).href;
  const child = spawn(
    'prlimit',
    [
      '--nofile=64:64',
      process.execPath,
      '--input-type=module',
      '-e',
      code,
      ADDON_PATH,
      loadUrl,
      keyFile,
      certFile,
    ],
    { stdio: ['pipe', 'pipe', 'inherit'] },
  );
  const lines: string[] = [];
  const waiters: ((line: string) => void)[] = [];
  let partial = '';
  child.stdout?.setEncoding('utf8');
  child.stdout?.on('data', (d: string) => {
    partial += d;
    for (let i; (i = partial.indexOf('\n')) >= 0;) {
      const line = partial.slice(0, i);
      partial = partial.slice(i + 1);
      const waiter = waiters.shift();
      if (waiter) waiter(line);
      else lines.push(line);
    }
  });
  const nextLine = (): Promise<string> =>
    new Promise((resolve, reject) => {
      const line = lines.shift();
      if (line !== undefined) {
        resolve(line);
        return;
      }
      const timer = setTimeout(() => {
        reject(new Error('harness did not answer in 10 s'));
      }, 10_000);
      waiters.push((l) => {
        clearTimeout(timer);
        resolve(l);
      });
    });
  const { port } = JSON.parse(await nextLine()) as { port: number };
  return {
    child,
    port,
    stats: async () => {
      child.stdin?.write('stats\n');
      return JSON.parse(await nextLine()) as {
        fdExhausted: number;
        pending: number;
        handedOff: number;
      };
    },
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = once(child, 'exit');
      child.stdin?.end();
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    },
  };
}
