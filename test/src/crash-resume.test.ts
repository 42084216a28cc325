/**
 * Orders survive crashes: against a real Pebble that waits before it
 * validates (no PEBBLE_VA_NOSLEEP), each of the acme-agent, the keyvault and
 * a worker is killed with SIGKILL while an order waits for validation. The
 * certificate is still obtained, once: one order, one certificate_obtained
 * event, one certificate in the vault, and it is served. An order the CA
 * created in the moment the acme-agent died, before Gatehouse kept its URL,
 * is found again among the account's orders.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  type AcmeEventRow,
  type WithPebble,
  acmeEvents,
  addDomain,
  certified,
  count,
  startWithPebble,
  until,
  vaultCertificates,
} from './harness/acme-checks.js';
import { CaProxy } from './harness/ca-proxy.js';
import { Gatehouse } from './harness/gatehouse.js';
import { Pebble } from './harness/pebble.js';
import { freePort } from './harness/ports.js';

describe('an order in flight survives kill -9 of a Gatehouse process', () => {
  let pebble: Pebble | undefined;
  let gatehouse: Gatehouse | undefined;
  let setup: WithPebble | undefined;
  let rootFile = '';

  before(async () => {
    setup = await startWithPebble({
      challenges: 'tls-alpn-01',
      // Pebble sleeps a few seconds before each validation: the window to kill in.
      pebbleEnv: { PEBBLE_VA_NOSLEEP: '0', PEBBLE_AUTHZREUSE: '0' },
      env: { GATEHOUSE_ACME_RETRY_SCHEDULE: '1,2,3' },
    });
    ({ pebble, gatehouse, rootFile } = setup);
  });

  after(() => setup?.stop());

  for (const victim of ['acme-agent', 'keyvault', 'worker'] as const) {
    it(`obtains the certificate once when the ${victim} is killed at challenge_ready`, async () => {
      assert.ok(gatehouse && pebble);
      const ga = gatehouse;
      const name = `${victim}.crash.example`;
      await addDomain(ga, name);

      await until(`challenge_ready for ${name}`, 60_000, async () => {
        const events = await acmeEvents(ga, name);
        return count(events, 'challenge_ready') > 0 ? true : undefined;
      });
      const rows = await ga.processes();
      const target = rows.find(
        (row) => row.role === victim && (victim !== 'worker' || row.instance === 1),
      );
      assert.ok(target?.pid, `a running ${victim} in ${JSON.stringify(rows)}`);
      process.kill(target.pid, 'SIGKILL');

      await certified(ga, name, rootFile, 120_000);
      const events = await acmeEvents(ga, name);
      const summary = summarize(events);
      assert.equal(count(events, 'certificate_obtained'), 1, summary);
      assert.equal(count(events, 'order_created'), 1, `no second order: ${summary}`);
      if (victim === 'acme-agent') {
        assert.ok(count(events, 'order_resumed') >= 1, `the new agent resumed: ${summary}`);
      }
      const certificates = await vaultCertificates(ga, name);
      assert.equal(certificates.length, 1, JSON.stringify(certificates));

      // The killed process was replaced by a new one.
      const after = await ga.processes();
      const replaced = after.find(
        (row) => row.role === victim && (victim !== 'worker' || row.instance === 1),
      );
      assert.ok(replaced?.pid && replaced.pid !== target.pid, JSON.stringify(replaced));
      assert.ok((replaced.restarts ?? 0) >= 1);
    });
  }
});

function summarize(events: readonly AcmeEventRow[]): string {
  return events
    .map(
      (event) =>
        `${event.type}${event.payload.problem ? ` ${JSON.stringify(event.payload.problem)}` : ''}`,
    )
    .join('\n');
}

describe('an order in flight survives kill -9 of the supervisor', () => {
  let pebble: Pebble | undefined;
  const runs: Gatehouse[] = [];
  let scratch: string | undefined;

  after(async () => {
    for (const run of runs.reverse()) await run.cleanup();
    await pebble?.stop();
    if (scratch) fs.rmSync(scratch, { recursive: true, force: true });
  });

  it('resumes the order from state.db when Gatehouse is started again', async () => {
    const httpsPort = await freePort();
    const httpPort = await freePort();
    pebble = await Pebble.start({
      httpPort,
      tlsPort: httpsPort,
      env: { PEBBLE_VA_NOSLEEP: '0', PEBBLE_AUTHZREUSE: '0' },
    });
    scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'gatehouse-crash-test-'));
    const rootFile = path.join(scratch, 'pebble-root.pem');
    fs.writeFileSync(rootFile, await pebble.rootPem());
    const dataDir = path.join(scratch, 'data');
    fs.mkdirSync(dataDir);
    const start = async (): Promise<Gatehouse> => {
      assert.ok(pebble);
      const run = await Gatehouse.start({
        dataDir,
        httpsPort,
        httpPort,
        workers: 1,
        env: { GATEHOUSE_ACME_RETRY_SCHEDULE: '1,2,3' },
        extraArgs: [
          ...['--acme-directory', pebble.directoryUrl, '--acme-trust', pebble.trustFile],
          ...['--acme-challenge', 'tls-alpn-01'],
        ],
      });
      runs.push(run);
      return run;
    };

    const first = await start();
    const name = 'supervisor.crash.example';
    await addDomain(first, name);
    await until(`challenge_ready for ${name}`, 60_000, async () => {
      const events = await acmeEvents(first, name);
      return count(events, 'challenge_ready') > 0 ? true : undefined;
    });
    const supervisorPid = (await first.processes()).find((row) => row.role === 'supervisor')?.pid;
    assert.ok(supervisorPid);
    process.kill(supervisorPid, 'SIGKILL');
    // Each child sees its pipe close and exits: none outlives the supervisor.
    await until('every child of the killed supervisor to exit', 15_000, () =>
      Promise.resolve(first.livePids().length === 0 ? true : undefined),
    );

    const second = await start();
    await certified(second, name, rootFile, 120_000);
    const events = await acmeEvents(second, name);
    const summary = summarize(events);
    assert.equal(count(events, 'certificate_obtained'), 1, summary);
    assert.equal((await vaultCertificates(second, name)).length, 1);
    // The new agent took the journaled order up. It completes unless Pebble
    // validated while no Gatehouse was running (nothing answered, so Pebble
    // marked the order invalid); then exactly one new order replaces it.
    const invalidated = second.output.some((line) =>
      /journaled order cannot complete.*"status":"invalid".*Failed to connect/.test(line),
    );
    if (invalidated) {
      assert.equal(count(events, 'order_created'), 2, `one replacement order: ${summary}`);
    } else {
      assert.ok(count(events, 'order_resumed') >= 1, `resumed: ${summary}`);
      assert.equal(count(events, 'order_created'), 1, `no second order: ${summary}`);
    }
  });
});

describe('orders the CA created or refused at the moment of a failure', () => {
  let pebble: Pebble | undefined;
  let proxy: CaProxy | undefined;
  let gatehouse: Gatehouse | undefined;
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'gatehouse-lost-order-'));
  const rootFile = path.join(scratch, 'pebble-root.pem');

  before(async () => {
    const httpsPort = await freePort();
    const httpPort = await freePort();
    pebble = await Pebble.start({ httpPort, tlsPort: httpsPort });
    // Gatehouse reaches Pebble only through the proxy, which fails on cue.
    proxy = await CaProxy.start(path.join(scratch, 'proxy'), pebble);
    gatehouse = await Gatehouse.start({
      httpsPort,
      httpPort,
      workers: 1,
      env: { GATEHOUSE_ACME_RETRY_SCHEDULE: '1,2,3' },
      extraArgs: [
        ...['--acme-directory', proxy.directoryUrl, '--acme-trust', proxy.trustFile],
        ...['--acme-challenge', 'tls-alpn-01'],
      ],
    });
    fs.writeFileSync(rootFile, await pebble.rootPem());
  });

  after(async () => {
    await gatehouse?.cleanup();
    await proxy?.stop();
    await pebble?.stop();
    fs.rmSync(scratch, { recursive: true, force: true });
  });

  it("finds an order lost in a crash among the account's orders, and places no second", async () => {
    assert.ok(gatehouse && proxy);
    const ga = gatehouse;
    // The CA creates the first order; the acme-agent dies before it reads the answer.
    let killed: number | undefined;
    proxy.onNewOrder = async () => {
      if (killed !== undefined) return 'pass';
      const agent = (await ga.processes()).find((row) => row.role === 'acme-agent');
      assert.ok(agent?.pid, 'a running acme-agent');
      killed = agent.pid;
      process.kill(agent.pid, 'SIGKILL');
      return 'drop';
    };
    const name = 'lost-order.crash.example';
    await addDomain(ga, name);

    await certified(ga, name, rootFile, 120_000);
    const events = await acmeEvents(ga, name);
    const summary = summarize(events);
    assert.ok(killed, 'the acme-agent was killed at newOrder');
    assert.equal(proxy.ordersCreated, 1, `the CA created one order only: ${summary}`);
    assert.ok(count(events, 'order_resumed') >= 1, `the new agent took it up: ${summary}`);
    assert.equal(count(events, 'certificate_obtained'), 1, summary);
    assert.equal((await vaultCertificates(ga, name)).length, 1);
  });

  it('answers a challenge again when the CA refused the first answer', async () => {
    assert.ok(gatehouse && proxy);
    proxy.failChallengeAnswers = 1;
    const name = 'refused-answer.crash.example';
    await addDomain(gatehouse, name);
    await certified(gatehouse, name, rootFile, 60_000);
    const events = await acmeEvents(gatehouse, name);
    const summary = summarize(events);
    assert.equal(proxy.failChallengeAnswers, 0, 'the answer was refused once');
    assert.ok(
      events.some((event) => event.payload.problem?.type.endsWith(':serverInternal')),
      summary,
    );
    assert.equal(count(events, 'order_created'), 1, `the same order, taken up: ${summary}`);
    assert.equal(count(events, 'certificate_obtained'), 1, summary);
  });
});
