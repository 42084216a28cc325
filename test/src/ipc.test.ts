/**
 * The supervisor's IPC boundary against a real misbehaving child process:
 * refused requests come back as errors, malformed frames are logged and
 * survived, and the child's channel still works afterwards.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { LogStream } from '@gatehouse/gateway/log';
import {
  Supervisor,
  resolveRunOptions,
  type SupervisorOptions,
} from '@gatehouse/gateway/supervisor';
import { freePort } from './harness/ports.js';

const here = path.dirname(fileURLToPath(import.meta.url));

async function startSupervisor(
  dataDir: string,
  extra: Pick<SupervisorOptions, 'logStream' | 'entries'> & Partial<SupervisorOptions>,
): Promise<Supervisor> {
  return Supervisor.start({
    ...resolveRunOptions({
      data: dataDir,
      'https-port': String(await freePort()),
      'http-port': String(await freePort()),
      bind: ['127.0.0.1'],
      workers: '1',
    }),
    ...extra,
  });
}

describe('IPC allow-list and malformed messages', () => {
  const lines: Record<string, unknown>[] = [];
  let supervisor: Supervisor;
  let dataDir: string;
  const report = path.join(os.tmpdir(), `gatehouse-rogue-${process.pid}.json`);

  before(async () => {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'gatehouse-ipc-'));
    process.env.ROGUE_REPORT = report;
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        for (const line of chunk.toString('utf8').split('\n').filter(Boolean)) {
          lines.push(JSON.parse(line) as Record<string, unknown>);
        }
        done();
      },
    });
    supervisor = await startSupervisor(dataDir, {
      logStream: new LogStream(sink, 'json'),
      entries: { 'acme-agent': path.join(here, 'fixtures/rogue-child.js') },
    });
  });

  after(async () => {
    await supervisor.stop();
    delete process.env.ROGUE_REPORT;
    fs.rmSync(dataDir, { recursive: true, force: true });
    fs.rmSync(report, { force: true });
  });

  it('answers requests outside the allow-list with an error, and survives garbage', async () => {
    const deadline = Date.now() + 15_000;
    while (supervisor.health().roles['acme-agent'].state !== 'up') {
      assert.ok(Date.now() < deadline, 'the rogue child never became ready');
      await new Promise((resolve) => setTimeout(resolve, 50));
    }

    assert.deepEqual(JSON.parse(fs.readFileSync(report, 'utf8')), {
      forbidden: 'forbidden',
      unknownType: 'unknown_type',
    });

    const refusals = lines
      .filter((line) => line.msg === 'refused a message from a child')
      .map((line) => String(line.problem));
    const expected = [
      /^frame is not JSON$/,
      /^malformed envelope: /,
      /^frame of 2097152 bytes exceeds the limit and was dropped$/,
      /^unknown event type "worker.hijack"$/,
      /^request child.shutdown refused: role acme-agent may not send child.shutdown$/,
      /^request keyvault.bundle refused: unknown request type "keyvault.bundle"$/,
    ];
    for (const pattern of expected) {
      assert.ok(
        refusals.some((problem) => pattern.test(problem)),
        `no refusal matching ${pattern} in ${JSON.stringify(refusals)}`,
      );
    }

    const agent = supervisor.childInfo().find((child) => child.role === 'acme-agent');
    assert.equal(agent?.state, 'running');
    assert.equal(agent.restarts, 0);
  });
});

describe('a child that stops answering', () => {
  let supervisor: Supervisor;
  let dataDir: string;

  before(async () => {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'gatehouse-stuck-'));
    supervisor = await startSupervisor(dataDir, {
      logStream: new LogStream(
        new Writable({
          write: (_c, _e, done) => {
            done();
          },
        }),
        'json',
      ),
      entries: { keyvault: path.join(here, 'fixtures/stuck-child.js') },
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
    await supervisor.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it('is killed after missed pings and restarted', async () => {
    const deadline = Date.now() + 15_000;
    for (;;) {
      const keyvault = supervisor.childInfo().find((child) => child.role === 'keyvault');
      if (keyvault && keyvault.restarts >= 1) {
        assert.equal(keyvault.lastExit, 'signal SIGKILL');
        return;
      }
      assert.ok(Date.now() < deadline, 'the stuck keyvault was never restarted');
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  });
});
