import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { inspect } from 'node:util';
import {
  MASTER_KEY_ENV,
  MasterKey,
  MasterKeyError,
  loadMasterKey,
  parseMasterKey,
  readMasterKeyFile,
} from './master-key.js';
import { tempDataDir } from './test-fixtures/vault-keys.js';

const child = path.join(
  path.dirname(fileURLToPath(import.meta.url)),
  'test-fixtures/vault-child.js',
);
const envSource = { kind: 'env', variable: MASTER_KEY_ENV } as const;

function isMasterKeyError(code: MasterKeyError['code'], message?: RegExp) {
  return (error: unknown): boolean => {
    assert.ok(error instanceof MasterKeyError, `expected MasterKeyError, got ${String(error)}`);
    assert.equal(error.code, code);
    if (message) assert.match(error.message, message);
    return true;
  };
}

describe('master key', () => {
  it('creates <data>/master.key at first start, mode 0600, and reads the same key later', (t) => {
    const data = tempDataDir();
    t.after(data.remove);
    const file = path.join(data.dir, 'master.key');

    const first = loadMasterKey({ dataDir: data.dir, env: {}, create: true });
    assert.ok(first?.created);
    assert.equal(fs.statSync(file).mode & 0o777, 0o600);
    assert.match(fs.readFileSync(file, 'latin1'), /^[A-Za-z0-9+/]{43}=\n$/);
    assert.match(first.key.id, /^[0-9a-f]{16}$/);
    assert.deepEqual(first.key.source, { kind: 'file', path: file });

    const again = loadMasterKey({ dataDir: data.dir, env: {}, create: true });
    assert.equal(again?.created, false);
    assert.equal(again.key.id, first.key.id);
    assert.ok(again.key.equals(first.key));
    assert.deepEqual(
      fs.readdirSync(data.dir),
      ['master.key'],
      'no temporary file is left beside the key',
    );
  });

  it('creates nothing when creation is not allowed and there is no key', (t) => {
    const data = tempDataDir();
    t.after(data.remove);
    assert.equal(loadMasterKey({ dataDir: data.dir, env: {}, create: false }), undefined);
    assert.deepEqual(fs.readdirSync(data.dir), []);
  });

  it('takes the key from GATEHOUSE_MASTER_KEY in base64, base64url or hex, before the file', (t) => {
    const data = tempDataDir();
    t.after(data.remove);
    const fileKey = loadMasterKey({ dataDir: data.dir, env: {}, create: true });
    const bytes = randomBytes(32);
    const forms = [
      bytes.toString('base64'),
      bytes.toString('base64').replace(/=$/, ''),
      bytes.toString('base64url'),
      bytes.toString('hex'),
      bytes.toString('hex').toUpperCase(),
      `  ${bytes.toString('base64')}\n`,
    ];
    const ids = forms.map((form) => {
      const loaded = loadMasterKey({
        dataDir: data.dir,
        env: { [MASTER_KEY_ENV]: form },
        create: true,
      });
      assert.equal(loaded?.created, false);
      assert.deepEqual(loaded.key.source, envSource);
      return loaded.key.id;
    });
    assert.equal(new Set(ids).size, 1, 'every form gives the same key');
    assert.notEqual(ids[0], fileKey?.key.id, 'the variable wins over the file');
    assert.deepEqual(fs.readdirSync(data.dir), ['master.key']);
  });

  it('does not create a key file when the key comes from the environment', (t) => {
    const data = tempDataDir();
    t.after(data.remove);
    const env = { [MASTER_KEY_ENV]: randomBytes(32).toString('base64') };
    assert.ok(loadMasterKey({ dataDir: data.dir, env, create: true }));
    assert.deepEqual(fs.readdirSync(data.dir), []);
  });

  const refused: [string, string][] = [
    ['an empty value', ''],
    ['31 bytes of base64', randomBytes(31).toString('base64')],
    ['33 bytes of hex', randomBytes(33).toString('hex')],
    ['a passphrase', 'correct horse battery staple, and then some more words'],
    [
      'base64 with a character outside the alphabet',
      `${randomBytes(32).toString('base64').slice(0, 42)}!=`,
    ],
    ['base64 with stray low bits', `${randomBytes(32).toString('base64').slice(0, 42)}B=`],
    ['mixed base64 alphabets', `-+${randomBytes(32).toString('base64').slice(2)}`],
  ];
  for (const [what, value] of refused) {
    it(`refuses ${what} in GATEHOUSE_MASTER_KEY without quoting it`, () => {
      assert.throws(
        () => parseMasterKey(value, envSource),
        isMasterKeyError(
          'master_key_invalid',
          /environment variable GATEHOUSE_MASTER_KEY is not 32 bytes in base64 \(44 characters\) or hex \(64 characters\)/,
        ),
      );
      try {
        parseMasterKey(value, envSource);
      } catch (error) {
        if (value.length > 0) assert.ok(!(error as Error).message.includes(value.trim()));
      }
    });
  }

  for (const mode of [0o640, 0o604, 0o660, 0o602]) {
    it(`refuses a key file with mode ${mode.toString(8)} and says how to fix it`, (t) => {
      const data = tempDataDir();
      t.after(data.remove);
      const loaded = loadMasterKey({ dataDir: data.dir, env: {}, create: true });
      const file = path.join(data.dir, 'master.key');
      const before = fs.readFileSync(file);
      fs.chmodSync(file, mode);

      assert.throws(
        () => loadMasterKey({ dataDir: data.dir, env: {}, create: true }),
        isMasterKeyError(
          'master_key_unsafe_permissions',
          new RegExp(`mode 0${mode.toString(8)}.*chmod 600 ${file}`),
        ),
      );
      assert.ok(fs.readFileSync(file).equals(before), 'the file is left as it was');
      fs.chmodSync(file, 0o600);
      assert.equal(
        loadMasterKey({ dataDir: data.dir, env: {}, create: false })?.key.id,
        loaded?.key.id,
      );
    });
  }

  it('refuses a key file that is a symbolic link or not a file', (t) => {
    const data = tempDataDir();
    t.after(data.remove);
    const target = path.join(data.dir, 'elsewhere.key');
    fs.writeFileSync(target, `${randomBytes(32).toString('base64')}\n`, { mode: 0o600 });
    fs.symlinkSync(target, path.join(data.dir, 'master.key'));
    assert.throws(
      () => loadMasterKey({ dataDir: data.dir, env: {}, create: true }),
      isMasterKeyError('master_key_unreadable', /symbolic link/),
    );

    fs.rmSync(path.join(data.dir, 'master.key'));
    fs.mkdirSync(path.join(data.dir, 'master.key'), { mode: 0o700 });
    assert.throws(
      () => loadMasterKey({ dataDir: data.dir, env: {}, create: true }),
      isMasterKeyError('master_key_unreadable', /not a regular file/),
    );
  });

  it('reads a key file of 32 raw bytes, and refuses one of another length', (t) => {
    const data = tempDataDir();
    t.after(data.remove);
    const file = path.join(data.dir, 'master.key');
    const bytes = randomBytes(32);
    fs.writeFileSync(file, bytes, { mode: 0o600 });
    const fromFile = readMasterKeyFile(file);
    const fromHex = parseMasterKey(bytes.toString('hex'), envSource);
    assert.equal(fromFile?.id, fromHex.id);

    fs.writeFileSync(file, randomBytes(40), { mode: 0o600 });
    assert.throws(() => readMasterKeyFile(file), isMasterKeyError('master_key_invalid'));
  });

  it('shows only its id and source when printed or serialised', () => {
    const bytes = randomBytes(32);
    const key = MasterKey.fromBytes(Buffer.from(bytes), envSource);
    for (const shown of [
      inspect(key),
      JSON.stringify(key),
      inspect(key, { showHidden: true, depth: 5 }),
    ]) {
      assert.ok(!shown.includes(bytes.toString('hex')));
      assert.ok(!shown.includes(bytes.toString('base64')));
    }
    assert.match(inspect(key), new RegExp(`MasterKey \\{ id: '${key.id}'`));
  });

  it('lets exactly one of several starts racing create the key; all read the same one', async (t) => {
    const data = tempDataDir();
    t.after(data.remove);
    const env = Object.fromEntries(
      Object.entries(process.env).filter(([name]) => name !== MASTER_KEY_ENV),
    );

    const outputs = await Promise.all(
      Array.from({ length: 8 }, () => runChild(['master-key-id', data.dir], env)),
    );
    const ids = outputs.map((line) => line.split(' ')[0]);
    assert.equal(new Set(ids).size, 1, `all children saw one key: ${outputs.join(', ')}`);
    assert.equal(outputs.filter((line) => line.endsWith('created')).length, 1);
    assert.equal(readMasterKeyFile(path.join(data.dir, 'master.key'))?.id, ids[0]);
    assert.deepEqual(fs.readdirSync(data.dir), ['master.key']);
  });
});

function runChild(args: string[], env: NodeJS.ProcessEnv): Promise<string> {
  return new Promise((resolve, reject) => {
    const process_ = spawn(process.execPath, [child, ...args], {
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    const timer = setTimeout(() => process_.kill('SIGKILL'), 20_000);
    process_.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    process_.stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
    process_.on('error', reject);
    process_.on('close', (code) => {
      clearTimeout(timer);
      if (code === 0) resolve(out.trim());
      else reject(new Error(`vault-child ${args.join(' ')} exited with ${String(code)}: ${err}`));
    });
  });
}
