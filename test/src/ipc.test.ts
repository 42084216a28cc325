/**
 * The supervisor's IPC boundary against real misbehaving child processes:
 * refused requests come back as errors, malformed frames are logged and
 * survived, the child's channel still works afterwards, and a child that
 * hangs is found by its missed pings.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fixture, startSupervisor, until, type TestSupervisor } from './harness/supervisor.js';

describe('IPC allow-list and malformed messages', () => {
  let run: TestSupervisor;
  const report = path.join(os.tmpdir(), `gatehouse-rogue-${process.pid}.json`);

  before(async () => {
    process.env.ROGUE_REPORT = report;
    run = await startSupervisor({ entries: { 'acme-agent': fixture('rogue-child') } });
  });

  after(async () => {
    await run.stop();
    delete process.env.ROGUE_REPORT;
    fs.rmSync(report, { force: true });
  });

  it('answers requests outside the allow-list with an error, and survives garbage', async () => {
    await until(
      () => run.supervisor.health().roles['acme-agent'].state === 'up',
      15_000,
      'the rogue child becoming ready',
    );

    assert.deepEqual(JSON.parse(fs.readFileSync(report, 'utf8')), {
      forbidden: 'forbidden',
      unknownType: 'unknown_type',
    });

    const refusals = run.lines
      .filter((line) => line.msg === 'refused a message from a child')
      .map((line) => String(line.problem));
    const expected = [
      /^frame is not JSON$/,
      /^malformed envelope: /,
      /^frame of 2097152 bytes exceeds the limit and was dropped$/,
      /^unknown event type "worker.hijack"$/,
      /^request child.shutdown refused: role acme-agent may not send child.shutdown$/,
      /^request nothing.here refused: unknown request type "nothing.here"$/,
    ];
    for (const pattern of expected) {
      assert.ok(
        refusals.some((problem) => pattern.test(problem)),
        `no refusal matching ${pattern} in ${JSON.stringify(refusals)}`,
      );
    }

    const agent = run.supervisor.childInfo().find((child) => child.role === 'acme-agent');
    assert.equal(agent?.state, 'running');
    assert.equal(agent.restarts, 0);
  });
});

describe('a child that stops answering', () => {
  let run: TestSupervisor;

  before(async () => {
    run = await startSupervisor({
      entries: { keyvault: fixture('stuck-child') },
      backoff: {
        initialMs: 100,
        maxMs: 1_000,
        resetAfterMs: 30_000,
        readyTimeoutMs: 10_000,
        heartbeatMs: 200,
        missedHeartbeats: 2,
      },
    });
  });

  after(async () => {
    await run.stop();
  });

  it('is killed after missed pings and restarted', async () => {
    const keyvault = () => run.supervisor.childInfo().find((child) => child.role === 'keyvault');
    await until(() => (keyvault()?.restarts ?? 0) >= 1, 15_000, 'a restart of the stuck keyvault');
    assert.equal(keyvault()?.lastExit, 'signal SIGKILL');
  });
});

describe('requests passed between children by the supervisor', () => {
  const report = path.join(os.tmpdir(), `gatehouse-asking-${process.pid}.json`);

  before(() => {
    process.env.ASKING_REPORT = report;
  });

  after(() => {
    delete process.env.ASKING_REPORT;
    fs.rmSync(report, { force: true });
  });

  it('reach the keyvault when allowed, and are refused when not', async () => {
    const run = await startSupervisor({
      entries: { keyvault: fixture('canned-keyvault'), 'acme-agent': fixture('asking-agent') },
    });
    try {
      await until(
        () => run.supervisor.health().roles['acme-agent'].state === 'up',
        15_000,
        'the asking agent finishing',
      );
      assert.deepEqual(JSON.parse(fs.readFileSync(report, 'utf8')), {
        accountKey: {
          ok: {
            keyId: 'key_canned',
            jwk: { kty: 'EC', crv: 'P-256', x: 'x', y: 'y' },
            thumbprint: 'for ca.test',
          },
        },
        bundle: {
          error: 'forbidden',
          message: 'role acme-agent may not send keyvault.bundle',
        },
      });
    } finally {
      await run.stop();
    }
  });

  it('get "unavailable" while the answering role is down', async () => {
    const run = await startSupervisor({
      entries: { keyvault: fixture('crashing-child'), 'acme-agent': fixture('asking-agent') },
    });
    try {
      await until(
        () => run.supervisor.health().roles['acme-agent'].state === 'up',
        15_000,
        'the asking agent finishing',
      );
      const result = JSON.parse(fs.readFileSync(report, 'utf8')) as {
        accountKey: { error: string; message: string };
      };
      assert.equal(result.accountKey.error, 'unavailable');
      assert.match(result.accountKey.message, /the keyvault is not running; retry shortly/);
    } finally {
      await run.stop();
    }
  });
});
