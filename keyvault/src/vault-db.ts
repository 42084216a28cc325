/**
 * Opening the vault's SQLite file, in an order that writes nothing until the
 * master key is proven: read the vault's state from a copy (vault-check.ts),
 * refuse a newer schema or a key that does not open it, and only then open
 * the file itself, switch to WAL, set the pragmas, run the migrations and,
 * for a new vault, write the master key check.
 *
 * Durability: WAL with synchronous=FULL, so a commit is on disk when the
 * write returns. NORMAL would survive a crash of the process but may lose
 * the last commits on power loss; the rotation order in vault.ts (key file
 * replaced only after the commit) is safe only if a commit is durable, and
 * the vault writes rarely (a few rows per certificate), so FULL costs
 * nothing that matters.
 */
import Database, { type Database as Db } from 'better-sqlite3';
import fs from 'node:fs';
import type { MasterKey } from './master-key.js';
import { checkSchemaVersion, runMigrations } from './migrations.js';
import { StoreError } from './store-input.js';
import {
  makeMasterKeyCheck,
  readVaultState,
  requireMasterKey,
  type VaultState,
} from './vault-check.js';

export interface OpenVaultDatabaseOptions {
  /** The vault file, normally `<data>/vault.db`. */
  path: string;
  masterKey: MasterKey;
  /** The state read before opening (see vault.ts), to spare a second copy. */
  state?: VaultState;
  now?: () => number;
}

/**
 * Opens or creates the vault file. Throws StoreError `schema_too_new` or
 * `vault_inconsistent`, or MasterKeyError `master_key_wrong`, with the
 * vault's files left byte-identical.
 */
export function openVaultDatabase(options: OpenVaultDatabaseOptions): Db {
  const state = options.state ?? readVaultState(options.path);
  checkSchemaVersion(state.schemaVersion);
  requireMasterKey(options.path, state.masterKey, options.masterKey);
  if (!state.masterKey && state.keyCount > 0) {
    throw new StoreError(
      'vault_inconsistent',
      `The vault ${options.path} holds ${state.keyCount} keys but no master key check, ` +
        `so no key can be proven right for it. Restore it from a backup; nothing was changed.`,
    );
  }
  if (!state.exists) createPrivateFile(options.path);

  const db = new Database(options.path, { fileMustExist: true });
  try {
    configure(db);
    runMigrations(db);
    const now = (options.now ?? Date.now)();
    db.transaction(() => {
      ensureMasterKeyCheck(db, options.path, options.masterKey, now);
    }).immediate();
    return db;
  } catch (error) {
    db.close();
    throw error;
  }
}

function configure(db: Db): void {
  const mode = db.pragma('journal_mode = WAL', { simple: true });
  if (mode !== 'wal') {
    throw new StoreError(
      'vault_unreadable',
      `The vault ${db.name} could not switch to WAL mode (it reports "${String(mode)}"); ` +
        `keep it on a local file system.`,
    );
  }
  db.pragma('synchronous = FULL');
  db.pragma('foreign_keys = ON');
  // Deleted and updated rows (sealed keys among them) are zeroed, not left in free pages.
  db.pragma('secure_delete = ON');
}

function ensureMasterKeyCheck(db: Db, path: string, key: MasterKey, now: number): void {
  const row = db
    .prepare<[], { master_key_id: string; master_key_check: Buffer }>(
      'SELECT master_key_id, master_key_check FROM meta WHERE id = 1',
    )
    .get();
  if (!row) {
    db.prepare(
      'INSERT INTO meta (id, master_key_id, master_key_check, created_at) VALUES (1, ?, ?, ?)',
    ).run(key.id, makeMasterKeyCheck(key), now);
    return;
  }
  // The copy said yes already; this catches a change in between, which only
  // a second keyvault on the same vault could make.
  requireMasterKey(path, { id: row.master_key_id, check: row.master_key_check }, key);
}

/** A new vault is private to its owner from its first byte; SQLite gives -wal and -shm its mode. */
function createPrivateFile(file: string): void {
  try {
    fs.closeSync(fs.openSync(file, 'wx', 0o600));
  } catch (error) {
    // Created since the state was read: the check in the first transaction
    // still decides whether our key opens it.
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') {
      throw new StoreError(
        'vault_unreadable',
        `Cannot create the vault ${file}: ${(error as Error).message}. ` +
          `Check that the data directory exists and is writable.`,
        { cause: error },
      );
    }
  }
}
