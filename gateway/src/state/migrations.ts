/**
 * The schema of state.db, as numbered migrations run when the store opens
 * (the runner, shared with the keyvault, is ../sqlite/migrations.ts). A
 * released migration never changes; a new schema is a new migration.
 *
 * Times are milliseconds since the Unix epoch. Tables are STRICT, so SQLite
 * itself refuses a value of the wrong type as a last line of defence.
 */
import type { Database } from 'better-sqlite3';
import { type Migration, applyMigrations } from '../sqlite/index.js';
import { StateError } from './errors.js';

export { schemaVersion } from '../sqlite/index.js';

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'domains and events',
    sql: `
      -- The names the operator wants certified, as names.ts normalized them.
      CREATE TABLE domains (
        name TEXT PRIMARY KEY CHECK (length(name) BETWEEN 1 AND 253 AND name = lower(name)),
        added_at INTEGER NOT NULL
      ) STRICT;

      -- What the acme-agent reported. AUTOINCREMENT: an id is never reused
      -- after old rows are trimmed, so "events after id N" stays exact.
      CREATE TABLE events (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        time INTEGER NOT NULL,
        type TEXT NOT NULL,
        payload TEXT NOT NULL CHECK (json_valid(payload))
      ) STRICT;
    `,
  },
  {
    version: 2,
    name: 'acme order journal',
    sql: `
      -- Each ACME order in flight, so that the acme-agent resumes it after a
      -- crash instead of placing a second order with a second key
      -- (order-journal.ts). One row per issuer and set of identifiers;
      -- names_key is the identifiers' "type:value" joined in sorted order.
      CREATE TABLE acme_orders (
        issuer TEXT NOT NULL CHECK (length(issuer) BETWEEN 1 AND 2048),
        names_key TEXT NOT NULL CHECK (length(names_key) BETWEEN 1 AND 30000),
        identifiers TEXT NOT NULL CHECK (json_valid(identifiers)),
        account_url TEXT CHECK (account_url IS NULL OR length(account_url) <= 2048),
        order_url TEXT CHECK (order_url IS NULL OR length(order_url) <= 2048),
        key_id TEXT CHECK (key_id IS NULL OR length(key_id) <= 80),
        -- Challenge URLs already answered: a resumed order does not answer
        -- them again (a second answer starts a second validation).
        answered TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(answered)),
        started_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL,
        PRIMARY KEY (issuer, names_key)
      ) STRICT;
    `,
  },
  {
    version: 3,
    name: 'acme new orders and rate-limit pauses',
    sql: `
      -- When each CA created an order for Gatehouse (a new order URL in the
      -- journal), so that the acme-agent's new-order cap survives its restart
      -- (order-journal.ts keeps the last NEW_ORDER_RETENTION_MS).
      CREATE TABLE acme_new_orders (
        issuer TEXT NOT NULL CHECK (length(issuer) BETWEEN 1 AND 2048),
        created_at INTEGER NOT NULL
      ) STRICT;
      CREATE INDEX acme_new_orders_by_time ON acme_new_orders (created_at);

      -- Until when a CA asked for no new orders (rateLimited with
      -- Retry-After), so that a restarted acme-agent waits too.
      CREATE TABLE acme_ca_pauses (
        issuer TEXT PRIMARY KEY CHECK (length(issuer) BETWEEN 1 AND 2048),
        until INTEGER NOT NULL
      ) STRICT;
    `,
  },
];

export const LATEST_SCHEMA_VERSION = MIGRATIONS.at(-1)?.version ?? 0;

/**
 * Applies the migrations the file lacks, in order, and returns their
 * versions. Refuses a file from a newer Gatehouse without writing to it.
 */
export function runMigrations(
  db: Database,
  migrations: readonly Migration[] = MIGRATIONS,
  now: () => number = Date.now,
): number[] {
  return applyMigrations(db, migrations, {
    now,
    tooNew: (version, latest) =>
      new StateError(
        'schema_too_new',
        `${db.name} is at schema version ${version}, but this Gatehouse knows versions up to ` +
          `${latest}. Run the Gatehouse version that last used this data directory (or a ` +
          `newer one); nothing was changed.`,
      ),
  });
}
