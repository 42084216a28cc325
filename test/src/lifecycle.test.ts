/**
 * A whole Gatehouse, started and stopped as a user would: health and
 * process listing over the control socket and the CLI, HTTPS through the
 * acceptor and uWS with curl and openssl, and nothing left behind.
 */
import { randomBytes } from 'node:crypto';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { curl, run, sClient } from './harness/clients.js';
import { controlRequest } from '@gatehouse/gateway/control';
import { GATEHOUSE_BIN, Gatehouse, type ProcessRow } from './harness/gatehouse.js';

describe('gatehouse run', () => {
  let gatehouse: Gatehouse;

  before(async () => {
    gatehouse = await Gatehouse.start({
      workers: 2,
      env: { GATEHOUSE_MASTER_KEY: randomBytes(32).toString('base64') },
    });
  });

  after(async () => {
    await gatehouse.cleanup();
  });

  it('reports every role up on /v1/health', async () => {
    const health = await gatehouse.health();
    assert.equal(health.status, 200);
    assert.deepEqual(health.body, {
      status: 'ok',
      roles: {
        keyvault: { state: 'up', running: 1, expected: 1 },
        'acme-agent': { state: 'up', running: 1, expected: 1 },
        worker: { state: 'up', running: 2, expected: 2 },
      },
    });
  });

  it('lists each process with its role in its process title', async () => {
    const rows = await gatehouse.processes();
    assert.deepEqual(
      rows.map((row) => `${row.role}:${row.instance ?? '-'}:${row.state}`),
      [
        'supervisor:-:running',
        'keyvault:-:running',
        'acme-agent:-:running',
        'worker:1:running',
        'worker:2:running',
      ],
    );
    for (const row of rows) {
      assert.ok(row.pid !== null && row.uptime_ms !== null && row.uptime_ms >= 0);
      assert.equal(row.restarts, 0);
      const title = fs
        .readFileSync(`/proc/${row.pid}/cmdline`, 'utf8')
        .replaceAll('\0', ' ')
        .trim();
      const expected =
        row.role === 'supervisor'
          ? 'gatehouse run'
          : `gatehouse ${row.role}${row.instance === null ? '' : ` ${row.instance}`}`;
      assert.equal(title, expected);
    }
  });

  it('passes the master key to the keyvault and to no other child', async () => {
    for (const row of await gatehouse.processes()) {
      if (row.role === 'supervisor' || row.pid === null) continue;
      const environ = fs.readFileSync(`/proc/${row.pid}/environ`, 'utf8').split('\0');
      const has = environ.some((entry) => entry.startsWith('GATEHOUSE_MASTER_KEY='));
      assert.equal(has, row.role === 'keyvault', `${row.role} ${row.instance ?? ''}`);
    }
  });

  it('makes the control socket private to its owner', () => {
    const mode = fs.statSync(gatehouse.socketPath).mode & 0o777;
    assert.equal(mode.toString(8), '600');
  });

  it('prints status as a table and as JSON through the CLI', async () => {
    const table = await run(GATEHOUSE_BIN, ['status', '--data', gatehouse.dataDir]);
    assert.equal(table.code, 0, table.stderr);
    assert.match(table.stdout, /^Gatehouse: ok$/m);
    assert.match(table.stdout, /^ROLE\s+STATE\s+PID\s+UPTIME\s+RESTARTS\s+LAST EXIT$/m);
    assert.match(table.stdout, /^worker 2\s+running\s+\d+\s+\d+s\s+0\s+-$/m);

    const json = await run(GATEHOUSE_BIN, ['status', '--json', '--data', gatehouse.dataDir]);
    assert.equal(json.code, 0, json.stderr);
    const parsed = JSON.parse(json.stdout) as {
      health: { status: string };
      processes: ProcessRow[];
    };
    assert.equal(parsed.health.status, 'ok');
    assert.equal(parsed.processes.length, 5);
  });

  it('serves HTTPS to curl over IPv4 and IPv6', async () => {
    for (const host of ['127.0.0.1', '[::1]']) {
      const result = await curl(`https://${host}:${gatehouse.httpsPort}/`);
      assert.equal(result.code, 0, result.stderr);
      assert.match(result.stdout, /Gatehouse is running/);
      assert.match(result.stdout, /\n200$/);
    }
  });

  it('serves https://localhost with a certificate that verifies against gatehouse ca root', async () => {
    const root = await run(GATEHOUSE_BIN, ['ca', 'root', '--data', gatehouse.dataDir]);
    assert.equal(root.code, 0, root.stderr);
    assert.match(root.stdout, /^-----BEGIN CERTIFICATE-----\n[\s\S]+-----END CERTIFICATE-----\n$/);
    const rootFile = path.join(gatehouse.dataDir, 'test-root.pem');
    fs.writeFileSync(rootFile, root.stdout);

    // No -k: curl checks the chain against the local root and the name.
    const result = await run('curl', [
      '-sS',
      '--cacert',
      rootFile,
      '--resolve',
      `localhost:${gatehouse.httpsPort}:127.0.0.1`,
      '-w',
      '\n%{http_code}',
      `https://localhost:${gatehouse.httpsPort}/`,
    ]);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /\n200$/);

    const certificates = await controlRequest(gatehouse.socketPath, 'GET', '/v1/certificates');
    const listed = (
      certificates.body as { certificates: { identifiers: unknown[]; issuer: string }[] }
    ).certificates;
    assert.ok(
      listed.some(
        (c) =>
          JSON.stringify(c.identifiers) === '[{"type":"dns","value":"localhost"}]' &&
          /Gatehouse Local/.test(c.issuer),
      ),
      JSON.stringify(listed),
    );
  });

  it('serves HTTPS to openssl s_client with SNI localhost', async () => {
    const result = await sClient(
      ['-connect', `127.0.0.1:${gatehouse.httpsPort}`, '-servername', 'localhost', '-quiet'],
      'GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n',
    );
    assert.match(result.stdout, /^HTTP\/1\.1 200 OK/);
    assert.match(result.stdout, /Gatehouse is running/);
  });

  it('redirects plain HTTP to HTTPS', async () => {
    const result = await run('curl', [
      '-sS',
      '-o',
      '/dev/null',
      '-w',
      '%{http_code} %{redirect_url}',
      `http://127.0.0.1:${gatehouse.httpPort}/a/b?c=d`,
    ]);
    assert.equal(result.stdout, `308 https://127.0.0.1:${gatehouse.httpsPort}/a/b?c=d`);
  });

  it('answers 400 to a plain HTTP request whose Host it cannot redirect to', async () => {
    const result = await run('curl', [
      '-sS',
      '-H',
      'Host: bad host',
      '-w',
      '\n%{http_code}',
      `http://127.0.0.1:${gatehouse.httpPort}/`,
    ]);
    assert.equal(result.stdout, 'Missing or invalid Host header\n\n400');
  });

  it('refuses a second run on the same data directory', async () => {
    const second = await run(GATEHOUSE_BIN, [
      'run',
      '--data',
      gatehouse.dataDir,
      '--https-port',
      '1',
      '--http-port',
      '2',
    ]);
    assert.equal(second.code, 1);
    assert.match(second.stderr, /already running on data directory .* \(pid \d+\)/);
    // The first one is untouched.
    assert.equal((await gatehouse.health()).status, 200);
  });

  it('stops on SIGTERM within 10 s and leaves no process or socket', async () => {
    await stopsCleanly(gatehouse, 'SIGTERM');
  });
});

/** Stop with `signal`: exit 0 within 10 s, no process, socket or lock file left. */
async function stopsCleanly(gatehouse: Gatehouse, signal: NodeJS.Signals): Promise<void> {
  await gatehouse.processes();
  const stopped = await gatehouse.stop(15_000, signal);
  assert.equal(stopped.code, 0);
  assert.ok(stopped.ms < 10_000, `stop took ${stopped.ms} ms`);
  assert.deepEqual(gatehouse.livePids(), []);
  assert.equal(fs.existsSync(gatehouse.socketPath), false);
  assert.equal(fs.existsSync(path.join(gatehouse.dataDir, 'gatehouse.pid')), false);
}

describe('gatehouse run stopped with SIGINT', () => {
  it('drains and leaves nothing behind, as with SIGTERM', async () => {
    const gatehouse = await Gatehouse.start({ workers: 1 });
    try {
      await stopsCleanly(gatehouse, 'SIGINT');
    } finally {
      await gatehouse.cleanup();
    }
  });
});

describe('gatehouse run with bad options', () => {
  it('says what is wrong with a bad port and starts nothing', async () => {
    const result = await run(GATEHOUSE_BIN, [
      'run',
      '--data',
      '/nonexistent/never',
      '--https-port',
      '70000',
    ]);
    assert.equal(result.code, 1);
    assert.match(
      result.stderr,
      /--https-port must be a whole number from 1 to 65535 \(got "70000"\)/,
    );
    assert.equal(fs.existsSync('/nonexistent/never'), false);
  });

  it('says when the data directory cannot be used', async () => {
    const file = path.join(os.tmpdir(), `gatehouse-not-a-dir-${process.pid}`);
    fs.writeFileSync(file, '');
    try {
      const result = await run(GATEHOUSE_BIN, [
        'run',
        '--data',
        file,
        '--https-port',
        '1',
        '--http-port',
        '2',
      ]);
      assert.equal(result.code, 1);
      assert.equal(
        result.stderr,
        `gatehouse: Cannot use data directory ${file}: a file of that name is in the way. ` +
          'Choose another with --data (or GATEHOUSE_DATA), or fix its permissions.\n',
      );
    } finally {
      fs.rmSync(file, { force: true });
    }
  });

  it('names an unknown flag', async () => {
    const result = await run(GATEHOUSE_BIN, ['run', '--colour']);
    assert.equal(result.code, 2);
    assert.match(result.stderr, /--colour/);
  });

  it('tells status that nothing runs there', async () => {
    const result = await run(GATEHOUSE_BIN, ['status', '--data', '/nonexistent/never']);
    assert.equal(result.code, 1);
    assert.match(result.stderr, /Gatehouse is not running on \/nonexistent\/never\/control.sock/);
  });
});
