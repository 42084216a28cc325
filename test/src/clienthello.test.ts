/**
 * The acceptor in front of a running gateway, with ClientHellos as real
 * clients send them and as hostile or broken ones do: split into many TCP
 * segments and TLS records, not TLS at all, malformed, oversized, never
 * sent, or sent by hundreds of stalled clients at once.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { curl, sClient } from './harness/clients.js';
import { Gatehouse, REPO_ROOT } from './harness/gatehouse.js';
import { rawExchange, shapedGet } from './harness/tls-wire.js';

const FIXTURES = path.join(REPO_ROOT, 'gateway/native/test/fixtures/clienthello');

interface Fixture {
  file: string;
  status: string;
  client?: string;
}

/** CPU seconds (user + system) a process used while `ms` passed. */
async function cpuUsedDuring(pid: number, ms: number): Promise<number> {
  const read = (): number => {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // utime and stime are fields 14 and 15 of stat(5); clock ticks are 100 Hz on Linux.
    return (Number(fields[11]) + Number(fields[12])) / 100;
  };
  const before = read();
  await new Promise((resolve) => setTimeout(resolve, ms));
  return read() - before;
}

describe('ClientHellos against the running gateway', () => {
  let gatehouse: Gatehouse;
  let workerPid: number;

  before(async () => {
    gatehouse = await Gatehouse.start({ workers: 1, extraArgs: ['--hello-timeout', '1'] });
    const worker = (await gatehouse.processes()).find((row) => row.role === 'worker');
    assert.ok(worker?.pid);
    workerPid = worker.pid;
  });

  after(async () => {
    await gatehouse.cleanup();
  });

  const servesNormally = async (): Promise<void> => {
    const result = await curl(`https://127.0.0.1:${gatehouse.httpsPort}/`);
    assert.match(result.stdout, /\n200$/, result.stderr);
  };

  it('serves a ClientHello sent one byte per TCP segment', async () => {
    const response = await shapedGet(gatehouse.httpsPort, { bytewiseDelayMs: 1 });
    assert.match(response, /^HTTP\/1\.1 200 OK/);
  });

  it('serves a ClientHello cut into 50-byte TLS records', async () => {
    const response = await shapedGet(gatehouse.httpsPort, { recordSize: 50 });
    assert.match(response, /^HTTP\/1\.1 200 OK/);
  });

  it('serves a ClientHello cut into 7-byte records, sent a byte at a time', async () => {
    const response = await shapedGet(gatehouse.httpsPort, { recordSize: 7, bytewiseDelayMs: 0 });
    assert.match(response, /^HTTP\/1\.1 200 OK/);
  });

  it('tells a plain HTTP client that this port speaks HTTPS', async () => {
    const exchange = await rawExchange(
      gatehouse.httpsPort,
      Buffer.from('GET / HTTP/1.1\r\nHost: localhost\r\n\r\n'),
    );
    const [head = '', body] = exchange.received.toString('latin1').split('\r\n\r\n');
    assert.match(head, /^HTTP\/1\.1 400 /);
    assert.match(body ?? '', /HTTPS/);
    assert.equal(Number(/content-length: (\d+)/i.exec(head)?.[1]), Buffer.byteLength(body ?? ''));
    assert.ok(exchange.closedAfterMs < 1_000, `closed after ${exchange.closedAfterMs} ms`);
  });

  it('closes every malformed, oversized or non-TLS fixture at once', async () => {
    const manifest = JSON.parse(fs.readFileSync(path.join(FIXTURES, 'manifest.json'), 'utf8')) as {
      fixtures: Fixture[];
    };
    const hostile = manifest.fixtures.filter((f) =>
      ['malformed', 'too_large', 'not_tls'].includes(f.status),
    );
    assert.ok(hostile.length >= 20, `only ${hostile.length} hostile fixtures`);

    for (const fixture of hostile) {
      const bytes = fs.readFileSync(path.join(FIXTURES, fixture.file));
      const exchange = await rawExchange(gatehouse.httpsPort, bytes);
      assert.ok(
        exchange.closedAfterMs < 900,
        `${fixture.file}: closed after ${exchange.closedAfterMs} ms`,
      );
      const first = exchange.received[0];
      // Nothing, a TLS alert record, or the plain-HTTP explanation.
      assert.ok(
        first === undefined || first === 0x15 || first === 0x48,
        `${fixture.file}: unexpected answer ${exchange.received.subarray(0, 16).toString('hex')}`,
      );
      if (first === 0x15)
        assert.equal(exchange.received[5], 2, `${fixture.file}: alert is not fatal`);
    }
    await servesNormally();
  });

  it('closes a client that sends nothing after the hello timeout', async () => {
    const exchange = await rawExchange(gatehouse.httpsPort, Buffer.alloc(0));
    assert.equal(exchange.received.length, 0);
    assert.ok(
      exchange.closedAfterMs >= 800 && exchange.closedAfterMs < 3_000,
      `closed after ${exchange.closedAfterMs} ms, expected about 1000`,
    );
  });

  it('closes a client that sends half a ClientHello and then FIN', async () => {
    const hello = fs.readFileSync(path.join(FIXTURES, 'curl-http11.bin'));
    const exchange = await rawExchange(gatehouse.httpsPort, hello.subarray(0, 100), { end: true });
    assert.ok(exchange.closedAfterMs < 500, `closed after ${exchange.closedAfterMs} ms`);
  });

  it('refuses acme-tls/1 with no pending challenge by an immediate alert', async () => {
    const result = await sClient([
      '-connect',
      `127.0.0.1:${gatehouse.httpsPort}`,
      '-servername',
      'example.test',
      '-alpn',
      'acme-tls/1',
    ]);
    assert.notEqual(result.code, 0);
    assert.match(result.stderr, /no application protocol|alert number 120/i);
    assert.ok(result.ms < 3_000, `took ${result.ms} ms`);
    await servesNormally();
  });

  it('holds 400 stalled half-sent ClientHellos without burning CPU, and keeps serving', async () => {
    const hello = fs.readFileSync(path.join(FIXTURES, 'chromium.bin'));
    const sockets: net.Socket[] = [];
    try {
      for (let i = 0; i < 400; i += 1) {
        const socket = net.connect({ host: '127.0.0.1', port: gatehouse.httpsPort });
        socket.on('error', () => undefined);
        socket.setNoDelay(true);
        socket.write(hello.subarray(0, 5 + (i % 50) * 20));
        sockets.push(socket);
      }
      await new Promise((resolve) => setTimeout(resolve, 300));

      const used = await cpuUsedDuring(workerPid, 600);
      assert.ok(
        used < 0.15,
        `worker used ${used.toFixed(2)} s of CPU in 0.6 s while clients stalled`,
      );

      await servesNormally();
    } finally {
      for (const socket of sockets) socket.destroy();
    }
  });
});

describe('a worker out of file descriptors', () => {
  let gatehouse: Gatehouse;

  before(async () => {
    // A worker needs about 22 descriptors of its own, and more while Node
    // loads modules at start; 256 lets it start and runs out fast.
    gatehouse = await Gatehouse.start({
      workers: 1,
      wrapper: ['prlimit', '--nofile=256:256'],
      extraArgs: ['--hello-timeout', '60'],
    });
  });

  after(async () => {
    await gatehouse.cleanup();
  });

  it('backs off without spinning on EMFILE and serves again once clients leave', async () => {
    const worker = (await gatehouse.processes()).find((row) => row.role === 'worker');
    assert.ok(worker?.pid);
    const sockets: net.Socket[] = [];
    try {
      for (let i = 0; i < 400; i += 1) {
        const socket = net.connect({ host: '127.0.0.1', port: gatehouse.httpsPort });
        socket.on('error', () => undefined);
        sockets.push(socket);
      }
      await new Promise((resolve) => setTimeout(resolve, 500));
      const fds = fs.readdirSync(`/proc/${worker.pid}/fd`).length;
      assert.ok(fds >= 250, `the worker holds only ${fds} fds: the limit was never reached`);

      const used = await cpuUsedDuring(worker.pid, 1_000);
      assert.ok(used < 0.2, `worker used ${used.toFixed(2)} s of CPU in 1 s at its fd limit`);
    } finally {
      for (const socket of sockets) socket.destroy();
    }

    await gatehouse.waitFor(async () => {
      const result = await curl(`https://127.0.0.1:${gatehouse.httpsPort}/`);
      return /\n200$/.test(result.stdout);
    }, 5_000);
    const after = (await gatehouse.processes()).find((row) => row.role === 'worker');
    assert.equal(after?.pid, worker.pid);
    assert.equal(after.restarts, 0);
  });
});
