/**
 * The Pebble harness against the real Pebble: the directory over HTTPS
 * trusting only the throwaway CA, the issuing root, nonces, challtestsrv's
 * DNS answers, and a stop that leaves no process and no temp dir behind.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promises as dns } from 'node:dns';
import { run } from './harness/clients.js';
import { Pebble, PebbleStartError } from './harness/pebble.js';
import { freePort } from './harness/ports.js';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function resolver(port: number): dns.Resolver {
  const resolver = new dns.Resolver({ timeout: 1_000, tries: 1 });
  resolver.setServers([`127.0.0.1:${port}`]);
  return resolver;
}

describe('Pebble as the test CA', () => {
  let pebble: Pebble;

  before(async () => {
    pebble = await Pebble.start({
      httpPort: await freePort(),
      tlsPort: await freePort(),
      certificateValiditySeconds: 3_600,
    });
  });

  after(() => pebble.stop());

  it('serves the directory over HTTPS to a client trusting only trustFile', async () => {
    const trusted = await run('curl', [
      '-sS',
      '--max-time',
      '10',
      '--cacert',
      pebble.trustFile,
      pebble.directoryUrl,
    ]);
    assert.equal(trusted.code, 0, trusted.stderr);
    const directory = JSON.parse(trusted.stdout) as Record<string, unknown>;
    for (const resource of ['newNonce', 'newAccount', 'newOrder']) {
      assert.match(String(directory[resource]), /^https:\/\/127\.0\.0\.1:\d+\//, resource);
    }

    // Without the trust file the same client refuses it: the trust is real.
    const untrusted = await run('curl', ['-sS', '--max-time', '10', pebble.directoryUrl]);
    assert.notEqual(untrusted.code, 0);
    assert.match(untrusted.stderr, /certificate/i);
  });

  it('hands out a Replay-Nonce on HEAD newNonce', async () => {
    const directory = JSON.parse((await pebble.request(pebble.directoryUrl)).body) as {
      newNonce: string;
    };
    const first = await pebble.request(directory.newNonce, 'HEAD');
    const second = await pebble.request(directory.newNonce, 'HEAD');
    assert.equal(first.status, 200);
    assert.match(String(first.headers['replay-nonce']), /^[A-Za-z0-9_-]{16,}$/);
    assert.notEqual(first.headers['replay-nonce'], second.headers['replay-nonce']);
  });

  it('serves an issuing root that openssl reads as a CA, apart from the HTTPS CA', async () => {
    const root = await pebble.rootPem();
    const parsed = await run(
      'openssl',
      ['x509', '-noout', '-subject', '-ext', 'basicConstraints'],
      {
        input: root,
      },
    );
    assert.equal(parsed.code, 0, parsed.stderr);
    assert.match(parsed.stdout, /CA:TRUE/);
    assert.match(parsed.stdout, /Pebble Root CA/);
    assert.notEqual(root.trim(), fs.readFileSync(pebble.trustFile, 'utf8').trim());
  });

  it('resolves every name to 127.0.0.1 and gives no AAAA answer', async () => {
    assert.deepEqual(await resolver(pebble.dnsPort).resolve4('a.gatehouse.test'), ['127.0.0.1']);
    await assert.rejects(resolver(pebble.dnsPort).resolve6('a.gatehouse.test'), {
      code: 'ENODATA',
    });
  });

  it('passes the certificate validity to Pebble', () => {
    assert.match(pebble.output(), /certificate validity period of 3600 seconds/);
  });
});

describe('Pebble start and stop', () => {
  it('makes a new issuing root at every start, and stop leaves nothing behind', async () => {
    const options = { httpPort: await freePort(), tlsPort: await freePort() };
    const first = await Pebble.start(options);
    let second: Pebble | undefined;
    try {
      second = await Pebble.start(options);
      assert.notEqual(await first.rootPem(), await second.rootPem());
    } finally {
      await Promise.all([first.stop(), second?.stop()]);
    }

    for (const pebble of [first, second]) {
      assert.ok(pebble);
      assert.equal(pebble.pids.length, 2);
      for (const pid of pebble.pids) assert.equal(alive(pid), false, `pid ${pid} still alive`);
      assert.equal(fs.existsSync(pebble.dir), false);
      await pebble.stop(); // a second stop is harmless
    }
  });

  it('stops within the grace period on SIGTERM', async () => {
    const pebble = await Pebble.start({ httpPort: await freePort(), tlsPort: await freePort() });
    const started = Date.now();
    await pebble.stop();
    assert.ok(Date.now() - started < 5_000, `stop took ${Date.now() - started} ms`);
  });

  it('reports a Pebble that exits at once, with its output, and cleans up', async () => {
    const before = new Set(fs.readdirSync(os.tmpdir()));
    const script = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'gatehouse-fake-')), 'pebble');
    after(() => {
      fs.rmSync(path.dirname(script), { recursive: true, force: true });
    });
    fs.writeFileSync(script, '#!/bin/sh\necho "config refused: bad listenAddress" >&2\nexit 3\n', {
      mode: 0o755,
    });

    const attempt = Pebble.start({
      httpPort: await freePort(),
      tlsPort: await freePort(),
      pebbleBinary: script,
    });
    await assert.rejects(attempt, (error: unknown) => {
      assert.ok(error instanceof PebbleStartError);
      assert.match(error.message, /exited with code 3/);
      assert.match(error.message, /config refused: bad listenAddress/);
      return true;
    });
    const left = fs
      .readdirSync(os.tmpdir())
      .filter((name) => !before.has(name) && name.startsWith('gatehouse-pebble-'));
    assert.deepEqual(left, []);
  });

  it('says how to install Pebble when the binary is missing', async () => {
    await assert.rejects(
      Pebble.start({
        httpPort: await freePort(),
        tlsPort: await freePort(),
        pebbleBinary: 'gatehouse-no-such-pebble',
      }),
      /gatehouse-no-such-pebble not found \(install it: apt-get install pebble\)/,
    );
  });

  it('refuses a port that is not one, before starting anything', async () => {
    await assert.rejects(Pebble.start({ httpPort: 70_000, tlsPort: 1 }), {
      name: 'RangeError',
      message: /httpPort must be a port number from 1 to 65535, not 70000/,
    });
  });
});
