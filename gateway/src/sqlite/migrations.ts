/**
 * Numbered schema migrations for Gatehouse's SQLite files (state.db and
 * the keyvault's vault.db). Each migration runs in one IMMEDIATE
 * transaction together with the `schema_migrations` row that records it,
 * so a crash or an error leaves the file at the version before, never
 * between two. A released migration never changes; a new schema is a new
 * migration.
 */
import type { Database } from 'better-sqlite3';

export interface Migration {
  version: number;
  name: string;
  sql: string;
}

/** The version a file is at: 0 for a new file. Reads only. */
export function schemaVersion(db: Database): number {
  const table = db
    .prepare<[], { name: string }>(
      "SELECT name FROM sqlite_schema WHERE type = 'table' AND name = 'schema_migrations'",
    )
    .get();
  if (!table) return 0;
  const row = db
    .prepare<[], { version: number | null }>(
      'SELECT max(version) AS version FROM schema_migrations',
    )
    .get();
  return row?.version ?? 0;
}

export interface MigrateOptions {
  readonly now?: () => number;
  /**
   * The error for a file written by a newer Gatehouse (its version above
   * the latest migration known here); thrown before anything is written.
   */
  readonly tooNew: (version: number, latest: number) => Error;
}

/** Applies the migrations the file lacks, in order, and returns their versions. */
export function applyMigrations(
  db: Database,
  migrations: readonly Migration[],
  options: MigrateOptions,
): number[] {
  checkMigrationList(migrations);
  const latest = migrations.at(-1)?.version ?? 0;
  const current = schemaVersion(db);
  if (current > latest) throw options.tooNew(current, latest);
  const now = options.now ?? Date.now;

  const applied: number[] = [];
  for (const migration of migrations) {
    const apply = db.transaction(() => {
      db.exec(`CREATE TABLE IF NOT EXISTS schema_migrations (
        version INTEGER PRIMARY KEY,
        name TEXT NOT NULL,
        applied_at INTEGER NOT NULL
      ) STRICT`);
      // Read again under the write lock: another connection may have
      // applied it since the check above.
      if (schemaVersion(db) >= migration.version) return false;
      db.exec(migration.sql);
      db.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)').run(
        migration.version,
        migration.name,
        now(),
      );
      return true;
    });
    if (apply.immediate()) applied.push(migration.version);
  }
  return applied;
}

function checkMigrationList(migrations: readonly Migration[]): void {
  migrations.forEach((migration, index) => {
    if (migration.version !== index + 1) {
      throw new Error(
        `Migration "${migration.name}" has version ${migration.version}; ` +
          `versions must count up from 1 without gaps (expected ${index + 1})`,
      );
    }
  });
}
