/**
 * Opening the vault of a data directory with the right master key, and
 * rotating a master key kept in a file, so that no crash ever leaves keys
 * sealed under a key that exists nowhere.
 *
 * Rotation order (file keys):
 *   1. the new key is written to `master.key.new` (0600, fsync, dir fsync);
 *   2. one transaction re-seals every key and the check under it (durable,
 *      synchronous=FULL);
 *   3. `master.key.new` is renamed over `master.key` (dir fsync).
 * A crash before 2 commits leaves the vault under the old key, which is in
 * master.key; a crash between 2 and 3 leaves it under the new key, which is
 * in master.key.new. At the next start, openVaultStore tells which by the
 * vault's check value: it finishes step 3, or removes the unused new file.
 * It never replaces master.key with a key that the vault does not prove.
 */
import fs from 'node:fs';
import path from 'node:path';
import {
  MASTER_KEY_ENV,
  MASTER_KEY_FILE,
  MasterKey,
  MasterKeyError,
  describeSource,
  STAGED_MASTER_KEY_FILE,
  loadMasterKey,
  readMasterKeyFile,
  replaceMasterKeyFile,
  syncDirectory,
  writeMasterKeyFile,
} from './master-key.js';
import { VaultStore } from './store.js';
import { opensMasterKeyCheck, readVaultState, whereKeysComeFrom } from './vault-check.js';

export const VAULT_FILE = 'vault.db';

export interface OpenVaultOptions {
  /** The data directory; it must exist (the supervisor creates it, mode 0700). */
  dataDir: string;
  /** Where GATEHOUSE_MASTER_KEY is read; `process.env` by default. */
  env?: Record<string, string | undefined>;
  now?: () => number;
}

/** What opening did besides opening, for the keyvault to log. */
export interface OpenedVault {
  store: VaultStore;
  /** True when this start created `<data>/master.key`. */
  createdKeyFile: boolean;
  /** Set when a rotation interrupted by a crash was finished or undone. */
  recoveredRotation: 'finished' | 'undone' | undefined;
}

/**
 * Opens `<data>/vault.db` with the master key from GATEHOUSE_MASTER_KEY or
 * `<data>/master.key`. The key file is created only for a vault that has no
 * master key check yet. Throws MasterKeyError (`master_key_missing`,
 * `master_key_wrong`, ...) or StoreError with the vault left untouched.
 */
export function openVaultStore(options: OpenVaultOptions): OpenedVault {
  const env = options.env ?? process.env;
  const vaultPath = path.join(options.dataDir, VAULT_FILE);
  const state = readVaultState(vaultPath);

  const recoveredRotation =
    env[MASTER_KEY_ENV] === undefined
      ? recoverRotation(options.dataDir, state.masterKey?.check)
      : undefined;

  const loaded = loadMasterKey({ dataDir: options.dataDir, env, create: !state.masterKey });
  if (!loaded) {
    throw new MasterKeyError(
      'master_key_missing',
      `The vault ${vaultPath} is sealed under master key ${state.masterKey?.id ?? '?'}, ` +
        `but no master key was found: ${MASTER_KEY_ENV} is not set and ` +
        `${path.join(options.dataDir, MASTER_KEY_FILE)} does not exist. ` +
        `${whereKeysComeFrom(vaultPath)} Restore that key; nothing was changed.`,
    );
  }

  const store = VaultStore.open({
    path: vaultPath,
    masterKey: loaded.key,
    state,
    ...(options.now ? { now: options.now } : {}),
  });
  return { store, createdKeyFile: loaded.created, recoveredRotation };
}

/**
 * Rotates a master key kept in `<data>/master.key` to a new random key, in
 * the order described at the top of this file. Refused when the key came
 * from GATEHOUSE_MASTER_KEY: then the operator makes the new key, and the
 * caller passes it to `store.rotateMasterKey` and has the operator replace
 * the variable afterwards (the old value no longer opens the vault).
 */
export function rotateMasterKeyFile(store: VaultStore, dataDir: string): { resealed: number } {
  const source = store.masterKey.source;
  const file = path.join(dataDir, MASTER_KEY_FILE);
  if (source.kind !== 'file' || source.path !== file) {
    throw new MasterKeyError(
      'master_key_rotation_refused',
      `The master key in use comes from ${describeSource(source)}, ` +
        `not from ${file}, so the keyvault cannot replace it. Make a new key and rotate to ` +
        `it explicitly, then give it in place of the old one.`,
    );
  }

  const staged = path.join(dataDir, STAGED_MASTER_KEY_FILE);
  const newKey = MasterKey.generate({ kind: 'file', path: file });
  if (!writeMasterKeyFile(staged, newKey)) {
    throw new MasterKeyError(
      'master_key_rotation_refused',
      `${staged} already exists: another rotation is under way or was interrupted. ` +
        `Restart the keyvault (it settles an interrupted rotation at start) and try again.`,
    );
  }

  let result: { resealed: number };
  try {
    result = store.rotateMasterKey(newKey);
  } catch (error) {
    // Remove the staged key only if the vault did not move to it.
    if (store.masterKeyId !== newKey.id) fs.rmSync(staged, { force: true });
    throw error;
  }
  replaceMasterKeyFile(staged, file);
  return result;
}

/**
 * Settles a rotation that a crash interrupted: if the staged key opens the
 * vault, it becomes master.key; if it does not but master.key does, the
 * staged file is removed. Otherwise nothing is touched, and the key check
 * that follows reports the wrong key.
 */
function recoverRotation(
  dataDir: string,
  check: Buffer | undefined,
): OpenedVault['recoveredRotation'] {
  const staged = path.join(dataDir, STAGED_MASTER_KEY_FILE);
  if (!check || !fs.existsSync(staged)) return undefined;

  const stagedKey = readMasterKeyFile(staged);
  const file = path.join(dataDir, MASTER_KEY_FILE);
  if (stagedKey && opensMasterKeyCheck(stagedKey, check)) {
    replaceMasterKeyFile(staged, file);
    return 'finished';
  }
  const current = readMasterKeyFile(file);
  if (current && opensMasterKeyCheck(current, check)) {
    fs.rmSync(staged);
    syncDirectory(dataDir);
    return 'undone';
  }
  return undefined;
}
