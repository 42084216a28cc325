/**
 * The vault's schema, as numbered migrations (the runner, shared with
 * state.db, is in @gatehouse/gateway/sqlite). A migration, once released,
 * never changes: add the next one.
 *
 * Times are milliseconds since the Unix epoch. Tables are STRICT, so a
 * value of the wrong type is refused by SQLite itself as a last line.
 */
import type { Database } from 'better-sqlite3';
import { type Migration, applyMigrations } from '@gatehouse/gateway/sqlite';
import { KEY_ALGORITHMS } from './algorithms.js';
import { StoreError } from './store-input.js';

export { schemaVersion } from '@gatehouse/gateway/sqlite';

const quoted = (values: readonly string[]): string => values.map((v) => `'${v}'`).join(', ');

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'keys, accounts, certificates, challenge certificates, master key check',
    sql: `
      -- One row: which master key seals this vault, and the proof that a
      -- given key is that one (a constant sealed under it, see vault-check.ts).
      CREATE TABLE meta (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        master_key_id TEXT NOT NULL,
        master_key_check BLOB NOT NULL,
        created_at INTEGER NOT NULL,
        rotated_at INTEGER
      ) STRICT;

      CREATE TABLE keys (
        id TEXT PRIMARY KEY,
        algorithm TEXT NOT NULL CHECK (algorithm IN (${quoted(KEY_ALGORITHMS)})),
        purpose TEXT NOT NULL CHECK (purpose IN ('account', 'certificate', 'challenge', 'ca')),
        sealed BLOB NOT NULL,
        public_jwk TEXT NOT NULL CHECK (json_valid(public_jwk)),
        thumbprint TEXT NOT NULL,
        created_at INTEGER NOT NULL
      ) STRICT;

      -- One account per CA, named by its directory URL.
      CREATE TABLE accounts (
        id TEXT PRIMARY KEY,
        directory_url TEXT NOT NULL UNIQUE,
        key_id TEXT NOT NULL REFERENCES keys (id),
        account_url TEXT,
        created_at INTEGER NOT NULL
      ) STRICT;
      CREATE INDEX accounts_key_id ON accounts (key_id);

      -- replaced_by is a plain id, not a reference: a certificate stays
      -- replaced even if its successor is deleted later.
      CREATE TABLE certificates (
        id TEXT PRIMARY KEY,
        key_id TEXT NOT NULL REFERENCES keys (id),
        chain_pem TEXT NOT NULL,
        identifiers TEXT NOT NULL CHECK (json_valid(identifiers)),
        not_before INTEGER NOT NULL,
        not_after INTEGER NOT NULL CHECK (not_after > not_before),
        issuer TEXT NOT NULL,
        serial TEXT NOT NULL,
        ari_cert_id TEXT,
        created_at INTEGER NOT NULL,
        replaced_by TEXT
      ) STRICT;
      CREATE INDEX certificates_key_id ON certificates (key_id);
      CREATE INDEX certificates_not_after ON certificates (not_after);

      -- The identifiers of each certificate again, one per row, so that a
      -- serving bundle is found by identifier through an index.
      CREATE TABLE certificate_identifiers (
        certificate_id TEXT NOT NULL REFERENCES certificates (id) ON DELETE CASCADE,
        type TEXT NOT NULL CHECK (type IN ('dns', 'ip')),
        value TEXT NOT NULL,
        PRIMARY KEY (type, value, certificate_id)
      ) STRICT, WITHOUT ROWID;
      CREATE INDEX certificate_identifiers_certificate ON certificate_identifiers (certificate_id);

      -- tls-alpn-01 (RFC 8737): one pending challenge certificate per identifier.
      CREATE TABLE challenge_certificates (
        identifier_type TEXT NOT NULL CHECK (identifier_type IN ('dns', 'ip')),
        identifier_value TEXT NOT NULL,
        key_authorization_digest BLOB NOT NULL CHECK (length(key_authorization_digest) = 32),
        certificate_pem TEXT NOT NULL,
        key_id TEXT NOT NULL REFERENCES keys (id),
        expires_at INTEGER NOT NULL,
        created_at INTEGER NOT NULL,
        PRIMARY KEY (identifier_type, identifier_value)
      ) STRICT;
      CREATE INDEX challenge_certificates_key_id ON challenge_certificates (key_id);
    `,
  },
  {
    version: 2,
    name: 'local CA',
    sql: `
      -- The local CA for names no public CA certifies (localhost, private
      -- names): one root and one intermediate, their keys in keys.
      CREATE TABLE local_ca (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        root_key_id TEXT NOT NULL REFERENCES keys (id),
        root_pem TEXT NOT NULL,
        intermediate_key_id TEXT NOT NULL REFERENCES keys (id),
        intermediate_pem TEXT NOT NULL,
        created_at INTEGER NOT NULL
      ) STRICT;
    `,
  },
  {
    version: 3,
    name: 'certificate issuer directory and revocation',
    sql: `
      -- The ACME directory URL of the CA that issued a certificate, so that
      -- renewal information (RFC 9773) is asked of that CA; null for an
      -- imported or local-CA certificate, or one kept before this version.
      ALTER TABLE certificates ADD COLUMN directory_url TEXT
        CHECK (directory_url IS NULL OR length(directory_url) BETWEEN 1 AND 2048);
      -- When the acme-agent revoked it at the CA (RFC 8555 section 7.6): it
      -- is not renewed from, and its replacement is ordered at once.
      ALTER TABLE certificates ADD COLUMN revoked_at INTEGER;
    `,
  },
];

export const LATEST_SCHEMA_VERSION = MIGRATIONS.at(-1)?.version ?? 0;

/** Refuses a vault written by a newer Gatehouse, whose schema this code does not know. */
export function checkSchemaVersion(version: number, latest = LATEST_SCHEMA_VERSION): void {
  if (version > latest) throw schemaTooNew(version, latest);
}

/**
 * Applies the migrations the vault lacks, in order, each in one IMMEDIATE
 * transaction, and returns the versions applied.
 */
export function runMigrations(
  db: Database,
  migrations: readonly Migration[] = MIGRATIONS,
  now: () => number = Date.now,
): number[] {
  return applyMigrations(db, migrations, { now, tooNew: schemaTooNew });
}

function schemaTooNew(version: number, latest: number): StoreError {
  return new StoreError(
    'schema_too_new',
    `The vault is at schema version ${version}, but this Gatehouse knows versions up to ` +
      `${latest}. Run the Gatehouse version that last opened it (or a newer one); ` +
      `nothing was changed.`,
  );
}
