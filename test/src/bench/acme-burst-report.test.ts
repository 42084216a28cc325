/**
 * The burst benchmark's arithmetic on hand-made event lists: orders in
 * flight, Let's Encrypt's new-orders bucket, and the step breakdown.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type EventRow, phaseBreakdown, summarizePlanner } from './acme-burst-report.js';

const T0 = Date.parse('2026-01-01T00:00:00.000Z');
let nextId = 1;

function event(type: string, atMs: number, name: string, orderUrl?: string): EventRow {
  return {
    id: nextId++,
    time: new Date(T0 + atMs).toISOString(),
    type,
    payload: {
      identifiers: [{ type: 'dns', value: name }],
      ...(orderUrl === undefined ? {} : { orderUrl }),
    },
  };
}

/** One order's events: created, challenge ready, authorization valid, obtained. */
function order(name: string, created: number, steps: [number, number, number]): EventRow[] {
  const url = `https://ca.test/order/${name}`;
  return [
    event('order_created', created, name, url),
    event('challenge_ready', created + steps[0], name, url),
    event('authorization_valid', created + steps[0] + steps[1], name, url),
    event('certificate_obtained', created + steps[0] + steps[1] + steps[2], name, url),
  ];
}

describe('summarizePlanner', () => {
  it('counts orders in flight from order_created until obtained or failed', () => {
    const events = [
      ...order('a.example.com', 0, [100, 300, 600]), // 0 .. 1000
      ...order('b.example.com', 200, [100, 300, 600]), // 200 .. 1200
      ...order('c.example.com', 1000, [100, 300, 600]), // 1000 .. 2000
      event('order_created', 1250, 'd.example.org', 'https://ca.test/order/d'),
      event('certificate_failed', 1500, 'd.example.org'),
    ];
    const summary = summarizePlanner(events);
    assert.equal(summary.ordersPlaced, 4);
    assert.equal(summary.certificatesObtained, 3);
    assert.equal(summary.failures, 1);
    // Two at most: a ends at 1000 as c starts, b ends at 1200 before d starts.
    assert.equal(summary.peakConcurrentOrders, 2);
    assert.equal(summary.orderSpanMs, 1250);
    assert.deepEqual(summary.busiestRegisteredDomain, { name: 'example.com', certificates: 3 });
  });

  it("finds the orders that Let's Encrypt's new-orders bucket would refuse", () => {
    // 350 orders in one second: the bucket holds 300 and refills one per 36 s.
    const burst: EventRow[] = [];
    for (let index = 0; index < 350; index += 1) {
      burst.push(event('order_created', index * 3, `n${index}.example.net`, `u${index}`));
    }
    const summary = summarizePlanner(burst);
    assert.equal(summary.maxOrdersIn3Hours, 350);
    assert.equal(summary.ordersOverBucket, 50);

    // The same 350 spread one per 36 s all pass.
    const paced = burst.map((row, index) => ({
      ...row,
      time: new Date(T0 + index * 36_000).toISOString(),
    }));
    assert.equal(summarizePlanner(paced).ordersOverBucket, 0);
  });
});

describe('phaseBreakdown', () => {
  it('gives min, median and max of each step, and the probe delay after issuance', () => {
    const summary = summarizePlanner([
      ...order('a.example.com', 500, [100, 300, 600]),
      ...order('b.example.com', 900, [200, 400, 800]),
    ]);
    const served = new Map([
      ['a.example.com', 1_600],
      ['b.example.com', 2_500],
    ]);
    const rows = new Map(phaseBreakdown(summary, T0, served).map((row) => [row.phase, row]));
    assert.deepEqual(rows.get('added -> order_created (queue)'), {
      phase: 'added -> order_created (queue)',
      minMs: 500,
      medianMs: 900,
      maxMs: 900,
    });
    assert.equal(rows.get('challenge_ready -> authorization_valid')?.minMs, 300);
    assert.equal(rows.get('order_created -> certificate_obtained')?.maxMs, 1_400);
    // a obtained at 1500, served at 1600; b obtained at 2300, served at 2500.
    assert.equal(rows.get('certificate_obtained -> served (probe)')?.maxMs, 200);
  });
});
