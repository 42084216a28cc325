/**
 * The order journal across the IPC boundary: the acme-agent (played by the
 * role-proxy fixture) saves, lists and clears its orders through a real
 * supervisor into state.db; malformed records are refused with a message
 * and change nothing; the orders CAs created are counted once each; no
 * other role may read or write the journal.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { mayRequest } from '@gatehouse/gateway/ipc';
import { type Answer, RoleProxy } from './harness/role-proxy.js';
import { fixture, startSupervisor, until, type TestSupervisor } from './harness/supervisor.js';

const ORDER = {
  issuer: 'https://ca.test/dir',
  identifiers: [{ type: 'dns', value: 'journal.example' }],
  accountUrl: 'https://ca.test/acct/1',
  orderUrl: 'https://ca.test/order/1',
  keyId: null,
  answered: [],
};

describe('the order journal over IPC', () => {
  let supervisor: TestSupervisor | undefined;
  let agent: RoleProxy | undefined;
  let scratch: string | undefined;

  before(async () => {
    scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'gatehouse-journal-'));
    process.env.ROLE_PROXY_SOCKET = path.join(scratch, 'agent.sock');
    supervisor = await startSupervisor({ entries: { 'acme-agent': fixture('role-proxy') } });
    const running = supervisor;
    await until(() => running.supervisor.health().status === 'ok', 20_000, 'every role up');
    agent = await RoleProxy.connect(path.join(scratch, 'agent.sock'));
  });

  after(async () => {
    agent?.close();
    await supervisor?.stop();
    delete process.env.ROLE_PROXY_SOCKET;
    if (scratch) fs.rmSync(scratch, { recursive: true, force: true });
  });

  const list = async (): Promise<unknown[]> => {
    assert.ok(agent);
    const answer = await agent.ask<{ orders: unknown[] }>('supervisor.order-journal', {});
    assert.ok(answer.ok, JSON.stringify(answer.error));
    return answer.ok.orders;
  };

  it('keeps what the acme-agent saves until it clears it', async () => {
    assert.ok(agent);
    const saved = await agent.ask('supervisor.order-journal-save', { order: ORDER });
    assert.deepEqual(saved, { ok: {} });
    const withKey = { ...ORDER, keyId: 'key_AbC123', answered: ['https://ca.test/chall/7'] };
    assert.deepEqual(await agent.ask('supervisor.order-journal-save', { order: withKey }), {
      ok: {},
    });
    const orders = await list();
    assert.equal(orders.length, 1);
    assert.deepEqual(
      { ...(orders[0] as object), startedAt: 0, updatedAt: 0 },
      {
        ...withKey,
        startedAt: 0,
        updatedAt: 0,
      },
    );

    const cleared = await agent.ask('supervisor.order-journal-clear', {
      issuer: ORDER.issuer,
      identifiers: ORDER.identifiers,
    });
    assert.deepEqual(cleared, { ok: { cleared: true } });
    assert.deepEqual(await list(), []);
  });

  it('lists the orders CAs created, even once cleared, and the pauses CAs asked for', async () => {
    assert.ok(agent);
    const since = Date.now() - 60_000;
    const answer = await agent.ask<{
      newOrders: { issuer: string; createdAt: number }[];
      pauses: unknown[];
    }>('supervisor.order-caps', { since });
    assert.ok(answer.ok, JSON.stringify(answer.error));
    // The test above saved one order URL (then the same one again with a key).
    assert.equal(answer.ok.newOrders.length, 1, JSON.stringify(answer.ok));
    assert.equal(answer.ok.newOrders[0]?.issuer, ORDER.issuer);
    assert.ok((answer.ok.newOrders[0]?.createdAt ?? 0) >= since);
    assert.deepEqual(answer.ok.pauses, []);
    const paused = await agent.ask('supervisor.ca-paused', {
      issuer: ORDER.issuer,
      until: Date.now() + 600_000,
    });
    assert.deepEqual(paused, { ok: {} });
    const after = await agent.ask<{ pauses: { issuer: string }[] }>('supervisor.order-caps', {
      since,
    });
    assert.equal(after.ok?.pauses[0]?.issuer, ORDER.issuer, JSON.stringify(after));
    for (const bad of [{ issuer: 'ftp://x', until: 1 }, { issuer: ORDER.issuer }]) {
      const refused: Answer = await agent.ask('supervisor.ca-paused', bad);
      assert.equal(refused.error?.code, 'invalid_payload', JSON.stringify(refused));
    }
    for (const payload of [{ since: -1 }, { since: 'yesterday' }, {}, { since: 0, extra: 1 }]) {
      const refused: Answer = await agent.ask('supervisor.order-caps', payload);
      assert.equal(refused.error?.code, 'invalid_payload', JSON.stringify(refused));
    }
  });

  it('refuses malformed records with a message, and stores nothing', async () => {
    assert.ok(agent);
    const bad: unknown[] = [
      { ...ORDER, identifiers: [] },
      { ...ORDER, orderUrl: 'not a url' },
      { ...ORDER, keyId: '../../etc/passwd' },
      { ...ORDER, extra: true },
      { ...ORDER, answered: ['javascript:alert(1)'] },
      { ...ORDER, issuer: 'ftp://ca.test/dir' },
    ];
    for (const order of bad) {
      const answer: Answer = await agent.ask('supervisor.order-journal-save', { order });
      assert.equal(answer.error?.code, 'invalid_payload', JSON.stringify(answer));
      assert.ok((answer.error?.message.length ?? 0) > 20, answer.error?.message);
    }
    assert.deepEqual(await list(), []);
  });

  it('is the acme-agent’s alone', () => {
    for (const type of [
      'supervisor.order-journal',
      'supervisor.order-journal-save',
      'supervisor.order-journal-clear',
      'supervisor.order-caps',
      'supervisor.ca-paused',
    ] as const) {
      assert.equal(mayRequest('acme-agent', type), true);
      for (const role of ['worker', 'keyvault'] as const) {
        assert.equal(mayRequest(role, type), false, `${role} may not send ${type}`);
      }
    }
  });
});
