import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { IssuerQueues, type Refusal } from './issuer-queues.js';
import { issuerStates } from './issuers.js';

function setup(caps: { concurrent: number; orders: number }[]) {
  let now = Date.UTC(2026, 0, 1);
  const issuers = issuerStates(
    caps.map((cap, n) => ({
      directoryUrl: `https://ca${n}.test/dir`,
      maxConcurrentOrders: cap.concurrent,
      newOrderLimit: { orders: cap.orders, periodSeconds: 3600 },
    })),
    () => now,
    () => () => Promise.reject(new Error('no network in this test')),
  );
  const started: { name: string; index: number; release: () => void }[] = [];
  const told: { name: string; index: number; reason: string; ahead: number }[] = [];
  const hooks = {
    start: (name: string, index: number, release: () => void) => {
      started.push({ name, index, release });
    },
    waiting: (name: string, index: number, refusal: Refusal, ahead: number) => {
      told.push({ name, index, reason: refusal.reason, ahead });
    },
  };
  return {
    issuers,
    hooks,
    started,
    told,
    advance: (ms: number) => {
      now += ms;
    },
    now: () => now,
  };
}

describe('queues per CA', () => {
  it('starts what the caps allow, tells each waiting name once, and starts it later', () => {
    const t = setup([{ concurrent: 1, orders: 100 }]);
    const queues = new IssuerQueues(1);
    for (const name of ['a', 'b', 'c']) queues.push(name, 0);
    queues.push('a', 0);
    assert.equal(queues.size, 3, 'a name is queued once');
    assert.equal(queues.drain(t.issuers, t.hooks), undefined, 'waits for an order to end');
    assert.deepEqual(
      t.started.map((s) => s.name),
      ['a'],
    );
    assert.deepEqual(t.told, [
      { name: 'b', index: 0, reason: 'concurrent_orders', ahead: 0 },
      { name: 'c', index: 0, reason: 'concurrent_orders', ahead: 1 },
    ]);
    queues.push('d', 0);
    queues.drain(t.issuers, t.hooks);
    assert.deepEqual(
      t.told.map((n) => n.name),
      ['b', 'c', 'd'],
      'only the new name is told',
    );
    t.started[0]?.release();
    queues.drain(t.issuers, t.hooks);
    assert.deepEqual(
      t.started.map((s) => s.name),
      ['a', 'b'],
    );
    assert.equal(queues.has('b'), false);
    assert.equal(t.told.length, 3);
  });

  it('holds back only the names of the CA at its cap, and says when the rate allows more', () => {
    const t = setup([
      { concurrent: 10, orders: 1 },
      { concurrent: 10, orders: 10 },
    ]);
    const queues = new IssuerQueues(2);
    queues.push('a', 0);
    queues.push('b', 0);
    queues.push('c', 1);
    queues.push('d', 1);
    const wakeAt = queues.drain(t.issuers, t.hooks);
    assert.deepEqual(
      t.started.map((s) => `${s.name}@${s.index}`),
      ['a@0', 'c@1', 'd@1'],
    );
    assert.deepEqual(t.told, [{ name: 'b', index: 0, reason: 'new_order_rate', ahead: 0 }]);
    assert.equal(wakeAt, t.now() + 3_600_000);
    t.advance(3_600_000);
    queues.drain(t.issuers, t.hooks);
    assert.equal(t.started.at(-1)?.name, 'b');
    assert.equal(queues.size, 0);
  });
});
