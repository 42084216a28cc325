import Database from 'better-sqlite3';
import assert from 'node:assert/strict';
import { createPublicKey, generateKeyPairSync, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { KEY_ALGORITHMS } from './algorithms.js';
import { MASTER_KEY_ENV, MasterKey, MasterKeyError, readMasterKeyFile } from './master-key.js';
import { LATEST_SCHEMA_VERSION, runMigrations, schemaVersion } from './migrations.js';
import { SealError, openSealed } from './seal.js';
import { StoreError, type NewCertificate, type VaultStore } from './store.js';
import {
  makeKey,
  makeQuickKey,
  secretsFoundIn,
  tempDataDir,
  vaultFileHashes,
  type TestKey,
} from './test-fixtures/vault-keys.js';
import { openVaultStore, rotateMasterKeyFile } from './vault.js';

const HOUR = 3_600_000;
const NOW = Date.UTC(2026, 0, 1);

/** Not a real certificate: the store keeps chains as text and never parses them. */
function fakeChainPem(): string {
  const body = randomBytes(600).toString('base64').replace(/.{64}/g, '$&\n');
  return `-----BEGIN CERTIFICATE-----\n${body}\n-----END CERTIFICATE-----\n`;
}

function certificate(
  id: string,
  keyId: string,
  names: string[],
  overrides: Partial<NewCertificate> = {},
): NewCertificate {
  return {
    id,
    keyId,
    chainPem: fakeChainPem(),
    identifiers: names.map((value) => ({ type: /^[\d.]+$|:/.test(value) ? 'ip' : 'dns', value })),
    notBefore: NOW - HOUR,
    notAfter: NOW + 90 * 24 * HOUR,
    issuer: 'CN=Test Intermediate',
    serial: randomBytes(16).toString('hex'),
    ariCertId: 'aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE',
    ...overrides,
  };
}

function envWith(key?: MasterKey): Record<string, string> {
  return key ? { [MASTER_KEY_ENV]: key.secret.export().toString('base64') } : {};
}

function open(t: TestContext, dataDir: string, env: Record<string, string> = {}): VaultStore {
  const { store } = openVaultStore({ dataDir, env });
  t.after(() => {
    store.close();
  });
  return store;
}

/** Every row of every table, as JSON, through a connection of its own. */
function dump(vaultPath: string): string {
  const db = new Database(vaultPath, { readonly: true });
  try {
    const tables = db
      .prepare<[], { name: string }>(
        "SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name",
      )
      .all();
    const rows = Object.fromEntries(
      tables.map(({ name }) => [name, db.prepare(`SELECT * FROM ${name} ORDER BY 1, 2`).all()]),
    );
    return JSON.stringify(rows, (_key, value: unknown) =>
      value instanceof Uint8Array ? Buffer.from(value).toString('hex') : value,
    );
  } finally {
    db.close();
  }
}

function sealedOf(vaultPath: string, id: string): Buffer {
  const db = new Database(vaultPath, { readonly: true });
  try {
    const row = db
      .prepare<[string], { sealed: Buffer }>('SELECT sealed FROM keys WHERE id = ?')
      .get(id);
    assert.ok(row, `key ${id} is stored`);
    return row.sealed;
  } finally {
    db.close();
  }
}

function isStoreError(code: StoreError['code'], field?: string) {
  return (error: unknown): boolean => {
    assert.ok(error instanceof StoreError, `expected StoreError, got ${String(error)}`);
    assert.equal(error.code, code, error.message);
    if (field !== undefined) assert.equal(error.field, field, error.message);
    return true;
  };
}

describe('vault store: opening', () => {
  it('runs the migrations at the first open and none at a reopen', (t) => {
    const data = tempDataDir();
    t.after(data.remove);
    const vaultPath = path.join(data.dir, 'vault.db');

    const first = openVaultStore({ dataDir: data.dir, env: {} });
    const stats = first.store.stats();
    assert.equal(first.createdKeyFile, true);
    assert.equal(stats.schemaVersion, LATEST_SCHEMA_VERSION);
    assert.equal(stats.journalMode, 'wal');
    assert.equal(stats.synchronous, 2, 'synchronous=FULL');
    assert.equal(fs.statSync(vaultPath).mode & 0o777, 0o600);
    first.store.close();
    const migrations = dump(vaultPath);

    const again = open(t, data.dir);
    assert.equal(again.stats().schemaVersion, LATEST_SCHEMA_VERSION);
    assert.equal(again.masterKeyId, first.store.masterKeyId);
    again.close();
    assert.equal(dump(vaultPath), migrations, 'a reopen changes no row');
  });

  it('leaves a vault at the previous version when a migration fails', (t) => {
    const data = tempDataDir();
    t.after(data.remove);
    const db = new Database(path.join(data.dir, 'plain.db'));
    t.after(() => {
      db.close();
    });
    const migrations = [
      { version: 1, name: 'one', sql: 'CREATE TABLE one (a INTEGER) STRICT' },
      {
        version: 2,
        name: 'two',
        sql: 'CREATE TABLE two (a INTEGER); INSERT INTO missing VALUES (1)',
      },
    ];
    assert.throws(() => runMigrations(db, migrations), /no such table: missing/);
    assert.equal(schemaVersion(db), 1);
    const tables = db
      .prepare<[], { name: string }>("SELECT name FROM sqlite_schema WHERE type = 'table'")
      .all();
    assert.deepEqual(tables.map((row) => row.name).sort(), ['one', 'schema_migrations']);
    assert.deepEqual(runMigrations(db, migrations.slice(0, 1)), [], 'nothing to do at version 1');
  });

  it('refuses a vault written by a newer Gatehouse and changes nothing', (t) => {
    const data = tempDataDir();
    t.after(data.remove);
    const vaultPath = path.join(data.dir, 'vault.db');
    openVaultStore({ dataDir: data.dir, env: {} }).store.close();
    const db = new Database(vaultPath);
    db.prepare("INSERT INTO schema_migrations VALUES (99, 'from the future', 0)").run();
    db.close();

    const before = vaultFileHashes(vaultPath);
    assert.throws(
      () => openVaultStore({ dataDir: data.dir, env: {} }),
      isStoreError('schema_too_new'),
    );
    assert.deepEqual(vaultFileHashes(vaultPath), before);
  });

  it('refuses a file that is not a vault, and a vault whose check is gone, changing neither', (t) => {
    const data = tempDataDir();
    t.after(data.remove);
    const vaultPath = path.join(data.dir, 'vault.db');
    fs.writeFileSync(vaultPath, randomBytes(8192), { mode: 0o600 });
    let before = vaultFileHashes(vaultPath);
    assert.throws(
      () => openVaultStore({ dataDir: data.dir, env: {} }),
      isStoreError('vault_unreadable'),
    );
    assert.deepEqual(vaultFileHashes(vaultPath), before);

    fs.rmSync(vaultPath);
    const store = openVaultStore({ dataDir: data.dir, env: {} }).store;
    store.putKey(makeQuickKey('k1').key);
    store.close();
    const db = new Database(vaultPath);
    db.prepare('DELETE FROM meta').run();
    db.close();
    before = vaultFileHashes(vaultPath);
    assert.throws(
      () => openVaultStore({ dataDir: data.dir, env: {} }),
      isStoreError('vault_inconsistent'),
    );
    assert.deepEqual(vaultFileHashes(vaultPath), before);
  });

  it('refuses a wrong master key by the id it expects, and leaves the files byte-identical', (t) => {
    const data = tempDataDir();
    t.after(data.remove);
    const vaultPath = path.join(data.dir, 'vault.db');
    const right = MasterKey.generate({ kind: 'env', variable: MASTER_KEY_ENV });
    const wrong = MasterKey.generate({ kind: 'env', variable: MASTER_KEY_ENV });
    const store = openVaultStore({ dataDir: data.dir, env: envWith(right) }).store;
    store.putKey(makeQuickKey('k1').key);
    store.putKey(makeQuickKey('k2').key);

    // With the store open, its WAL holds the latest commits: the check must
    // read them without touching vault.db, -wal or -shm.
    const whileOpen = vaultFileHashes(vaultPath);
    assert.notEqual(whileOpen['vault.db-wal'], 'absent');
    const expectWrong = (error: unknown): boolean => {
      assert.ok(error instanceof MasterKeyError);
      assert.equal(error.code, 'master_key_wrong');
      assert.match(error.message, new RegExp(`sealed under master key ${right.id}`));
      assert.match(
        error.message,
        new RegExp(`the environment variable GATEHOUSE_MASTER_KEY is ${wrong.id}`),
      );
      assert.ok(error.message.includes(path.join(data.dir, 'master.key')));
      return true;
    };
    assert.throws(() => openVaultStore({ dataDir: data.dir, env: envWith(wrong) }), expectWrong);
    assert.deepEqual(vaultFileHashes(vaultPath), whileOpen);

    store.close();
    const closed = vaultFileHashes(vaultPath);
    assert.equal(closed['vault.db-wal'], 'absent');
    assert.throws(() => openVaultStore({ dataDir: data.dir, env: envWith(wrong) }), expectWrong);
    assert.throws(() => openVaultStore({ dataDir: data.dir, env: {} }), /master_key|sealed under/);
    assert.deepEqual(vaultFileHashes(vaultPath), closed);
    assert.deepEqual(fs.readdirSync(data.dir), ['vault.db'], 'no key file was created');
  });

  it('stops on a missing key file, naming the key and where it was looked for', (t) => {
    const data = tempDataDir();
    t.after(data.remove);
    const vaultPath = path.join(data.dir, 'vault.db');
    const first = openVaultStore({ dataDir: data.dir, env: {} }).store;
    const id = first.masterKeyId;
    first.putKey(makeQuickKey('k1').key);
    first.close();
    const saved = fs.readFileSync(path.join(data.dir, 'master.key'));
    fs.rmSync(path.join(data.dir, 'master.key'));

    const before = vaultFileHashes(vaultPath);
    assert.throws(
      () => openVaultStore({ dataDir: data.dir, env: {} }),
      (error: unknown) => {
        assert.ok(error instanceof MasterKeyError);
        assert.equal(error.code, 'master_key_missing');
        assert.match(error.message, new RegExp(`master key ${id}`));
        assert.match(error.message, /GATEHOUSE_MASTER_KEY is not set/);
        assert.ok(error.message.includes(path.join(data.dir, 'master.key')));
        return true;
      },
    );
    assert.deepEqual(vaultFileHashes(vaultPath), before);
    assert.ok(!fs.existsSync(path.join(data.dir, 'master.key')), 'no new key beside the vault');

    // The same key given in the environment (hex here) opens it.
    const env = {
      [MASTER_KEY_ENV]: Buffer.from(saved.toString('latin1').trim(), 'base64').toString('hex'),
    };
    const store = open(t, data.dir, env);
    assert.equal(store.masterKeyId, id);
    assert.equal(store.masterKey.source.kind, 'env');
    assert.ok(store.getPrivateKey('k1'));
  });
});

describe('vault store: sealed keys', () => {
  it('keeps no private key in clear in vault.db, -wal or -shm', async (t) => {
    const data = tempDataDir();
    t.after(data.remove);
    const vaultPath = path.join(data.dir, 'vault.db');
    const store = open(t, data.dir);

    const made: TestKey[] = [];
    for (const algorithm of KEY_ALGORITHMS) {
      made.push(await makeKey(`plain-${algorithm}`, algorithm, 'certificate'));
    }
    const account = await makeKey('account-1', 'ec-p256', 'account');
    const leaf = await makeKey('leaf-1', 'ec-p384', 'certificate');
    const challenge = await makeKey('challenge-1', 'ec-p256', 'challenge');
    made.push(account, leaf, challenge);

    for (const { key } of made.slice(0, KEY_ALGORITHMS.length)) store.putKey(key);
    store.putAccount({
      id: 'acme-1',
      directoryUrl: 'https://ca.test/dir',
      keyId: 'account-1',
      key: account.key,
    });
    store.putCertificate({ ...certificate('cert-1', 'leaf-1', ['example.test']), key: leaf.key });
    store.putChallengeCertificate({
      identifier: { type: 'dns', value: 'example.test' },
      keyAuthorizationDigest: randomBytes(32),
      certificatePem: fakeChainPem(),
      key: challenge.key,
      expiresAt: NOW + HOUR,
    });

    for (const { key } of made) {
      const opened = store.getPrivateKey(key.id);
      assert.ok(opened?.equals(key.pkcs8), `key ${key.id} opens to what was stored`);
    }
    const secrets = made.flatMap((item) =>
      item.secrets.map((s) => ({ ...s, name: `${item.key.id}: ${s.name}` })),
    );
    assert.ok(secrets.length > 40);
    for (const suffix of ['', '-wal', '-shm']) {
      assert.deepEqual(
        secretsFoundIn(`${vaultPath}${suffix}`, secrets),
        [],
        `vault.db${suffix} while open`,
      );
    }
    store.close();
    for (const suffix of ['', '-wal', '-shm']) {
      assert.deepEqual(
        secretsFoundIn(`${vaultPath}${suffix}`, secrets),
        [],
        `vault.db${suffix} after close`,
      );
    }
    assert.ok(fs.statSync(vaultPath).size > 0);
  });

  it('does not open a sealed key copied into another row', (t) => {
    const data = tempDataDir();
    t.after(data.remove);
    const vaultPath = path.join(data.dir, 'vault.db');
    const store = open(t, data.dir);
    const a = makeQuickKey('key-a');
    const b = makeQuickKey('key-b');
    store.putKey(a.key);
    store.putCertificate({ ...certificate('cert-b', 'key-b', ['b.example.test']), key: b.key });

    const db = new Database(vaultPath);
    db.prepare(
      "UPDATE keys SET sealed = (SELECT sealed FROM keys WHERE id = 'key-a') WHERE id = 'key-b'",
    ).run();
    db.close();

    const refused = (error: unknown): boolean => {
      assert.ok(error instanceof SealError);
      assert.equal(error.code, 'seal_authentication_failed');
      assert.equal(error.context, 'keys/key-b');
      for (const secret of [...a.secrets, ...b.secrets]) {
        assert.ok(
          !error.message.includes(secret.bytes.toString('latin1')),
          'no key bytes in the message',
        );
      }
      return true;
    };
    assert.throws(() => store.getPrivateKey('key-b'), refused);
    assert.throws(() => store.getBundle({ type: 'dns', value: 'b.example.test' }, NOW), refused);
    assert.ok(store.getPrivateKey('key-a')?.equals(a.key.pkcs8), 'the original row still opens');
  });
});

describe('vault store: rotating the master key', () => {
  it('re-seals every key in one transaction; the old key opens nothing afterwards', async (t) => {
    const data = tempDataDir();
    t.after(data.remove);
    const vaultPath = path.join(data.dir, 'vault.db');
    const opened = openVaultStore({ dataDir: data.dir, env: {} });
    const store = opened.store;
    t.after(() => {
      store.close();
    });
    const oldKey = store.masterKey;

    const made = await Promise.all(
      KEY_ALGORITHMS.map((algorithm) => makeKey(`k-${algorithm}`, algorithm)),
    );
    for (const { key } of made) store.putKey(key);
    const before = made.map(({ key }) => sealedOf(vaultPath, key.id));

    const { resealed } = rotateMasterKeyFile(store, data.dir);
    assert.equal(resealed, made.length);
    assert.notEqual(store.masterKeyId, oldKey.id);
    assert.equal(readMasterKeyFile(path.join(data.dir, 'master.key'))?.id, store.masterKeyId);
    assert.deepEqual(
      fs.readdirSync(data.dir).filter((name) => name.startsWith('master')),
      ['master.key'],
    );

    for (const [index, { key }] of made.entries()) {
      assert.ok(
        store.getPrivateKey(key.id)?.equals(key.pkcs8),
        `${key.id} opens under the new key`,
      );
      const after = sealedOf(vaultPath, key.id);
      assert.ok(!after.equals(before[index] ?? Buffer.alloc(0)));
      assert.throws(() => openSealed(oldKey, after, `keys/${key.id}`), SealError);
    }
    // secure_delete and the checkpoint leave no value sealed under the old key.
    const oldSealed = before.map((bytes, index) => ({ name: `old sealed ${index}`, bytes }));
    for (const suffix of ['', '-wal']) {
      assert.deepEqual(secretsFoundIn(`${vaultPath}${suffix}`, oldSealed), [], `vault.db${suffix}`);
    }

    store.close();
    assert.throws(
      () => openVaultStore({ dataDir: data.dir, env: envWith(oldKey) }),
      /master_key_wrong|sealed under master key/,
    );
    const reopened = open(t, data.dir);
    assert.equal(reopened.masterKeyId, store.masterKeyId);
    assert.ok(
      reopened.getPrivateKey(made[0]?.key.id ?? '')?.equals(made[0]?.key.pkcs8 ?? Buffer.alloc(0)),
    );
  });

  it('finishes at the next start a rotation that committed before its key file moved', (t) => {
    const data = tempDataDir();
    t.after(data.remove);
    const store = openVaultStore({ dataDir: data.dir, env: {} }).store;
    const k = makeQuickKey('k1');
    store.putKey(k.key);
    const newKey = MasterKey.generate({ kind: 'file', path: path.join(data.dir, 'master.key') });
    // Steps 1 and 2 of rotateMasterKeyFile, then a "crash" before step 3.
    fs.writeFileSync(
      path.join(data.dir, 'master.key.new'),
      `${newKey.secret.export().toString('base64')}\n`,
      { mode: 0o600 },
    );
    store.rotateMasterKey(newKey);
    store.close();

    const opened = openVaultStore({ dataDir: data.dir, env: {} });
    t.after(() => {
      opened.store.close();
    });
    assert.equal(opened.recoveredRotation, 'finished');
    assert.equal(opened.store.masterKeyId, newKey.id);
    assert.equal(readMasterKeyFile(path.join(data.dir, 'master.key'))?.id, newKey.id);
    assert.ok(!fs.existsSync(path.join(data.dir, 'master.key.new')));
    assert.ok(opened.store.getPrivateKey('k1')?.equals(k.key.pkcs8));
  });

  it('undoes at the next start a rotation that never committed', (t) => {
    const data = tempDataDir();
    t.after(data.remove);
    const store = openVaultStore({ dataDir: data.dir, env: {} }).store;
    const oldId = store.masterKeyId;
    store.putKey(makeQuickKey('k1').key);
    store.close();
    const staged = MasterKey.generate({ kind: 'file', path: path.join(data.dir, 'master.key') });
    fs.writeFileSync(
      path.join(data.dir, 'master.key.new'),
      `${staged.secret.export().toString('base64')}\n`,
      { mode: 0o600 },
    );

    const opened = openVaultStore({ dataDir: data.dir, env: {} });
    t.after(() => {
      opened.store.close();
    });
    assert.equal(opened.recoveredRotation, 'undone');
    assert.equal(opened.store.masterKeyId, oldId);
    assert.ok(!fs.existsSync(path.join(data.dir, 'master.key.new')));
  });

  it('refuses to rotate a key that comes from the environment, or to the same key', (t) => {
    const data = tempDataDir();
    t.after(data.remove);
    const key = MasterKey.generate({ kind: 'env', variable: MASTER_KEY_ENV });
    const store = open(t, data.dir, envWith(key));
    assert.throws(
      () => rotateMasterKeyFile(store, data.dir),
      (error: unknown) => {
        assert.ok(error instanceof MasterKeyError);
        assert.equal(error.code, 'master_key_rotation_refused');
        return true;
      },
    );
    assert.throws(
      () => store.rotateMasterKey(MasterKey.fromBytes(key.secret.export(), key.source)),
      /is the one in use/,
    );
    assert.deepEqual(fs.readdirSync(data.dir).sort(), ['vault.db', 'vault.db-shm', 'vault.db-wal']);
  });
});

describe('vault store: records', () => {
  it('keeps one account per directory, updates its key and URL, and finds it by directory', (t) => {
    const data = tempDataDir();
    t.after(data.remove);
    const store = open(t, data.dir);
    const first = makeQuickKey('acct-key-1', 'account');
    const second = makeQuickKey('acct-key-2', 'account');
    const directoryUrl = 'https://ca.test/directory';

    const created = store.putAccount({
      id: 'acct',
      directoryUrl,
      keyId: 'acct-key-1',
      key: first.key,
    });
    assert.equal(created.accountUrl, undefined);
    assert.deepEqual(store.getAccountByDirectory(directoryUrl), created);
    assert.equal(store.getAccountByDirectory('https://other.test/directory'), undefined);

    store.putKey(second.key);
    const changed = store.putAccount({
      id: 'acct',
      directoryUrl,
      keyId: 'acct-key-2',
      accountUrl: 'https://ca.test/acct/1',
    });
    assert.equal(changed.createdAt, created.createdAt);
    assert.deepEqual(store.getAccount('acct'), changed);
    assert.equal(
      store.deleteKey('acct-key-1'),
      true,
      'the old account key is free after a key change',
    );

    assert.throws(
      () => store.putAccount({ id: 'acct-2', directoryUrl, keyId: 'acct-key-2' }),
      isStoreError('conflict'),
    );
    assert.throws(
      () => store.putAccount({ id: 'acct', directoryUrl: 'https://x.test/d', keyId: 'acct-key-2' }),
      isStoreError('conflict'),
    );
    assert.throws(() => store.deleteKey('acct-key-2'), isStoreError('key_in_use'));
    store.putKey(makeQuickKey('cert-key').key);
    assert.throws(
      () => store.putAccount({ id: 'acct-3', directoryUrl: 'https://y.test/d', keyId: 'cert-key' }),
      isStoreError('wrong_key_purpose', 'keyId'),
    );
    assert.throws(
      () => store.putAccount({ id: 'acct-3', directoryUrl: 'https://y.test/d', keyId: 'nope' }),
      isStoreError('unknown_key', 'keyId'),
    );
  });

  it('serves the newest valid chain for an identifier, keeps replaced ones until they expire', (t) => {
    const data = tempDataDir();
    t.after(data.remove);
    const store = open(t, data.dir);
    const key1 = makeQuickKey('key-1');
    const key2 = makeQuickKey('key-2');
    const name = { type: 'dns', value: 'www.example.test' } as const;

    const old = store.putCertificate({
      ...certificate('old', 'key-1', ['www.example.test', '192.0.2.1'], {
        notAfter: NOW + 10 * HOUR,
      }),
      key: key1.key,
    });
    assert.equal(store.getBundle(name, NOW)?.certificate.id, 'old');

    // The renewal reuses no key; it starts in the future, so the old chain serves until then.
    store.putCertificate({
      ...certificate('new', 'key-2', ['www.example.test'], { notBefore: NOW + HOUR }),
      key: key2.key,
      replaces: ['old'],
    });
    assert.equal(store.getCertificate('old')?.replacedBy, 'new');
    const early = store.getBundle(name, NOW);
    assert.equal(early?.certificate.id, 'old');
    assert.ok(early.pkcs8.equals(key1.key.pkcs8));
    const later = store.getBundle(name, NOW + 2 * HOUR);
    assert.equal(later?.certificate.id, 'new');
    assert.ok(later.pkcs8.equals(key2.key.pkcs8));
    assert.equal(later.certificate.chainPem, store.getCertificate('new')?.chainPem);
    assert.equal(store.getBundle({ type: 'ip', value: '192.0.2.1' }, NOW)?.certificate.id, 'old');
    assert.equal(store.getBundle({ type: 'dns', value: 'other.example.test' }, NOW), undefined);
    assert.equal(store.getBundle(name, NOW + 365 * 24 * HOUR), undefined, 'nothing valid then');

    assert.deepEqual(
      store
        .listCertificates()
        .map((c) => c.id)
        .sort(),
      ['new', 'old'],
    );
    assert.deepEqual(
      store.listCertificates({ includeReplaced: false }).map((c) => c.id),
      ['new'],
    );
    assert.deepEqual(
      store.listCertificates({ identifier: { type: 'ip', value: '192.0.2.1' } }).map((c) => c.id),
      ['old'],
    );
    assert.equal(
      JSON.stringify(store.listCertificates()).includes('BEGIN CERTIFICATE'),
      false,
      'lists carry no chain',
    );
    assert.deepEqual(old.identifiers, store.getCertificate('old')?.identifiers);

    assert.deepEqual(
      store.pruneCertificates(NOW + 5 * HOUR),
      { certificates: 0, keys: 0 },
      'old is still valid',
    );
    assert.deepEqual(store.pruneCertificates(NOW + 11 * HOUR), { certificates: 1, keys: 1 });
    assert.equal(store.getCertificate('old'), undefined);
    assert.equal(store.getPublicKey('key-1'), undefined, 'its key went with it');
    assert.deepEqual(
      store.pruneCertificates(NOW + 365 * 24 * HOUR),
      { certificates: 0, keys: 0 },
      'a current one stays even expired',
    );
  });

  it('deletes a certificate with its key, unless a newer certificate reuses the key', (t) => {
    const data = tempDataDir();
    t.after(data.remove);
    const store = open(t, data.dir);
    store.putCertificate({
      ...certificate('c1', 'shared', ['a.test']),
      key: makeQuickKey('shared').key,
    });
    store.putCertificate({ ...certificate('c2', 'shared', ['a.test']), replaces: ['c1'] });
    assert.equal(store.deleteCertificate('c1'), true);
    assert.ok(store.getPublicKey('shared'), 'still used by c2');
    assert.equal(store.deleteCertificate('c2'), true);
    assert.equal(store.getPublicKey('shared'), undefined);
    assert.equal(store.deleteCertificate('c2'), false);
  });

  it('keeps the CA that issued a certificate, and its revocation, across a reopen', (t) => {
    const data = tempDataDir();
    t.after(data.remove);
    const directoryUrl = 'https://ca.test/directory';
    {
      const { store } = openVaultStore({ dataDir: data.dir, env: {} });
      try {
        store.putCertificate({
          ...certificate('c1', 'k1', ['a.test'], { directoryUrl }),
          key: makeQuickKey('k1').key,
        });
        store.putCertificate({ ...certificate('c2', 'k1', ['b.test']) });
        assert.equal(store.markRevoked('c1', NOW).revokedAt, NOW);
        assert.equal(store.markRevoked('c1', NOW + HOUR).revokedAt, NOW, 'the first time stays');
        assert.throws(
          () => store.markRevoked('c9', NOW),
          isStoreError('unknown_certificate', 'id'),
        );
        assert.throws(() => store.markRevoked('../c1', NOW), isStoreError('invalid_input', 'id'));
      } finally {
        store.close();
      }
    }
    const store = open(t, data.dir);
    const listed = store.listCertificates();
    const a = listed.find((info) => info.id === 'c1');
    const b = listed.find((info) => info.id === 'c2');
    assert.equal(a?.directoryUrl, directoryUrl);
    assert.equal(a.revokedAt, NOW);
    assert.equal(b?.directoryUrl, undefined, 'an imported certificate has no CA directory');
    assert.equal(b?.revokedAt, undefined);
    assert.throws(
      () => store.putCertificate(certificate('c3', 'k1', ['c.test'], { directoryUrl: 'ftp://x' })),
      isStoreError('invalid_input', 'directoryUrl'),
    );
    assert.equal(store.getCertificate('c3'), undefined);
  });

  it('keeps one challenge certificate per identifier, with its own key', (t) => {
    const data = tempDataDir();
    t.after(data.remove);
    const store = open(t, data.dir);
    const identifier = { type: 'dns', value: 'alpn.example.test' } as const;
    const put = (keyId: string, expiresAt: number) =>
      store.putChallengeCertificate({
        identifier,
        keyAuthorizationDigest: randomBytes(32),
        certificatePem: fakeChainPem(),
        key: makeQuickKey(keyId, 'challenge').key,
        expiresAt,
      });

    const first = put('ch-1', NOW + HOUR);
    assert.deepEqual(store.getChallengeCertificate(identifier), first);
    const second = put('ch-2', NOW + HOUR);
    assert.equal(store.getChallengeCertificate(identifier)?.keyId, 'ch-2');
    assert.equal(store.getPublicKey('ch-1'), undefined, 'the replaced challenge key is deleted');
    assert.ok(store.getPrivateKey(second.keyId));

    assert.equal(store.pruneChallengeCertificates(NOW), 0);
    assert.equal(store.pruneChallengeCertificates(NOW + HOUR), 1);
    assert.equal(store.getChallengeCertificate(identifier), undefined);
    assert.equal(store.getPublicKey('ch-2'), undefined);
    put('ch-3', NOW + HOUR);
    assert.equal(store.deleteChallengeCertificate(identifier), true);
    assert.equal(store.deleteChallengeCertificate(identifier), false);
    assert.equal(store.stats().keys, 0);
  });

  it('stores challenge certificates in one batch, keys given as KeyObjects, or none of them', (t) => {
    const data = tempDataDir();
    t.after(data.remove);
    const store = open(t, data.dir);
    const item = (value: string, keyId: string) => {
      const privateKey = generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey;
      return {
        input: {
          identifier: { type: 'dns', value } as const,
          keyAuthorizationDigest: randomBytes(32),
          certificatePem: fakeChainPem(),
          key: { id: keyId, purpose: 'challenge' as const, privateKey },
          expiresAt: NOW + HOUR,
        },
        privateKey,
      };
    };
    const a = item('a.example.test', 'ch-a');
    const b = item('b.example.test', 'ch-b');
    const bAgain = item('b.example.test', 'ch-b2');

    const stored = store.putChallengeCertificates([a.input, b.input, bAgain.input]);
    assert.deepEqual(
      stored.map((entry) => entry.keyId),
      ['ch-a', 'ch-b', 'ch-b2'],
    );
    assert.equal(store.getChallengeCertificate(b.input.identifier)?.keyId, 'ch-b2');
    assert.equal(store.getPublicKey('ch-b'), undefined, 'the later one replaced the earlier');
    const pkcs8 = a.privateKey.export({ type: 'pkcs8', format: 'der' });
    assert.ok(store.getPrivateKey('ch-a')?.equals(pkcs8), 'the key opens to what was given');
    const jwk = createPublicKey(a.privateKey).export({ format: 'jwk' });
    assert.deepEqual(store.getPublicKey('ch-a')?.publicJwk, {
      crv: 'P-256',
      kty: 'EC',
      x: jwk.x,
      y: jwk.y,
    });

    const before = vaultFileHashes(path.join(data.dir, 'vault.db'));
    const c = item('c.example.test', 'ch-c');
    const publicOnly = item('d.example.test', 'ch-d');
    const wrongPurpose = item('e.example.test', 'ch-e');
    const refusals: [unknown, string][] = [
      [
        {
          ...publicOnly.input,
          key: { ...publicOnly.input.key, privateKey: createPublicKey(publicOnly.privateKey) },
        },
        '[1].key.privateKey',
      ],
      [
        { ...wrongPurpose.input, key: { ...wrongPurpose.input.key, purpose: 'account' } },
        '[1].key.purpose',
      ],
      [
        { ...publicOnly.input, identifier: { type: 'dns', value: 'bad_name' } },
        '[1].identifier.value',
      ],
    ];
    for (const [bad, field] of refusals) {
      assert.throws(
        () => store.putChallengeCertificates([c.input, bad as typeof c.input]),
        (error: unknown) =>
          error instanceof StoreError && error.code === 'invalid_input' && error.field === field,
        field,
      );
    }
    assert.equal(store.getChallengeCertificate(c.input.identifier), undefined);
    assert.deepEqual(
      vaultFileHashes(path.join(data.dir, 'vault.db')),
      before,
      'a refused batch writes nothing',
    );
  });

  it('answers undefined for what is not there, and refuses use after close', (t) => {
    const data = tempDataDir();
    t.after(data.remove);
    const store = open(t, data.dir);
    assert.equal(store.getPublicKey('missing'), undefined);
    assert.equal(store.getPrivateKey('missing'), undefined);
    assert.equal(store.getCertificate('missing'), undefined);
    assert.equal(store.getAccount('missing'), undefined);
    assert.equal(store.deleteKey('missing'), false);
    store.close();
    assert.throws(() => store.getPublicKey('missing'), isStoreError('closed'));
    assert.throws(() => store.putKey(makeQuickKey('k').key), isStoreError('closed'));
  });
});

describe('vault store: bad input', () => {
  it('refuses each bad input with a named error and changes nothing stored', async (t) => {
    const data = tempDataDir();
    t.after(data.remove);
    const vaultPath = path.join(data.dir, 'vault.db');
    const store = open(t, data.dir);
    const account = makeQuickKey('acct-key', 'account');
    const leaf = makeQuickKey('leaf-key');
    store.putAccount({
      id: 'acct',
      directoryUrl: 'https://ca.test/dir',
      keyId: 'acct-key',
      key: account.key,
    });
    store.putCertificate({ ...certificate('cert', 'leaf-key', ['a.test']), key: leaf.key });
    const rsa = await makeKey('rsa', 'rsa-2048');
    const p384 = makeQuickKey('p384');
    const fresh = () => makeQuickKey('fresh').key;
    const before = dump(vaultPath);

    const cases: [string, () => unknown, StoreError['code'], string?][] = [
      [
        'an id with a slash',
        () => store.putKey({ ...fresh(), id: 'a/b' }),
        'invalid_input',
        'key.id',
      ],
      [
        'an id of 65 characters',
        () => store.putKey({ ...fresh(), id: 'a'.repeat(65) }),
        'invalid_input',
        'key.id',
      ],
      ['an empty id', () => store.getPublicKey(''), 'invalid_input', 'id'],
      [
        'an id that is not a string',
        () => store.getPrivateKey(7 as unknown as string),
        'invalid_input',
        'id',
      ],
      [
        'an unknown algorithm',
        () => store.putKey({ ...fresh(), algorithm: 'ed25519' as 'ec-p256' }),
        'invalid_input',
        'key.algorithm',
      ],
      [
        'an algorithm the key is not',
        () => store.putKey({ ...fresh(), algorithm: 'ec-p384' }),
        'invalid_input',
        'key.pkcs8',
      ],
      [
        'an RSA key named P-256',
        () => store.putKey({ ...rsa.key, algorithm: 'ec-p256' }),
        'invalid_input',
        'key.pkcs8',
      ],
      [
        'an unknown purpose',
        () => store.putKey({ ...fresh(), purpose: 'signing' as 'ca' }),
        'invalid_input',
        'key.purpose',
      ],
      [
        'bytes that are not PKCS#8',
        () => store.putKey({ ...fresh(), pkcs8: randomBytes(138) }),
        'invalid_input',
        'key.pkcs8',
      ],
      [
        'an oversized PKCS#8',
        () => store.putKey({ ...fresh(), pkcs8: Buffer.alloc(9000, 0x30) }),
        'invalid_input',
        'key.pkcs8',
      ],
      [
        'a PKCS#8 given as a string',
        () => store.putKey({ ...fresh(), pkcs8: 'MIGH' as unknown as Uint8Array }),
        'invalid_input',
        'key.pkcs8',
      ],
      [
        'a public JWK of another key',
        () => store.putKey({ ...fresh(), publicJwk: p384.key.publicJwk }),
        'invalid_input',
        'key.publicJwk',
      ],
      [
        'a public JWK holding d',
        () => store.putKey({ ...fresh(), publicJwk: { ...fresh().publicJwk, d: 'AAAA' } }),
        'invalid_input',
        'key.publicJwk',
      ],
      [
        'a wrong thumbprint',
        () => store.putKey({ ...fresh(), thumbprint: p384.key.thumbprint }),
        'invalid_input',
        'key.thumbprint',
      ],
      ['a taken key id', () => store.putKey({ ...makeQuickKey('leaf-key').key }), 'conflict'],
      [
        'a directory URL that is not one',
        () => store.putAccount({ id: 'a2', directoryUrl: 'not a url', keyId: 'acct-key' }),
        'invalid_input',
        'directoryUrl',
      ],
      [
        'a directory URL of another scheme',
        () => store.putAccount({ id: 'a2', directoryUrl: 'ftp://ca.test/', keyId: 'acct-key' }),
        'invalid_input',
        'directoryUrl',
      ],
      [
        'an account key whose id differs from keyId',
        () =>
          store.putAccount({
            id: 'a2',
            directoryUrl: 'https://b.test/',
            keyId: 'other',
            key: fresh(),
          }),
        'invalid_input',
        'key.id',
      ],
      [
        'a certificate with an account key',
        () => store.putCertificate(certificate('c2', 'acct-key', ['b.test'])),
        'wrong_key_purpose',
        'keyId',
      ],
      [
        'a certificate with an unknown key',
        () => store.putCertificate(certificate('c2', 'nope', ['b.test'])),
        'unknown_key',
        'keyId',
      ],
      [
        'a certificate with no identifier',
        () => store.putCertificate(certificate('c2', 'leaf-key', [])),
        'invalid_input',
        'identifiers',
      ],
      [
        'an uppercase DNS name',
        () => store.putCertificate(certificate('c2', 'leaf-key', ['A.test'])),
        'invalid_input',
        'identifiers[0].value',
      ],
      [
        'a DNS name with a space',
        () => store.putCertificate(certificate('c2', 'leaf-key', ['a b.test'])),
        'invalid_input',
        'identifiers[0].value',
      ],
      [
        'a wildcard inside a name',
        () => store.putCertificate(certificate('c2', 'leaf-key', ['a.*.test'])),
        'invalid_input',
        'identifiers[0].value',
      ],
      [
        'a label of 64 characters',
        () => store.putCertificate(certificate('c2', 'leaf-key', [`${'a'.repeat(64)}.test`])),
        'invalid_input',
        'identifiers[0].value',
      ],
      [
        'a bad IP address',
        () =>
          store.putCertificate(
            certificate('c2', 'leaf-key', [], {
              identifiers: [{ type: 'ip', value: '300.1.1.1' }],
            }),
          ),
        'invalid_input',
        'identifiers[0].value',
      ],
      [
        'an unknown identifier type',
        () =>
          store.putCertificate(
            certificate('c2', 'leaf-key', [], {
              identifiers: [{ type: 'email' as 'dns', value: 'a@b.test' }],
            }),
          ),
        'invalid_input',
        'identifiers[0].type',
      ],
      [
        'a repeated identifier',
        () => store.putCertificate(certificate('c2', 'leaf-key', ['b.test', 'b.test'])),
        'invalid_input',
        'identifiers[1]',
      ],
      [
        '101 identifiers',
        () =>
          store.putCertificate(
            certificate(
              'c2',
              'leaf-key',
              Array.from({ length: 101 }, (_, i) => `n${i}.test`),
            ),
          ),
        'invalid_input',
        'identifiers',
      ],
      [
        'a chain holding a private key',
        () =>
          store.putCertificate(
            certificate('c2', 'leaf-key', ['b.test'], {
              chainPem: `${fakeChainPem()}-----BEGIN PRIVATE KEY-----\nMIGH\n-----END PRIVATE KEY-----\n`,
            }),
          ),
        'invalid_input',
        'chainPem',
      ],
      [
        'a chain that is not PEM',
        () =>
          store.putCertificate(certificate('c2', 'leaf-key', ['b.test'], { chainPem: 'hello' })),
        'invalid_input',
        'chainPem',
      ],
      [
        'an oversized chain',
        () =>
          store.putCertificate(
            certificate('c2', 'leaf-key', ['b.test'], { chainPem: fakeChainPem().repeat(400) }),
          ),
        'invalid_input',
        'chainPem',
      ],
      [
        'notAfter before notBefore',
        () =>
          store.putCertificate(
            certificate('c2', 'leaf-key', ['b.test'], { notAfter: NOW - 2 * HOUR }),
          ),
        'invalid_input',
        'notAfter',
      ],
      [
        'a time that is not a whole number',
        () => store.putCertificate(certificate('c2', 'leaf-key', ['b.test'], { notBefore: 1.5 })),
        'invalid_input',
        'notBefore',
      ],
      [
        'a serial that is not hex',
        () => store.putCertificate(certificate('c2', 'leaf-key', ['b.test'], { serial: 'xyz' })),
        'invalid_input',
        'serial',
      ],
      [
        'a bad ARI certificate id',
        () =>
          store.putCertificate(certificate('c2', 'leaf-key', ['b.test'], { ariCertId: 'no dot' })),
        'invalid_input',
        'ariCertId',
      ],
      [
        'replacing an unknown certificate',
        () =>
          store.putCertificate({
            ...certificate('c2', 'leaf-key', ['b.test']),
            replaces: ['ghost'],
          }),
        'unknown_certificate',
        'replaces[0]',
      ],
      [
        'a taken certificate id',
        () => store.putCertificate(certificate('cert', 'leaf-key', ['b.test'])),
        'conflict',
      ],
      [
        'a certificate whose new key fails later',
        () =>
          store.putCertificate({
            ...certificate('c2', 'fresh', ['b.test']),
            key: fresh(),
            replaces: ['ghost'],
          }),
        'unknown_certificate',
      ],
      [
        'a digest of 31 bytes',
        () =>
          store.putChallengeCertificate({
            identifier: { type: 'dns', value: 'c.test' },
            keyAuthorizationDigest: randomBytes(31),
            certificatePem: fakeChainPem(),
            key: makeQuickKey('ch', 'challenge').key,
            expiresAt: NOW,
          }),
        'invalid_input',
        'keyAuthorizationDigest',
      ],
      [
        'a challenge with a certificate key',
        () =>
          store.putChallengeCertificate({
            identifier: { type: 'dns', value: 'c.test' },
            keyAuthorizationDigest: randomBytes(32),
            certificatePem: fakeChainPem(),
            key: fresh(),
            expiresAt: NOW,
          }),
        'invalid_input',
        'key.purpose',
      ],
      [
        'a bundle for a bad identifier',
        () => store.getBundle({ type: 'dns', value: '' }),
        'invalid_input',
        'identifier.value',
      ],
      ['deleting a key in use', () => store.deleteKey('leaf-key'), 'key_in_use'],
      ['a negative prune time', () => store.pruneCertificates(-1), 'invalid_input', 'now'],
    ];
    for (const [what, call, code, field] of cases) {
      assert.throws(call, isStoreError(code, field), what);
    }
    assert.equal(dump(vaultPath), before, 'no bad input changed a row');
  });
});
