/**
 * Children that die are restarted with backoff and counted, one role at a
 * time, and HTTPS keeps answering while a worker is down.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { curl } from './harness/clients.js';
import { Gatehouse, type ProcessRow } from './harness/gatehouse.js';

describe('restarting children after kill -9', () => {
  let gatehouse: Gatehouse;

  before(async () => {
    gatehouse = await Gatehouse.start({ workers: 2 });
  });

  after(async () => {
    await gatehouse.cleanup();
  });

  const find = (rows: ProcessRow[], role: string, instance: number | null): ProcessRow => {
    const row = rows.find((r) => r.role === role && r.instance === instance);
    assert.ok(row, `no ${role} in ${JSON.stringify(rows)}`);
    return row;
  };

  for (const [role, instance] of [
    ['worker', 1],
    ['keyvault', null],
    ['acme-agent', null],
  ] as const) {
    it(`restarts the ${role} and counts it`, async () => {
      const before = find(await gatehouse.processes(), role, instance);
      assert.ok(before.pid !== null);
      process.kill(before.pid, 'SIGKILL');

      await gatehouse.waitFor(async () => {
        const row = find(await gatehouse.processes(), role, instance);
        return row.state === 'running' && row.pid !== before.pid;
      }, 15_000);

      const now = find(await gatehouse.processes(), role, instance);
      assert.equal(now.restarts, before.restarts + 1);
      assert.equal(now.last_exit, 'signal SIGKILL');
      assert.equal((await gatehouse.health()).status, 200);
    });
  }

  it('keeps answering HTTPS with one of two workers down', async () => {
    const worker = find(await gatehouse.processes(), 'worker', 2);
    assert.ok(worker.pid !== null);
    process.kill(worker.pid, 'SIGKILL');

    // While worker 2 waits out its backoff, worker 1 takes every connection.
    await gatehouse.waitFor(
      async () => ((await gatehouse.health()).body as { status: string }).status === 'degraded',
      5_000,
    );
    for (let i = 0; i < 10; i += 1) {
      const result = await curl(`https://127.0.0.1:${gatehouse.httpsPort}/`);
      assert.match(result.stdout, /\n200$/, `request ${i} failed: ${result.stderr}`);
    }

    await gatehouse.waitFor(
      async () => find(await gatehouse.processes(), 'worker', 2).state === 'running',
      15_000,
    );
    assert.equal(find(await gatehouse.processes(), 'worker', 2).restarts, 1);
  });
});

describe('after the supervisor itself is killed with -9', () => {
  it('its children exit, and a new run takes over the data directory', async () => {
    const first = await Gatehouse.start({ workers: 1 });
    let second: Gatehouse | undefined;
    try {
      const children = (await first.processes()).filter((row) => row.role !== 'supervisor');
      assert.ok(first.process.pid !== undefined);
      process.kill(first.process.pid, 'SIGKILL');

      // Each child sees its IPC pipe close and exits on its own.
      const deadline = Date.now() + 5_000;
      while (children.some((row) => row.pid !== null && isAlive(row.pid))) {
        assert.ok(Date.now() < deadline, 'children outlived their supervisor');
        await new Promise((resolve) => setTimeout(resolve, 50));
      }

      // The stale lock and control socket do not stop the next run.
      second = await Gatehouse.start({ workers: 1, dataDir: first.dataDir });
      assert.equal(((await second.health()).body as { status: string }).status, 'ok');
    } finally {
      await second?.cleanup();
      await first.cleanup();
    }
  });
});

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
