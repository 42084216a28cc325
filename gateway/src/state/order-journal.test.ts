import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import {
  MAX_JOURNALED_ORDERS,
  NEW_ORDER_RETENTION_MS,
  OrderJournalError,
  type JournaledOrder,
} from './order-journal.js';
import { STATE_FILE, StateStore } from './store.js';

function openStore(t: TestContext, dir?: string): { store: StateStore; dir: string } {
  const where = dir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'gatehouse-journal-test-'));
  if (!dir) {
    t.after(() => {
      fs.rmSync(where, { recursive: true, force: true });
    });
  }
  let clock = Date.UTC(2026, 0, 1);
  const store = StateStore.open({ path: path.join(where, STATE_FILE), now: () => (clock += 1000) });
  t.after(() => {
    store.close();
  });
  return { store, dir: where };
}

const ISSUER = 'https://ca.test/dir';
const order = (value: string, fields: Partial<JournaledOrder> = {}): JournaledOrder => ({
  issuer: ISSUER,
  identifiers: [{ type: 'dns', value }],
  accountUrl: 'https://ca.test/acct/1',
  orderUrl: null,
  keyId: null,
  answered: [],
  ...fields,
});

describe('order journal in state.db', () => {
  it('keeps each step of an order across a reopen, and forgets it when cleared', (t) => {
    const { store, dir } = openStore(t);
    const intent = store.orders.save(order('a.example'));
    store.orders.save(order('a.example', { orderUrl: 'https://ca.test/order/1' }));
    store.orders.save(
      order('a.example', {
        orderUrl: 'https://ca.test/order/1',
        keyId: 'key_abcdef',
        answered: ['https://ca.test/chall/1'],
      }),
    );
    store.close();

    const reopened = openStore(t, dir).store;
    const [saved, ...rest] = reopened.orders.list();
    assert.equal(rest.length, 0, 'one record per issuer and names');
    assert.equal(saved?.orderUrl, 'https://ca.test/order/1');
    assert.equal(saved?.keyId, 'key_abcdef');
    assert.deepEqual(saved?.answered, ['https://ca.test/chall/1']);
    assert.equal(saved?.startedAt, intent.startedAt, 'the start is the intent');
    assert.ok((saved?.updatedAt ?? 0) > intent.startedAt);

    assert.equal(reopened.orders.clear(ISSUER, [{ type: 'dns', value: 'A.example' }]), true);
    assert.deepEqual(reopened.orders.list(), []);
    assert.equal(reopened.orders.clear(ISSUER, [{ type: 'dns', value: 'a.example' }]), false);
  });

  it('keys records by issuer and by the set of names, whatever their order', (t) => {
    const { store } = openStore(t);
    const two = [
      { type: 'dns' as const, value: 'b.example' },
      { type: 'ip' as const, value: '192.0.2.1' },
    ];
    store.orders.save(order('x', { identifiers: two }));
    store.orders.save(order('x', { identifiers: [...two].reverse(), keyId: 'key_zzzz' }));
    store.orders.save(order('x', { identifiers: two, issuer: 'https://other.test/dir' }));
    const rows = store.orders.list();
    assert.equal(rows.length, 2);
    assert.equal(rows.find((row) => row.issuer === ISSUER)?.keyId, 'key_zzzz');
  });

  it('refuses a malformed record and writes nothing', (t) => {
    const { store } = openStore(t);
    const bad = [
      order('a', { identifiers: [] }),
      order('a', { issuer: '' }),
      order('a', { keyId: 'k'.repeat(81) }),
      order('a', { answered: Array<string>(101).fill('https://ca.test/chall/1') }),
      { ...order('a'), identifiers: [{ type: 'email', value: 'x' }] } as unknown as JournaledOrder,
    ];
    for (const record of bad) {
      assert.throws(
        () => store.orders.save(record),
        (error: unknown) =>
          error instanceof OrderJournalError &&
          error.code === 'invalid_order' &&
          /Order journal record refused/.test(error.message),
      );
    }
    assert.deepEqual(store.orders.list(), []);
  });

  it(`holds at most ${MAX_JOURNALED_ORDERS} orders, and still updates those it holds`, (t) => {
    const { store } = openStore(t);
    for (let n = 0; n < MAX_JOURNALED_ORDERS; n += 1) store.orders.save(order(`n${n}.example`));
    assert.throws(
      () => store.orders.save(order('one-more.example')),
      (error: unknown) => error instanceof OrderJournalError && error.code === 'too_many_orders',
    );
    store.orders.save(order('n0.example', { orderUrl: 'https://ca.test/order/9' }));
    assert.equal(store.orders.list().length, MAX_JOURNALED_ORDERS);
  });

  it('counts each order a CA created once, across clears and a reopen', (t) => {
    const { store, dir } = openStore(t);
    store.orders.save(order('a.example'));
    store.orders.save(order('a.example', { orderUrl: 'https://ca.test/order/1' }));
    store.orders.save(order('a.example', { orderUrl: 'https://ca.test/order/1', keyId: 'key_a' }));
    // The first order could not complete: a new one for the same names.
    store.orders.save(order('a.example', { orderUrl: 'https://ca.test/order/2' }));
    store.orders.save(order('b.example', { issuer: 'https://other.test/dir' }));
    store.orders.save(
      order('b.example', { issuer: 'https://other.test/dir', orderUrl: 'https://o.test/1' }),
    );
    store.orders.clear(ISSUER, [{ type: 'dns', value: 'a.example' }]);
    store.close();

    const reopened = openStore(t, dir).store;
    const counted = reopened.orders.newOrders(0);
    assert.deepEqual(
      counted.map((row) => row.issuer),
      [ISSUER, ISSUER, 'https://other.test/dir'],
      'oldest first; an intent or a later step of the same order is not a new order',
    );
    const [first, second] = counted;
    assert.ok(first && second && first.createdAt < second.createdAt);
    assert.deepEqual(reopened.orders.newOrders(second.createdAt), counted.slice(1));
  });

  it("keeps a CA's rateLimited pause across a reopen, the later one winning, until it ends", (t) => {
    const { store, dir } = openStore(t);
    const now = Date.UTC(2026, 0, 1);
    store.orders.pause(ISSUER, now + 3_600_000);
    store.orders.pause(ISSUER, now + 60_000);
    store.orders.pause('https://other.test/dir', now + 120_000);
    assert.throws(
      () => {
        store.orders.pause('', now);
      },
      (error: unknown) => error instanceof OrderJournalError && error.code === 'invalid_order',
    );
    assert.throws(
      () => {
        store.orders.pause(ISSUER, -1);
      },
      (error: unknown) => error instanceof OrderJournalError && error.code === 'invalid_order',
    );
    store.close();

    const reopened = openStore(t, dir).store;
    assert.deepEqual(reopened.orders.pauses(now), [
      { issuer: ISSUER, until: now + 3_600_000 },
      { issuer: 'https://other.test/dir', until: now + 120_000 },
    ]);
    assert.deepEqual(reopened.orders.pauses(now + 120_000), [
      { issuer: ISSUER, until: now + 3_600_000 },
    ]);
  });

  it('forgets new orders older than a week', (t) => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gatehouse-journal-test-'));
    t.after(() => {
      fs.rmSync(dir, { recursive: true, force: true });
    });
    let clock = Date.UTC(2026, 0, 1);
    const store = StateStore.open({ path: path.join(dir, STATE_FILE), now: () => clock });
    t.after(() => {
      store.close();
    });
    store.orders.save(order('old.example', { orderUrl: 'https://ca.test/order/old' }));
    clock += NEW_ORDER_RETENTION_MS + 1;
    store.orders.save(order('new.example', { orderUrl: 'https://ca.test/order/new' }));
    assert.deepEqual(store.orders.newOrders(0), [{ issuer: ISSUER, createdAt: clock }]);
  });
});
