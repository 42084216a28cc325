import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { OrderLimiter, describeWait } from './order-limiter.js';

function clock(start = 1_000_000): { now: () => number; advance: (ms: number) => void } {
  let time = start;
  return {
    now: () => time,
    advance: (ms) => {
      time += ms;
    },
  };
}

const LETS_ENCRYPT = {
  maxConcurrentOrders: 1000,
  newOrderLimit: { orders: 300, periodSeconds: 10_800 },
};

describe('order limiter', () => {
  it("allows Let's Encrypt's burst of 300, then one order every 36 s", () => {
    const time = clock();
    const limiter = new OrderLimiter(LETS_ENCRYPT, time.now);
    for (let n = 0; n < 300; n += 1) {
      const admission = limiter.tryStart();
      assert.equal(admission.admitted, true, `order ${n + 1}`);
      if (admission.admitted) admission.release();
    }
    const refused = limiter.tryStart();
    assert.deepEqual(refused, {
      admitted: false,
      reason: 'new_order_rate',
      notBefore: time.now() + 36_000,
    });
    time.advance(35_999);
    assert.equal(limiter.tryStart().admitted, false);
    time.advance(1);
    assert.equal(limiter.tryStart().admitted, true);
    assert.equal(limiter.tryStart().admitted, false, 'one token refilled, one used');
  });

  it('refills to the burst and never beyond it', () => {
    const time = clock();
    const limiter = new OrderLimiter(
      { maxConcurrentOrders: 100, newOrderLimit: { orders: 3, periodSeconds: 30 } },
      time.now,
    );
    for (let n = 0; n < 3; n += 1) assert.equal(limiter.tryStart().admitted, true);
    time.advance(24 * 3_600_000);
    for (let n = 0; n < 3; n += 1) assert.equal(limiter.tryStart().admitted, true);
    const refused = limiter.tryStart();
    assert.equal(refused.admitted, false);
    assert.equal(!refused.admitted && refused.notBefore, time.now() + 10_000);
  });

  it('restores orders created before a restart, so a second burst is not handed out', () => {
    const time = clock(100_000_000);
    const limits = { maxConcurrentOrders: 100, newOrderLimit: { orders: 3, periodSeconds: 30 } };
    const limiter = new OrderLimiter(limits, time.now);
    // Three orders 1 s apart, the last 2 s ago: 0.4 of an order has refilled since.
    const now = time.now();
    limiter.restore([now - 2_000, now - 4_000, now - 3_000]);
    const refused = limiter.tryStart();
    assert.equal(refused.admitted, false);
    assert.equal(refused.admitted || refused.reason, 'new_order_rate');
    // 3 - 3 + (1 + 1 + 2) s / 10 s = 0.4 orders left; 0.6 orders (6 s) to go.
    assert.equal(refused.admitted || refused.notBefore, now + 6_000);
    time.advance(6_000);
    assert.equal(limiter.tryStart().admitted, true);
  });

  it('restores nothing from orders older than a full refill, or from the future', () => {
    const time = clock(100_000_000);
    const limits = { maxConcurrentOrders: 100, newOrderLimit: { orders: 2, periodSeconds: 20 } };
    const limiter = new OrderLimiter(limits, time.now);
    const now = time.now();
    limiter.restore([now - 60_000, now - 59_000, now + 5_000]);
    assert.equal(limiter.tryStart().admitted, true);
    assert.equal(limiter.tryStart().admitted, true);
    assert.equal(limiter.tryStart().admitted, false);
  });

  it('caps orders in flight and frees a place on release, once', () => {
    const time = clock();
    const limiter = new OrderLimiter(
      { maxConcurrentOrders: 2, newOrderLimit: { orders: 100, periodSeconds: 1 } },
      time.now,
    );
    const first = limiter.tryStart();
    const second = limiter.tryStart();
    assert.ok(first.admitted && second.admitted);
    assert.deepEqual(limiter.tryStart(), {
      admitted: false,
      reason: 'concurrent_orders',
      notBefore: undefined,
    });
    first.release();
    first.release();
    assert.equal(limiter.running, 1);
    const third = limiter.tryStart();
    assert.equal(third.admitted, true);
    assert.equal(limiter.tryStart().admitted, false);
  });

  it("waits out the CA's Retry-After before any new order", () => {
    const time = clock();
    const limiter = new OrderLimiter(LETS_ENCRYPT, time.now);
    limiter.pauseUntil(time.now() + 60_000);
    limiter.pauseUntil(time.now() + 1_000);
    assert.deepEqual(limiter.tryStart(), {
      admitted: false,
      reason: 'ca_rate_limited',
      notBefore: time.now() + 60_000,
    });
    time.advance(60_000);
    assert.equal(limiter.tryStart().admitted, true);
  });

  it('refuses caps that allow nothing', () => {
    assert.throws(
      () => new OrderLimiter({ maxConcurrentOrders: 0, newOrderLimit: LETS_ENCRYPT.newOrderLimit }),
      RangeError,
    );
  });
});

describe('what a queued name is told', () => {
  it('gives the time it will be ordered, one refill later per name ahead of it', () => {
    const time = clock(Date.UTC(2026, 0, 1));
    const limits = { maxConcurrentOrders: 8, newOrderLimit: { orders: 1, periodSeconds: 36 } };
    const limiter = new OrderLimiter(limits, time.now);
    assert.equal(limiter.tryStart().admitted, true);
    const refused = limiter.tryStart();
    assert.ok(!refused.admitted);
    assert.deepEqual(describeWait(limits, limiter.refillMs, refused, 2), {
      waitReason: 'new_order_rate',
      orderAt: '2026-01-01T00:01:48.000Z',
      detail:
        'the cap of 1 new orders per 36 s at this CA is used up; ' +
        'this name is ordered at about 2026-01-01T00:01:48.000Z',
    });
    const busy = describeWait(
      limits,
      limiter.refillMs,
      { admitted: false, reason: 'concurrent_orders', notBefore: undefined },
      0,
    );
    assert.equal(busy.orderAt, undefined);
    assert.match(busy.detail, /8 orders are running at this CA .* when one of them ends/);
  });
});
