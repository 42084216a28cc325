#!/usr/bin/env node
/**
 * Captures real ClientHellos for the parser's fixture table.
 *
 * A loopback TCP server of its own (127.0.0.1, port 0) records the first
 * bytes of each connection until a whole ClientHello has arrived, then
 * closes it; real clients are pointed at it one after the other: openssl
 * s_client, curl, headless Chromium and Node's tls.connect. Each hello is
 * written to gateway/native/test/fixtures/clienthello/<name>.bin, cut at the
 * end of the record that completes it, and listed in manifest.json with the
 * server name and ALPN protocols the client was told to send (so the table
 * checks the parser against what was asked for, not what it read). Entries
 * of manifest.json that make-malformed.mjs wrote are kept.
 *
 * Not run by the tests. To re-make the fixtures (needs the Debian packages
 * openssl, curl and chromium):
 *
 *   node gateway/native/test/capture-clienthellos.mjs
 *   node gateway/native/test/make-malformed.mjs
 *
 * then run scripts/test-clienthello-table. Chromium's hello changes on
 * every run (GREASE values, extension order), so the .bin files differ.
 */
import { Buffer } from 'node:buffer';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { clearTimeout, setTimeout } from 'node:timers';
import tls from 'node:tls';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const fixtures = path.join(here, 'fixtures', 'clienthello');
const manifestPath = path.join(fixtures, 'manifest.json');
const CAPTURE_TIMEOUT_MS = 20_000;

/**
 * Where the ClientHello ends on the wire: the end of the record that holds
 * its last byte, or 0 while it is incomplete. Deliberately simple and apart
 * from the C parser; throws on bytes that are not TLS handshake records.
 */
export function clientHelloWireEnd(bytes) {
  const hs = [];
  let off = 0;
  while (off + 5 <= bytes.length) {
    if (bytes[off] !== 22) throw new Error(`record at ${off} is not a handshake record`);
    const recLen = bytes.readUInt16BE(off + 3);
    const end = off + 5 + recLen;
    if (end > bytes.length) return 0;
    for (let i = off + 5; i < end; i++) hs.push(bytes[i]);
    if (hs.length >= 4) {
      if (hs[0] !== 1) throw new Error('first handshake message is not a ClientHello');
      const total = 4 + ((hs[1] << 16) | (hs[2] << 8) | hs[3]);
      if (hs.length >= total) return end;
    }
    off = end;
  }
  return 0;
}

/** Accept one connection and resolve with its ClientHello bytes. */
function captureOne(server, label) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      server.removeAllListeners('connection');
      reject(new Error(`${label}: no ClientHello within ${CAPTURE_TIMEOUT_MS} ms`));
    }, CAPTURE_TIMEOUT_MS);
    server.once('connection', (socket) => {
      let got = Buffer.alloc(0);
      socket.on('error', () => {});
      socket.on('data', (chunk) => {
        got = Buffer.concat([got, chunk]);
        let end;
        try {
          end = clientHelloWireEnd(got);
        } catch (err) {
          clearTimeout(timer);
          socket.destroy();
          reject(new Error(`${label}: ${err.message}`));
          return;
        }
        if (end === 0) return;
        clearTimeout(timer);
        socket.destroy();
        resolve(got.subarray(0, end));
      });
    });
  });
}

/** Run a client program until its hello was captured, then kill it by pid. */
async function captureFromProcess(server, label, cmd, args) {
  const pending = captureOne(server, label);
  const child = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'], detached: true });
  let stderr = '';
  child.stderr.on('data', (d) => {
    stderr += d;
  });
  const exited = new Promise((resolve) => child.on('close', resolve));
  child.on('error', () => {});
  try {
    return await pending;
  } catch (err) {
    err.message += `\n${cmd} stderr:\n${stderr.slice(-2000)}`;
    throw err;
  } finally {
    // Stop the client's whole process group (Chromium forks helpers, which
    // it reaps itself when asked to stop with TERM); the group is ours,
    // started detached above. KILL after 3 s if it does not stop.
    const signalGroup = (signal) => {
      try {
        process.kill(-child.pid, signal);
      } catch {
        // already gone
      }
    };
    if (child.exitCode === null && child.pid !== undefined) {
      signalGroup('SIGTERM');
      const timer = setTimeout(() => signalGroup('SIGKILL'), 3000);
      await exited;
      clearTimeout(timer);
      signalGroup('SIGKILL');
    }
  }
}

async function captureFromNode(server, label, options) {
  const pending = captureOne(server, label);
  const socket = tls.connect({ host: '127.0.0.1', rejectUnauthorized: false, ...options });
  socket.on('error', () => {});
  try {
    return await pending;
  } finally {
    socket.destroy();
  }
}

async function main() {
  const server = net.createServer();
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = server.address().port;
  const chromeDir = mkdtempSync(path.join(os.tmpdir(), 'gatehouse-chromium-'));
  const captured = [];

  const clients = [
    {
      file: 'openssl-tls13-default.bin',
      client: 'openssl s_client -tls1_3 (no -servername, IP address: no SNI)',
      sni: null,
      alpn: [],
      run: () =>
        captureFromProcess(server, 'openssl default', 'openssl', [
          's_client',
          '-connect',
          `127.0.0.1:${port}`,
          '-tls1_3',
        ]),
    },
    {
      file: 'openssl-tls13-alpn.bin',
      client: 'openssl s_client -tls1_3 -alpn h2,http/1.1',
      sni: null,
      alpn: ['h2', 'http/1.1'],
      run: () =>
        captureFromProcess(server, 'openssl -alpn', 'openssl', [
          's_client',
          '-connect',
          `127.0.0.1:${port}`,
          '-tls1_3',
          '-alpn',
          'h2,http/1.1',
        ]),
    },
    {
      file: 'openssl-tls13-servername.bin',
      client: 'openssl s_client -tls1_3 -servername openssl.gatehouse.test',
      sni: 'openssl.gatehouse.test',
      alpn: [],
      run: () =>
        captureFromProcess(server, 'openssl -servername', 'openssl', [
          's_client',
          '-connect',
          `127.0.0.1:${port}`,
          '-tls1_3',
          '-servername',
          'openssl.gatehouse.test',
        ]),
    },
    {
      file: 'openssl-tls12.bin',
      client: 'openssl s_client -tls1_2 -servername Tls12.Gatehouse.test -alpn acme-tls/1',
      sni: 'Tls12.Gatehouse.test',
      alpn: ['acme-tls/1'],
      run: () =>
        captureFromProcess(server, 'openssl -tls1_2', 'openssl', [
          's_client',
          '-connect',
          `127.0.0.1:${port}`,
          '-tls1_2',
          '-servername',
          'Tls12.Gatehouse.test',
          '-alpn',
          'acme-tls/1',
        ]),
    },
    {
      file: 'curl-http11.bin',
      client: 'curl --http1.1 https://curl.gatehouse.test/',
      sni: 'curl.gatehouse.test',
      alpn: ['http/1.1'],
      run: () =>
        captureFromProcess(server, 'curl --http1.1', 'curl', [
          '-sk',
          '--max-time',
          '10',
          '--http1.1',
          '--resolve',
          `curl.gatehouse.test:${port}:127.0.0.1`,
          `https://curl.gatehouse.test:${port}/`,
        ]),
    },
    {
      file: 'curl-default.bin',
      client: 'curl https://curl.gatehouse.test/ (default: h2 and http/1.1)',
      sni: 'curl.gatehouse.test',
      alpn: ['h2', 'http/1.1'],
      run: () =>
        captureFromProcess(server, 'curl', 'curl', [
          '-sk',
          '--max-time',
          '10',
          '--resolve',
          `curl.gatehouse.test:${port}:127.0.0.1`,
          `https://curl.gatehouse.test:${port}/`,
        ]),
    },
    {
      file: 'chromium.bin',
      client: 'chromium --headless https://chromium.gatehouse.test/',
      sni: 'chromium.gatehouse.test',
      alpn: ['h2', 'http/1.1'],
      run: () =>
        captureFromProcess(server, 'chromium', 'chromium', [
          '--headless',
          '--no-sandbox',
          '--disable-gpu',
          '--no-first-run',
          '--disable-background-networking',
          '--disable-component-update',
          '--disable-sync',
          `--user-data-dir=${chromeDir}`,
          '--host-resolver-rules=MAP * 127.0.0.1',
          `https://chromium.gatehouse.test:${port}/`,
        ]),
    },
    {
      file: 'node-acme-tls.bin',
      client: "node tls.connect ALPNProtocols ['acme-tls/1']",
      sni: 'acme.gatehouse.test',
      alpn: ['acme-tls/1'],
      run: () =>
        captureFromNode(server, 'node acme-tls/1', {
          port,
          servername: 'acme.gatehouse.test',
          ALPNProtocols: ['acme-tls/1'],
        }),
    },
    {
      file: 'node-h2.bin',
      client: "node tls.connect ALPNProtocols ['h2', 'http/1.1']",
      sni: 'node.gatehouse.test',
      alpn: ['h2', 'http/1.1'],
      run: () =>
        captureFromNode(server, 'node h2', {
          port,
          servername: 'node.gatehouse.test',
          ALPNProtocols: ['h2', 'http/1.1'],
        }),
    },
  ];

  try {
    for (const c of clients) {
      const bytes = await c.run();
      writeFileSync(path.join(fixtures, c.file), bytes);
      captured.push({
        file: c.file,
        origin: 'captured',
        client: c.client,
        status: 'ok',
        sni: c.sni,
        alpn: c.alpn,
        acme: c.alpn.includes('acme-tls/1'),
      });
      console.log(`${c.file}: ${bytes.length} bytes`);
    }
  } finally {
    server.close();
    rmSync(chromeDir, { recursive: true, force: true });
  }

  let kept = [];
  try {
    const old = JSON.parse(readFileSync(manifestPath, 'utf8'));
    kept = old.fixtures.filter((f) => f.origin !== 'captured');
  } catch {
    // no manifest yet
  }
  const manifest = { fixtures: [...captured, ...kept] };
  writeFileSync(manifestPath, `${JSON.stringify(manifest, null, 2)}\n`);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  main().catch((err) => {
    console.error(`capture-clienthellos: ${err.stack ?? err}`);
    process.exit(1);
  });
}
