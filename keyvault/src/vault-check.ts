/**
 * Which master key a vault expects, found without writing a byte to it.
 *
 * The vault proves its master key with a check value: a fixed constant
 * sealed under the key (context `meta/master_key_check`). A key opens the
 * vault exactly when it opens that value.
 *
 * Reading the check must not change the vault, and SQLite cannot promise
 * that in place: even a read-only connection creates `vault.db-wal` and
 * `vault.db-shm` when they are missing and writes its read marks into
 * `-shm` (seen with better-sqlite3 12, which does not allow the URI options
 * `immutable` or `readonly_shm`). So the check reads a copy: vault.db and
 * its WAL are copied into a private temporary directory, SQLite opens the
 * copy (replaying the WAL there), and the directory is removed.
 */
import Database from 'better-sqlite3';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  MASTER_KEY_ENV,
  MASTER_KEY_FILE,
  MasterKeyError,
  describeSource,
  type MasterKey,
} from './master-key.js';
import { schemaVersion } from './migrations.js';
import { SealError, openSealed, seal } from './seal.js';
import { StoreError } from './store-input.js';

const CHECK_CONTEXT = 'meta/master_key_check';
const CHECK_CONSTANT = Buffer.from('gatehouse vault master key check, version 1', 'utf8');

/** What a vault holds before it is opened for writing. */
export interface VaultState {
  exists: boolean;
  schemaVersion: number;
  /** Absent for a new vault, or one whose first start stopped before it wrote the check. */
  masterKey: { id: string; check: Buffer } | undefined;
  keyCount: number;
}

export function makeMasterKeyCheck(key: MasterKey): Buffer {
  return seal(key, CHECK_CONSTANT, CHECK_CONTEXT);
}

/** Whether `key` opens `check`. A check that is not sealed data at all is a damaged vault. */
export function opensMasterKeyCheck(key: MasterKey, check: Uint8Array): boolean {
  try {
    return openSealed(key, check, CHECK_CONTEXT).equals(CHECK_CONSTANT);
  } catch (error) {
    if (error instanceof SealError && error.code === 'seal_authentication_failed') return false;
    throw new StoreError(
      'vault_inconsistent',
      `The vault's master key check is damaged (${(error as Error).message}). ` +
        `Restore the vault from a backup.`,
      { cause: error },
    );
  }
}

/**
 * Throws MasterKeyError `master_key_wrong` unless `key` opens the check a
 * vault holds (none: any key will do). The message names the key id the vault expects and
 * where keys are read from, never any key.
 */
export function requireMasterKey(
  vaultPath: string,
  expected: VaultState['masterKey'],
  key: MasterKey,
): void {
  if (!expected || opensMasterKeyCheck(key, expected.check)) return;
  throw new MasterKeyError(
    'master_key_wrong',
    `The vault ${vaultPath} is sealed under master key ${expected.id}, but the key ` +
      `from ${describeSource(key.source)} is ${key.id}. ${whereKeysComeFrom(vaultPath)} ` +
      `Give the key with id ${expected.id}; nothing was changed.`,
  );
}

export function whereKeysComeFrom(vaultPath: string): string {
  const file = path.join(path.dirname(vaultPath), MASTER_KEY_FILE);
  return (
    `The keyvault reads the master key from the environment variable ${MASTER_KEY_ENV} ` +
    `when it is set, else from the file ${file}.`
  );
}

/** Reads a vault's state through a temporary copy; the vault's own files are only read. */
export function readVaultState(vaultPath: string): VaultState {
  if (!fs.existsSync(vaultPath)) {
    return { exists: false, schemaVersion: 0, masterKey: undefined, keyCount: 0 };
  }

  let directory: string;
  try {
    directory = fs.mkdtempSync(path.join(os.tmpdir(), 'gatehouse-vault-check-'));
  } catch (error) {
    throw cannotCopy(vaultPath, error);
  }
  try {
    return readCopy(copyVault(vaultPath, directory), vaultPath);
  } finally {
    fs.rmSync(directory, { recursive: true, force: true });
  }
}

function copyVault(vaultPath: string, directory: string): string {
  const copy = path.join(directory, 'vault.db');
  try {
    fs.copyFileSync(vaultPath, copy);
    if (fs.existsSync(`${vaultPath}-wal`)) fs.copyFileSync(`${vaultPath}-wal`, `${copy}-wal`);
    return copy;
  } catch (error) {
    throw cannotCopy(vaultPath, error);
  }
}

function readCopy(copy: string, vaultPath: string): VaultState {
  let db: Database.Database | undefined;
  try {
    db = new Database(copy, { fileMustExist: true });
    const version = schemaVersion(db);
    const tables = new Set(
      db
        .prepare<[], { name: string }>("SELECT name FROM sqlite_schema WHERE type = 'table'")
        .all()
        .map((row) => row.name),
    );
    const meta = tables.has('meta')
      ? db
          .prepare<[], { master_key_id: string; master_key_check: Buffer }>(
            'SELECT master_key_id, master_key_check FROM meta WHERE id = 1',
          )
          .get()
      : undefined;
    const keys = tables.has('keys')
      ? (db.prepare<[], { n: number }>('SELECT count(*) AS n FROM keys').get()?.n ?? 0)
      : 0;
    return {
      exists: true,
      schemaVersion: version,
      masterKey: meta ? { id: meta.master_key_id, check: meta.master_key_check } : undefined,
      keyCount: keys,
    };
  } catch (error) {
    throw new StoreError(
      'vault_unreadable',
      `Cannot read the vault ${vaultPath}: ${(error as Error).message}. If it is not a ` +
        `Gatehouse vault or is damaged, restore it from a backup; nothing was changed.`,
      { cause: error },
    );
  } finally {
    db?.close();
  }
}

function cannotCopy(vaultPath: string, cause: unknown): StoreError {
  return new StoreError(
    'vault_unreadable',
    `Cannot copy the vault ${vaultPath} into ${os.tmpdir()} to check its master key ` +
      `without writing to it: ${(cause as Error).message}. Free space there, or set TMPDIR ` +
      `to a private directory with room for a copy of the vault; nothing was changed.`,
    { cause },
  );
}
