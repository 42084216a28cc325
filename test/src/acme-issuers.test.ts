/**
 * Several CAs against real Pebbles: a list whose first CAs refuse (one
 * unreachable, one bound by External Account Binding with a wrong key)
 * falls through to a working one, which hands out the preferred chain;
 * a CA that needs EAB issues with the right key; the per-CA new-order cap
 * queues a name instead of failing it, also after the acme-agent is killed
 * and started again; and bad issuers files stop
 * `gatehouse run` with a message naming the field.
 */
import assert from 'node:assert/strict';
import { X509Certificate, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { addDomain, served, until } from './harness/acme-checks.js';
import { run } from './harness/clients.js';
import { GATEHOUSE_BIN, Gatehouse } from './harness/gatehouse.js';
import { Pebble } from './harness/pebble.js';
import { freePort } from './harness/ports.js';

interface EventRow {
  type: string;
  issuer?: string;
  identifiers?: { value: string }[];
  problem?: { type: string; detail?: string };
  action?: string;
  waitReason?: string;
  orderAt?: string;
  detail?: string;
}

const RIGHT_KEY = randomBytes(32).toString('base64url');
const WRONG_KEY = randomBytes(32).toString('base64url');

async function events(gatehouse: Gatehouse): Promise<EventRow[]> {
  const { controlRequest } = await import('@gatehouse/gateway/control');
  const response = await controlRequest(gatehouse.socketPath, 'GET', '/v1/events?limit=1000');
  assert.equal(response.status, 200, JSON.stringify(response.body));
  // Each row keeps the event's type beside its payload.
  return (response.body as { events: { type: string; payload: EventRow }[] }).events.map((row) => ({
    ...row.payload,
    type: row.type,
  }));
}

function commonName(pem: string): string {
  const line = new X509Certificate(pem).subject.split('\n').find((l) => l.startsWith('CN='));
  assert.ok(line, 'the alternate root has a common name');
  return line.slice(3);
}

describe('several CAs, External Account Binding and the preferred chain (real Pebble)', () => {
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'gatehouse-issuers-test-'));
  const pebbles: Pebble[] = [];
  const gatehouses: Gatehouse[] = [];
  /** Pebble requiring EAB, validating through `bound`. */
  let eabPebble: Pebble;
  /** Pebble with one alternate root, validating through `listed`. */
  let plainPebble: Pebble;
  let listed: Gatehouse;
  let bound: Gatehouse;
  /** Uses the EAB Pebble without a binding. */
  let unbound: Gatehouse;
  let unreachable = '';
  let alternateRootFile = '';
  let defaultRootFile = '';
  let eabRootFile = '';

  before(async () => {
    const ports = {
      listed: { https: await freePort(), http: await freePort() },
      bound: { https: await freePort(), http: await freePort() },
    };
    eabPebble = await Pebble.start({
      httpPort: ports.bound.http,
      tlsPort: ports.bound.https,
      externalAccountMacKeys: { 'kid-1': RIGHT_KEY },
    });
    pebbles.push(eabPebble);
    plainPebble = await Pebble.start({
      httpPort: ports.listed.http,
      tlsPort: ports.listed.https,
      env: { PEBBLE_ALTERNATE_ROOTS: '1' },
    });
    pebbles.push(plainPebble);

    defaultRootFile = path.join(scratch, 'root-0.pem');
    alternateRootFile = path.join(scratch, 'root-1.pem');
    eabRootFile = path.join(scratch, 'eab-root.pem');
    fs.writeFileSync(defaultRootFile, await plainPebble.rootPem(0));
    const alternateRoot = await plainPebble.rootPem(1);
    fs.writeFileSync(alternateRootFile, alternateRoot);
    fs.writeFileSync(eabRootFile, await eabPebble.rootPem());

    // Nothing listens there: the first CA of the list cannot be reached at all.
    unreachable = `https://127.0.0.1:${await freePort()}/dir`;
    const listedFile = path.join(scratch, 'listed.json');
    fs.writeFileSync(
      listedFile,
      JSON.stringify({
        issuers: [
          { directory: unreachable },
          {
            directory: eabPebble.directoryUrl,
            trust: eabPebble.trustFile,
            externalAccountBinding: { keyId: 'kid-1', hmacKey: WRONG_KEY },
          },
          {
            directory: plainPebble.directoryUrl,
            trust: plainPebble.trustFile,
            email: 'ops@example.com',
            preferredChain: commonName(alternateRoot),
          },
        ],
      }),
    );
    const boundFile = path.join(scratch, 'bound.json');
    fs.writeFileSync(
      boundFile,
      JSON.stringify({
        issuers: [
          {
            directory: eabPebble.directoryUrl,
            trust: eabPebble.trustFile,
            externalAccountBinding: { keyId: 'kid-1', hmacKey: RIGHT_KEY },
            newOrders: { orders: 1, periodSeconds: 3600 },
          },
        ],
      }),
    );
    listed = await Gatehouse.start({
      httpsPort: ports.listed.https,
      httpPort: ports.listed.http,
      workers: 1,
      extraArgs: ['--acme-issuers', listedFile],
    });
    gatehouses.push(listed);
    bound = await Gatehouse.start({
      httpsPort: ports.bound.https,
      httpPort: ports.bound.http,
      workers: 1,
      extraArgs: ['--acme-issuers', boundFile],
    });
    gatehouses.push(bound);
    const unboundFile = path.join(scratch, 'unbound.json');
    fs.writeFileSync(
      unboundFile,
      JSON.stringify({
        issuers: [{ directory: eabPebble.directoryUrl, trust: eabPebble.trustFile }],
      }),
    );
    unbound = await Gatehouse.start({ workers: 1, extraArgs: ['--acme-issuers', unboundFile] });
    gatehouses.push(unbound);
  });

  after(async () => {
    for (const gatehouse of gatehouses) await gatehouse.cleanup();
    for (const pebble of pebbles) await pebble.stop();
    fs.rmSync(scratch, { recursive: true, force: true });
  });

  it('falls through refusing CAs to a working one, naming each failure, with the preferred chain', async () => {
    const name = 'listed.example.com';
    await addDomain(listed, name);
    try {
      await until('the certificate from the third CA', 60_000, async () =>
        (await served(listed.httpsPort, name, alternateRootFile)).verified ? true : undefined,
      );
    } catch (error) {
      const rows = await events(listed);
      throw new Error(
        `${(error as Error).message}\nevents: ${JSON.stringify(rows, null, 1)}\n` +
          listed.output.slice(-30).join('\n'),
      );
    }
    // The chain ends in the alternate root: it does not verify against the default one.
    assert.equal((await served(listed.httpsPort, name, defaultRootFile)).verified, false);

    const rows = await events(listed);
    const failed = rows.filter((row) => row.type === 'certificate_failed');
    const first = failed.find((row) => row.issuer === unreachable);
    assert.ok(first, JSON.stringify(failed));
    assert.match(first.problem?.type ?? '', /^gatehouse:network$/);
    const second = failed.find((row) => row.issuer === eabPebble.directoryUrl);
    assert.ok(second, JSON.stringify(failed));
    assert.match(second.problem?.type ?? '', /^urn:ietf:params:acme:error:/);
    assert.match(second.action ?? '', /did not accept the External Account Binding.*kid-1/);
    const obtained = rows.find((row) => row.type === 'certificate_obtained');
    assert.equal(obtained?.issuer, plainPebble.directoryUrl);

    const everything = JSON.stringify(rows) + listed.output.join('\n');
    assert.ok(!everything.includes(WRONG_KEY), 'the HMAC key is in no event and no log');
  });

  it('obtains a certificate from a CA that requires EAB, with the right key', async () => {
    const name = 'bound.example.com';
    await addDomain(bound, name);
    await until('the certificate from the EAB CA', 60_000, async () =>
      (await served(bound.httpsPort, name, eabRootFile)).verified ? true : undefined,
    );
    const rows = await events(bound);
    assert.equal(
      rows.find((row) => row.type === 'certificate_obtained')?.issuer,
      eabPebble.directoryUrl,
    );
    assert.ok(!(JSON.stringify(rows) + bound.output.join('\n')).includes(RIGHT_KEY));
  });

  it('says what to add when a CA requires EAB and none is given', async () => {
    const name = 'unbound.example.com';
    await addDomain(unbound, name);
    const failed = await until('a certificate_failed event', 20_000, async () =>
      (await events(unbound)).find((row) => row.type === 'certificate_failed'),
    );
    assert.equal(failed.issuer, eabPebble.directoryUrl);
    assert.equal(failed.problem?.type, 'gatehouse:external_account_required');
    assert.match(failed.problem.detail ?? '', /requires External Account Binding/);
    assert.match(failed.action ?? '', /Add "externalAccountBinding"/);
    const types = (await events(unbound)).map((row) => row.type);
    assert.ok(!types.includes('order_created'), types.join(', '));
  });

  it('queues a name past the new-order cap, saying when it will be ordered', async () => {
    // The cap is 1 new order per hour, and bound.example.com took it.
    const name = 'queued.example.com';
    const added = Date.now();
    await addDomain(bound, name);
    const queued = await until('an order_queued event', 20_000, async () =>
      (await events(bound)).find(
        (row) => row.type === 'order_queued' && row.identifiers?.[0]?.value === name,
      ),
    );
    assert.equal(queued.waitReason, 'new_order_rate');
    assert.equal(queued.issuer, eabPebble.directoryUrl);
    const orderAt = Date.parse(queued.orderAt ?? '');
    assert.ok(orderAt > added + 3_000_000 && orderAt < added + 3_700_000, queued.orderAt);
    const rows = await events(bound);
    const forName = rows.filter((row) => row.identifiers?.[0]?.value === name);
    assert.deepEqual(
      forName.map((row) => row.type),
      ['order_queued'],
      'queued, neither ordered nor failed',
    );
  });

  it('keeps the new-order cap when the acme-agent is killed and started again', async () => {
    // queued.example.com waits for bound.example.com's order to refill (test above).
    const name = 'queued.example.com';
    const queuedBefore = (await events(bound)).filter(
      (row) => row.type === 'order_queued' && row.identifiers?.[0]?.value === name,
    ).length;
    assert.ok(queuedBefore >= 1, 'the test above queued the name');
    const agent = (await bound.processes()).find((row) => row.role === 'acme-agent');
    assert.ok(agent?.pid, 'a running acme-agent');
    process.kill(agent.pid, 'SIGKILL');

    // A new agent with a full allowance would order the name at once; this
    // one charges the order the CA created before the kill, and queues it.
    const requeued = await until(
      'an order_queued event from the new acme-agent',
      30_000,
      async () =>
        (await events(bound))
          .filter((row) => row.type === 'order_queued' && row.identifiers?.[0]?.value === name)
          .at(queuedBefore),
    );
    assert.equal(requeued.waitReason, 'new_order_rate');
    const orderAt = Date.parse(requeued.orderAt ?? '');
    assert.ok(
      orderAt > Date.now() + 3_000_000,
      `ordered only after the refill: ${requeued.orderAt}`,
    );
    const replaced = (await bound.processes()).find((row) => row.role === 'acme-agent');
    assert.ok(replaced?.pid && replaced.pid !== agent.pid, JSON.stringify(replaced));
    const types = (await events(bound))
      .filter((row) => row.identifiers?.[0]?.value === name)
      .map((row) => row.type);
    assert.ok(!types.includes('order_created'), `not ordered: ${types.join(', ')}`);
  });
});

describe('bad --acme-issuers files stop gatehouse run', () => {
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'gatehouse-issuers-bad-'));
  after(() => {
    fs.rmSync(scratch, { recursive: true, force: true });
  });

  async function refused(content: string, extra: string[] = []): Promise<string> {
    const file = path.join(scratch, `issuers-${randomBytes(4).toString('hex')}.json`);
    fs.writeFileSync(file, content);
    const data = path.join(scratch, `data-${randomBytes(4).toString('hex')}`);
    const result = await run(
      GATEHOUSE_BIN,
      ['run', '--data', data, '--acme-issuers', file, ...extra],
      { timeoutMs: 15_000 },
    );
    assert.equal(result.code, 1, `exit code; stderr: ${result.stderr}`);
    assert.equal(fs.existsSync(data), false, 'nothing was created');
    return result.stderr;
  }

  it('names the fault and the fix', async () => {
    assert.match(
      await refused(
        `{ "issuers": [ { "directory": "letsencrypt", "externalAccountBinding": { "keyId": "k", "hmacKey": "${RIGHT_KEY}" } }, ] }`,
      ),
      /is not valid JSON \(Unexpected token '\]'\); fix the syntax/,
    );
    assert.match(
      await refused('{ "issuers": [ { "directory": "letsencrypt", "profiles": "x" } ] }'),
      /issuers\[0\]\.profiles is not a known field; known: directory, email/,
    );
    assert.match(
      await refused('{ "issuers": [ { "email": "ops@example.com" } ] }'),
      /issuers\[0\]\.directory is missing; give an https directory URL or "letsencrypt"/,
    );
    assert.match(
      await refused('{ "issuers": [ { "directory": "letsencrypt" } ] }', [
        '--acme-directory',
        'letsencrypt-staging',
      ]),
      /--acme-issuers cannot be combined with --acme-directory: put the CA in the issuers file/,
    );
  });

  it('never prints the HMAC key of a broken file', async () => {
    const stderr = await refused(
      `{ "issuers": [ { "directory": "letsencrypt", "externalAccountBinding": { "keyId": "k", "hmacKey": "${RIGHT_KEY}=" } } ] }`,
    );
    assert.match(stderr, /externalAccountBinding\.hmacKey must be the HMAC key/);
    assert.ok(!stderr.includes(RIGHT_KEY));
  });
});
