/**
 * A child process for the vault tests, run as
 *   node vault-child.js master-key-id <dataDir>
 *     loads the master key of <dataDir> (creating the file if needed) and
 *     prints its id: several at once show that creation cannot race;
 *   node vault-child.js write-keys <dataDir> <max>
 *     opens the vault and stores keys one per transaction, printing
 *     "<id> <thumbprint>" after each commit, until <max> keys or 60 s: the
 *     test kills it with SIGKILL in the middle and checks every printed key.
 * The master key comes from the environment or the data directory, as in
 * the keyvault.
 */
import { writeSync } from 'node:fs';
import { loadMasterKey } from '../master-key.js';
import { openVaultStore } from '../vault.js';
import { makeQuickKey } from './vault-keys.js';

const [mode, dataDir, maxText] = process.argv.slice(2);
if (!dataDir) throw new Error('usage: vault-child.js master-key-id|write-keys <dataDir> [max]');

if (mode === 'master-key-id') {
  const loaded = loadMasterKey({ dataDir, create: true });
  writeSync(1, `${loaded?.key.id ?? 'none'} ${loaded?.created ? 'created' : 'read'}\n`);
} else if (mode === 'write-keys') {
  const { store } = openVaultStore({ dataDir });
  const max = Number(maxText ?? '100000');
  const deadline = Date.now() + 60_000;
  for (let n = 0; n < max && Date.now() < deadline; n++) {
    const { key } = makeQuickKey(`child-${process.pid}-${n}`);
    const stored = store.putKey(key);
    // writeSync: the line is in the pipe before the next write starts, so
    // a printed id always means a committed key.
    writeSync(1, `${stored.id} ${stored.thumbprint}\n`);
  }
  store.close();
} else {
  throw new Error(`vault-child.js: unknown mode ${mode ?? ''}`);
}
