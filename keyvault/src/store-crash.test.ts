import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createPrivateKey, createPublicKey } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { MASTER_KEY_ENV } from './master-key.js';
import { jwkThumbprint, type PublicJwk } from './keys.js';
import { tempDataDir } from './test-fixtures/vault-keys.js';
import { openVaultStore } from './vault.js';

const child = path.join(
  path.dirname(fileURLToPath(import.meta.url)),
  'test-fixtures/vault-child.js',
);
const ROUNDS = 3;
const KILL_AFTER = 150;

/**
 * Starts the writer child and kills it with SIGKILL in the middle of its
 * burst: once it printed `killAfter` committed ids, or after 15 s when the
 * machine is too busy for that many (a slow disk under other load makes
 * each commit's fsync slow, and the count is not what this test is about).
 * Returns the complete lines it printed; at least one.
 */
function burstAndKill(dataDir: string, killAfter: number): Promise<string[]> {
  const env = Object.fromEntries(
    Object.entries(process.env).filter(([name]) => name !== MASTER_KEY_ENV),
  );
  const writer: ChildProcess = spawn(process.execPath, [child, 'write-keys', dataDir, '100000'], {
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return new Promise((resolve, reject) => {
    let out = '';
    let err = '';
    let killed = false;
    const kill = (): void => {
      if (killed) return;
      killed = true;
      writer.kill('SIGKILL');
    };
    const guard = setTimeout(kill, 15_000);
    writer.stdout?.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      if (out.split('\n').length > killAfter) kill();
    });
    writer.stderr?.on('data', (chunk: Buffer) => (err += chunk.toString()));
    writer.on('error', reject);
    writer.on('close', (_code, signal) => {
      clearTimeout(guard);
      if (signal !== 'SIGKILL') {
        reject(new Error(`the writer ended by itself (${String(signal)}): ${err}`));
        return;
      }
      // A line cut short by the kill was not printed whole: it does not count.
      const lines = out.split('\n').slice(0, -1);
      if (lines.length === 0) reject(new Error(`the writer committed no key in 15 s: ${err}`));
      else resolve(lines);
    });
  });
}

describe('vault store under kill -9', () => {
  it('loses no committed key when the writer is killed in a burst of writes', async (t) => {
    const data = tempDataDir();
    t.after(data.remove);

    const committed: { id: string; thumbprint: string }[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      const lines = await burstAndKill(data.dir, KILL_AFTER);
      assert.ok(lines.length > 0, `round ${round}: no id`);
      for (const line of lines) {
        const [id, thumbprint] = line.split(' ');
        assert.ok(id && thumbprint, `a whole line: ${line}`);
        committed.push({ id, thumbprint });
      }
    }

    // The killed writer left its WAL behind: opening must read the commits in it.
    assert.ok(fs.statSync(path.join(data.dir, 'vault.db-wal')).size > 0);
    const { store } = openVaultStore({ dataDir: data.dir, env: {} });
    t.after(() => {
      store.close();
    });
    for (const { id, thumbprint } of committed) {
      const pkcs8 = store.getPrivateKey(id);
      assert.ok(pkcs8, `committed key ${id} is in the vault`);
      const publicJwk = createPublicKey(
        createPrivateKey({ key: pkcs8, format: 'der', type: 'pkcs8' }),
      ).export({ format: 'jwk' }) as PublicJwk;
      assert.equal(jwkThumbprint(publicJwk), thumbprint, `key ${id} is the one committed`);
      assert.equal(store.getPublicKey(id)?.thumbprint, thumbprint);
    }
    // The kills may fall after a commit and before its line: such keys are
    // stored and not printed, never the other way round.
    assert.ok(store.stats().keys >= committed.length);
    assert.ok(store.stats().keys <= committed.length + ROUNDS);
  });
});
