/**
 * dns-01 end to end with real peers: Gatehouse publishes the challenge's
 * TXT record in a real bind9 (`named`) by RFC 2136 UPDATE signed with TSIG,
 * Pebble resolves through that same bind9 to validate it, and the wildcard
 * certificate it issues is served by SNI and verified by openssl against
 * Pebble's root. A wrong TSIG secret and a bad settings file fail clearly.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { controlRequest } from '@gatehouse/gateway/control';
import { addDomain, served, until } from './harness/acme-checks.js';
import { Bind9 } from './harness/bind9.js';
import { run } from './harness/clients.js';
import { GATEHOUSE_BIN, Gatehouse } from './harness/gatehouse.js';
import { Pebble } from './harness/pebble.js';
import { freePort } from './harness/ports.js';

interface EventRow {
  type: string;
  identifiers?: { value: string }[];
  problem?: { type: string; detail?: string };
  action?: string;
}

let bind: Bind9 | undefined;
let pebble: Pebble | undefined;
let scratch = '';
let rootFile = '';
const started: Gatehouse[] = [];

before(async () => {
  scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'gatehouse-dns01-test-'));
  bind = await Bind9.start({
    zone: 'example.test',
    records: ['wild IN A 127.0.0.1', '*.wild IN A 127.0.0.1'],
    extraKeyNames: ['read-only-key'],
  });
  // dns-01 needs neither port; Pebble wants them set all the same.
  pebble = await Pebble.start({
    httpPort: await freePort(),
    tlsPort: await freePort(),
    dnsServer: bind.address,
  });
  rootFile = path.join(scratch, 'pebble-root.pem');
  fs.writeFileSync(rootFile, await pebble.rootPem());
});

after(async () => {
  try {
    for (const gatehouse of started) await gatehouse.cleanup();
  } finally {
    try {
      await pebble?.stop();
    } finally {
      await bind?.stop();
      fs.rmSync(scratch, { recursive: true, force: true });
    }
  }
});

/** A settings file for --acme-dns-rfc2136, mode 600. */
function settingsFile(name: string, settings: Record<string, unknown>): string {
  const file = path.join(scratch, name);
  fs.writeFileSync(file, JSON.stringify(settings), { mode: 0o600 });
  return file;
}

function goodSettings(): Record<string, unknown> {
  assert.ok(bind);
  return {
    server: bind.address,
    keyName: bind.keyName,
    algorithm: bind.algorithm,
    secret: bind.secret,
    // The zone's NS (ns1.example.test, 127.0.0.1) answers on bind's port, not 53.
    nameserverPort: bind.port,
    propagationTimeout: 30,
  };
}

async function startGatehouse(
  settings: string | undefined,
  extraArgs: string[] = [],
): Promise<Gatehouse> {
  assert.ok(pebble);
  const gatehouse = await Gatehouse.start({
    workers: 1,
    extraArgs: [
      ...['--acme-directory', pebble.directoryUrl, '--acme-trust', pebble.trustFile],
      ...(settings === undefined ? [] : ['--acme-dns-rfc2136', settings]),
      ...extraArgs,
    ],
  });
  started.push(gatehouse);
  return gatehouse;
}

async function events(gatehouse: Gatehouse): Promise<EventRow[]> {
  const response = await controlRequest(gatehouse.socketPath, 'GET', '/v1/events?limit=1000');
  assert.equal(response.status, 200, JSON.stringify(response.body));
  const rows = (response.body as { events: { type: string; payload?: Partial<EventRow> }[] })
    .events;
  return rows.map((row) => ({ ...row.payload, type: row.payload?.type ?? row.type }));
}

function failedFor(rows: EventRow[], name: string): EventRow | undefined {
  return rows.find(
    (row) =>
      row.type === 'certificate_failed' &&
      row.identifiers?.some((identifier) => identifier.value === name),
  );
}

describe('dns-01 through RFC 2136 to a real bind9, validated by Pebble', () => {
  it('serves a wildcard added at run time, verified by openssl, and removes the TXT record', async (t) => {
    assert.ok(bind);
    const gatehouse = await startGatehouse(settingsFile('good.json', goodSettings()));
    const began = Date.now();
    await addDomain(gatehouse, '*.wild.example.test');
    // Not probed before: the keyvault would issue a local-CA leaf for the exact
    // name (.test is a private suffix), and that leaf beats the wildcard.
    await until('certificate_obtained', 60_000, async () =>
      (await events(gatehouse)).find((row) => row.type === 'certificate_obtained'),
    );
    const wildcard = await until('the wildcard certificate', 30_000, async () => {
      const result = await served(gatehouse.httpsPort, 'a.wild.example.test', rootFile);
      return result.verified ? result : undefined;
    }).catch(async (error: unknown) => {
      const last = await served(gatehouse.httpsPort, 'a.wild.example.test', rootFile);
      throw new Error(
        `${(error as Error).message}\nlast s_client:\n${last.output}\nevents: ` +
          `${JSON.stringify(await events(gatehouse))}\ngatehouse:\n${gatehouse.output.slice(-30).join('\n')}` +
          (bind?.output() ?? ''),
      );
    });
    t.diagnostic(`wildcard served ${Date.now() - began} ms after it was added`);
    assert.match(wildcard.output, /issuer=CN ?= ?Pebble Intermediate CA/);
    // Another name under the wildcard gets the same certificate.
    assert.equal(
      (await served(gatehouse.httpsPort, 'b.wild.example.test', rootFile)).verified,
      true,
    );

    // The record was removed before the order went on to finalize.
    assert.deepEqual(await bind.txt('_acme-challenge.wild.example.test'), []);

    // The secret is in no log line, event, or command line.
    const rows = await events(gatehouse);
    assert.ok(
      rows.some((row) => row.type === 'certificate_obtained'),
      JSON.stringify(rows),
    );
    assert.ok(!gatehouse.output.join('\n').includes(bind.secret), 'secret in the logs');
    assert.ok(!JSON.stringify(rows).includes(bind.secret), 'secret in the events');
    const ps = await run('ps', ['-eo', 'pid,args', '--width', '100000']);
    assert.equal(ps.code, 0, ps.stderr);
    assert.ok(!ps.stdout.includes(bind.secret), 'secret in ps output');
  });

  it('answers dns-01 for a plain name when --acme-challenge lists it, in the zone given', async () => {
    assert.ok(bind);
    // "zone" given: the provider skips the SOA lookup.
    const settings = { ...goodSettings(), zone: 'example.test' };
    const gatehouse = await startGatehouse(settingsFile('plain.json', settings), [
      '--acme-challenge',
      'dns-01',
    ]);
    await addDomain(gatehouse, 'plain.example.test');
    await until('certificate_obtained', 60_000, async () =>
      (await events(gatehouse)).find((row) => row.type === 'certificate_obtained'),
    );
    const plain = await served(gatehouse.httpsPort, 'plain.example.test', rootFile);
    assert.equal(plain.verified, true, plain.output);
    const ready = gatehouse.output.find((line) => line.includes('"msg":"challenge ready"'));
    assert.match(ready ?? '', /"challenge_type":"dns-01"/);
    assert.deepEqual(await bind.txt('_acme-challenge.plain.example.test'), []);
  });

  it('ends in certificate_failed saying the key was refused when the secret is wrong, and keeps serving', async () => {
    assert.ok(bind);
    const wrong = Buffer.from(bind.secret, 'base64');
    wrong[0] = (wrong[0] ?? 0) ^ 0xff;
    const wrongSecret = wrong.toString('base64');
    const gatehouse = await startGatehouse(
      settingsFile('wrong-secret.json', { ...goodSettings(), secret: wrongSecret }),
    );
    await addDomain(gatehouse, '*.bad.example.test');
    const failed = await until('a certificate_failed event', 60_000, async () =>
      failedFor(await events(gatehouse), '*.bad.example.test'),
    );
    assert.equal(failed.problem?.type, 'gatehouse:dns_key_refused', JSON.stringify(failed));
    assert.match(failed.problem?.detail ?? '', /TSIG key was refused.*BADSIG/);
    assert.match(failed.action ?? '', /"secret" must match/);
    assert.ok(!JSON.stringify(failed).includes(wrongSecret));
    assert.ok(!gatehouse.output.join('\n').includes(wrongSecret), 'secret in the logs');
    assert.deepEqual(await bind.txt('_acme-challenge.bad.example.test'), []);

    const health = await gatehouse.health();
    assert.equal(health.status, 200, JSON.stringify(health.body));
    const page = await run('curl', [
      '-sk',
      '--max-time',
      '5',
      `https://localhost:${gatehouse.httpsPort}/`,
    ]);
    assert.equal(page.code, 0, page.stderr);
  });

  it('says how to fix allow-update when the server refuses the key', async () => {
    assert.ok(bind);
    const secret = bind.extraSecrets.get('read-only-key') ?? '';
    const gatehouse = await startGatehouse(
      settingsFile('refused.json', { ...goodSettings(), keyName: 'read-only-key', secret }),
    );
    await addDomain(gatehouse, '*.refused.example.test');
    const failed = await until('a certificate_failed event', 60_000, async () =>
      failedFor(await events(gatehouse), '*.refused.example.test'),
    );
    assert.equal(failed.problem?.type, 'gatehouse:dns_update_refused', JSON.stringify(failed));
    assert.match(failed.problem?.detail ?? '', /REFUSED .* the key "read-only-key" was refused/);
    assert.match(failed.action ?? '', /allow-update \{ key "read-only-key"; \}/);
  });

  it('gives up waiting for a name server after propagationTimeout, and still removes the record', async () => {
    assert.ok(bind);
    // Nothing listens on this port: ns1.example.test never answers the TXT value.
    const silent = await freePort();
    const gatehouse = await startGatehouse(
      settingsFile('silent.json', {
        ...goodSettings(),
        nameserverPort: silent,
        propagationTimeout: 5,
      }),
    );
    const began = Date.now();
    await addDomain(gatehouse, '*.slow.example.test');
    const failed = await until('a certificate_failed event', 60_000, async () =>
      failedFor(await events(gatehouse), '*.slow.example.test'),
    );
    const took = Date.now() - began;
    assert.equal(failed.problem?.type, 'gatehouse:dns_propagation_timeout', JSON.stringify(failed));
    assert.match(
      failed.problem?.detail ?? '',
      new RegExp(`gave up after 5 s waiting for 127\\.0\\.0\\.1:${silent} .*ECONNREFUSED`),
    );
    assert.ok(took >= 5_000, `failed after ${took} ms, before the 5 s were up`);
    assert.deepEqual(await bind.txt('_acme-challenge.slow.example.test'), []);
  });

  it('fails a wildcard without a DNS provider with an event naming --acme-dns-rfc2136', async () => {
    const gatehouse = await startGatehouse(undefined);
    await addDomain(gatehouse, '*.wild.example.test');
    const failed = await until('a certificate_failed event', 60_000, async () =>
      failedFor(await events(gatehouse), '*.wild.example.test'),
    );
    assert.equal(failed.problem?.type, 'gatehouse:no_usable_challenge', JSON.stringify(failed));
    assert.match(failed.problem?.detail ?? '', /only dns-01 can validate.*--acme-dns-rfc2136 FILE/);
  });

  it('refuses to start with a bad settings file, naming the field', async () => {
    assert.ok(bind);
    const data = fs.mkdtempSync(path.join(scratch, 'data-'));
    const cases: [string, RegExp][] = [
      [
        settingsFile('no-key.json', { ...goodSettings(), keyName: undefined }),
        /"keyName" is missing/,
      ],
      [
        settingsFile('bad-secret.json', { ...goodSettings(), secret: 'not base64!' }),
        /"secret" must be base64/,
      ],
    ];
    const open = path.join(scratch, 'open.json');
    fs.writeFileSync(open, JSON.stringify(goodSettings()), { mode: 0o644 });
    fs.chmodSync(open, 0o644);
    cases.push([open, /mode is 644.*chmod 600/]);
    for (const [file, message] of cases) {
      const result = await run(GATEHOUSE_BIN, [
        ...['run', '--data', data, '--https-port', String(await freePort())],
        ...['--http-port', String(await freePort()), '--bind', '127.0.0.1'],
        ...['--acme-dns-rfc2136', file],
      ]);
      assert.notEqual(result.code, 0, result.stdout);
      assert.match(result.stderr, /--acme-dns-rfc2136/);
      assert.match(result.stderr, message);
      assert.ok(!result.stderr.includes(bind.secret), 'the secret in the error');
    }
    assert.equal(fs.existsSync(path.join(data, 'state.db')), false, 'nothing stored');
  });
});
