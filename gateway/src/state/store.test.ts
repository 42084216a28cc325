import Database from 'better-sqlite3';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { StateError, type StateErrorCode } from './errors.js';
import { LATEST_SCHEMA_VERSION, runMigrations, schemaVersion } from './migrations.js';
import { STATE_FILE, StateStore, type StateStoreOptions } from './store.js';

const NOW = Date.UTC(2026, 0, 1);

/** A private temporary data directory, removed when the test ends (pass or fail). */
function dataDir(t: TestContext): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gatehouse-state-test-'));
  t.after(() => {
    fs.rmSync(dir, { recursive: true, force: true });
  });
  return dir;
}

function open(t: TestContext, dir: string, options: Partial<StateStoreOptions> = {}): StateStore {
  let clock = NOW;
  const store = StateStore.open({
    path: path.join(dir, STATE_FILE),
    now: () => (clock += 1000),
    ...options,
  });
  t.after(() => {
    store.close();
  });
  return store;
}

/** SHA-256 of state.db, -wal and -shm ("absent" for a missing one). */
function fileHashes(dir: string): Record<string, string> {
  const hashes: Record<string, string> = {};
  for (const suffix of ['', '-wal', '-shm']) {
    const file = path.join(dir, `${STATE_FILE}${suffix}`);
    hashes[suffix || 'db'] = fs.existsSync(file)
      ? createHash('sha256').update(fs.readFileSync(file)).digest('hex')
      : 'absent';
  }
  return hashes;
}

function throwsState(action: () => unknown, code: StateErrorCode, message?: RegExp): void {
  assert.throws(action, (error: unknown) => {
    assert.ok(error instanceof StateError, `expected a StateError, got ${String(error)}`);
    assert.equal(error.code, code);
    if (message) assert.match(error.message, message);
    return true;
  });
}

describe('StateStore: opening and migrations', () => {
  it('creates state.db private to its owner, in WAL mode, at the latest schema', (t) => {
    const dir = dataDir(t);
    const store = open(t, dir);
    store.addDomain('example.com');

    for (const suffix of ['', '-wal', '-shm']) {
      const mode = fs.statSync(path.join(dir, `${STATE_FILE}${suffix}`)).mode & 0o777;
      assert.equal(mode, 0o600, `${STATE_FILE}${suffix} has mode ${mode.toString(8)}`);
    }
    const db = new Database(path.join(dir, STATE_FILE), { readonly: true });
    try {
      assert.equal(db.pragma('journal_mode', { simple: true }), 'wal');
      assert.equal(schemaVersion(db), LATEST_SCHEMA_VERSION);
      const tables = db
        .prepare<[], { name: string }>(
          "SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name",
        )
        .all()
        .map((row) => row.name);
      assert.deepEqual(tables, [
        'acme_ca_pauses',
        'acme_new_orders',
        'acme_orders',
        'domains',
        'events',
        'schema_migrations',
      ]);
    } finally {
      db.close();
    }
  });

  it('applies each migration once: a second run applies none', (t) => {
    const dir = dataDir(t);
    const db = new Database(path.join(dir, STATE_FILE));
    t.after(() => db.close());
    assert.deepEqual(runMigrations(db), [1, 2, 3]);
    assert.deepEqual(runMigrations(db), []);
    assert.equal(schemaVersion(db), 3);
  });

  it('refuses migrations that do not count up from 1', (t) => {
    const db = new Database(path.join(dataDir(t), STATE_FILE));
    t.after(() => db.close());
    assert.throws(
      () => runMigrations(db, [{ version: 2, name: 'two', sql: 'SELECT 1' }]),
      /versions must count up from 1 without gaps \(expected 1\)/,
    );
  });

  it('refuses a state.db from a newer Gatehouse and leaves it byte-identical', (t) => {
    const dir = dataDir(t);
    open(t, dir).close();
    const db = new Database(path.join(dir, STATE_FILE));
    db.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)').run(
      LATEST_SCHEMA_VERSION + 1,
      'from the future',
      NOW,
    );
    db.close();
    const before = fileHashes(dir);

    throwsState(
      () => open(t, dir),
      'schema_too_new',
      new RegExp(`schema version ${LATEST_SCHEMA_VERSION + 1}.*nothing was changed`),
    );
    assert.deepEqual(fileHashes(dir), before);
  });

  it('says a file that is not a database is unreadable, and leaves it alone', (t) => {
    const dir = dataDir(t);
    const file = path.join(dir, STATE_FILE);
    fs.writeFileSync(file, 'not a database, but long enough to look like a header '.repeat(4));
    const before = fs.readFileSync(file);
    throwsState(() => open(t, dir), 'state_unreadable', /Cannot read .*state\.db.*backup/);
    assert.deepEqual(fs.readFileSync(file), before);
  });
});

describe('StateStore: domains', () => {
  it('adds, lists in name order and removes', (t) => {
    const store = open(t, dataDir(t), { now: () => NOW });
    assert.deepEqual(store.addDomain('www.example.com'), {
      domain: { name: 'www.example.com', addedAt: NOW },
      added: true,
    });
    store.addDomain('*.example.com');
    store.addDomain('192.0.2.7');
    assert.deepEqual(
      store.listDomains().map((domain) => domain.name),
      ['*.example.com', '192.0.2.7', 'www.example.com'],
    );

    assert.equal(store.removeDomain('www.example.com'), true);
    assert.equal(store.removeDomain('www.example.com'), false);
    assert.deepEqual(
      store.listDomains().map((domain) => domain.name),
      ['*.example.com', '192.0.2.7'],
    );
  });

  it('adds an existing name as a no-op that reports added: false and the first time', (t) => {
    const store = open(t, dataDir(t));
    const first = store.addDomain('example.com');
    // The clock has moved on: the answer still holds the time of the first add.
    const again = store.addDomain('EXAMPLE.com');
    assert.deepEqual(again, { domain: first.domain, added: false });
    assert.equal(store.listDomains().length, 1);

    store.addDomain('2001:db8::1');
    assert.equal(store.addDomain('2001:DB8:0::1').added, false);
    assert.equal(store.removeDomain('2001:0db8::0001'), true);
  });

  it('refuses a bad name with its reason and changes no byte of the files', (t) => {
    const dir = dataDir(t);
    const store = open(t, dir);
    store.addDomain('example.com');
    const before = fileHashes(dir);

    throwsState(() => store.addDomain('a_b.example'), 'invalid_domain_name', /holds "_"/);
    throwsState(() => store.addDomain('*.*.example'), 'invalid_domain_name', /wildcard/);
    throwsState(() => store.addDomain(''), 'invalid_domain_name', /empty/);
    throwsState(() => store.removeDomain('bad name'), 'invalid_domain_name', /whitespace/);

    assert.deepEqual(fileHashes(dir), before);
    assert.deepEqual(
      store.listDomains().map((domain) => domain.name),
      ['example.com'],
    );
  });

  it('stops at the domain limit with a clear error, and still takes existing names', (t) => {
    const store = open(t, dataDir(t), { maxDomains: 2 });
    store.addDomain('a.example');
    store.addDomain('b.example');
    throwsState(
      () => store.addDomain('c.example'),
      'too_many_domains',
      /at most 2 domains. Remove/,
    );
    assert.equal(store.addDomain('a.example').added, false);
    assert.equal(store.listDomains().length, 2);
  });

  it('keeps domains and events across a close and a reopen', (t) => {
    const dir = dataDir(t);
    const first = open(t, dir);
    first.addDomain('example.com');
    first.addDomain('*.example.net');
    first.appendEvent('certificate_obtained', { identifiers: [{ type: 'dns', value: 'x' }] });
    const domains = first.listDomains();
    const events = first.listEvents();
    first.close();

    const second = open(t, dir);
    assert.deepEqual(second.listDomains(), domains);
    assert.deepEqual(second.listEvents(), events);
    // An id is never handed out twice, even across a reopen.
    assert.equal(second.appendEvent('order_created', {}).id, (events[0]?.id ?? 0) + 1);
  });

  it('throws StateError closed once closed', (t) => {
    const store = open(t, dataDir(t));
    store.close();
    store.close();
    throwsState(() => store.listDomains(), 'closed');
    throwsState(() => store.addDomain('example.com'), 'closed');
    throwsState(() => store.appendEvent('order_created', {}), 'closed');
  });
});

describe('StateStore: events', () => {
  it('records events with increasing ids and pages through them with after', (t) => {
    const store = open(t, dataDir(t), { now: () => NOW });
    const ids = ['order_created', 'challenge_ready', 'authorization_valid'].map(
      (type, index) => store.appendEvent(type, { n: index }).id,
    );
    assert.deepEqual(ids, [1, 2, 3]);

    assert.deepEqual(store.listEvents({ after: 1, limit: 1 }), [
      { id: 2, time: NOW, type: 'challenge_ready', payload: { n: 1 } },
    ]);
    assert.deepEqual(
      store.listEvents({ after: 0 }).map((event) => event.id),
      [1, 2, 3],
    );
    assert.deepEqual(store.listEvents({ after: 3 }), []);
    // Without `after`: the newest, oldest of them first.
    assert.deepEqual(
      store.listEvents({ limit: 2 }).map((event) => event.type),
      ['challenge_ready', 'authorization_valid'],
    );
  });

  it('keeps only the newest maxEvents, and never reuses an id', (t) => {
    const store = open(t, dataDir(t), { maxEvents: 5 });
    for (let n = 1; n <= 12; n += 1) store.appendEvent('order_created', { n });
    assert.deepEqual(
      store.listEvents({ after: 0 }).map((event) => event.id),
      [8, 9, 10, 11, 12],
    );
    assert.equal(store.appendEvent('order_created', {}).id, 13);
  });

  it('refuses an event type or payload it cannot keep, writing nothing', (t) => {
    const dir = dataDir(t);
    const store = open(t, dir);
    store.appendEvent('order_created', {});
    const before = fileHashes(dir);
    throwsState(() => store.appendEvent('Not A Type', {}), 'invalid_event', /lowercase word/);
    throwsState(() => store.appendEvent('x'.repeat(65), {}), 'invalid_event');
    throwsState(() => store.appendEvent('order_created', undefined), 'invalid_event', /not JSON/);
    throwsState(
      () => store.appendEvent('order_created', { big: 'x'.repeat(70_000) }),
      'invalid_event',
      /at most 65536 bytes/,
    );
    assert.deepEqual(fileHashes(dir), before);
    assert.equal(store.listEvents().length, 1);
  });

  it('refuses a limit or after outside its range', (t) => {
    const store = open(t, dataDir(t));
    assert.throws(() => store.listEvents({ limit: 0 }), RangeError);
    assert.throws(() => store.listEvents({ limit: 1001 }), RangeError);
    assert.throws(() => store.listEvents({ after: -1 }), RangeError);
    assert.throws(() => store.listEvents({ after: 1.5 }), RangeError);
  });
});
