/**
 * The vault store: `<data>/vault.db`, the only place Gatehouse keeps private
 * keys, each sealed under the master key (seal.ts) with its record id bound.
 *
 * Contract for callers:
 * - Every method is synchronous (better-sqlite3). Do async crypto first,
 *   then call one method; each write is one IMMEDIATE transaction that
 *   either commits whole or changes nothing.
 * - Inputs are checked before anything is written (store-input.ts); bad
 *   input throws StoreError `invalid_input` and changes nothing.
 * - "Not found" is `undefined` from a getter, `false` from a delete.
 * - One VaultStore per vault file, in one process (the keyvault); the
 *   supervisor's data directory lock keeps a second one away.
 * - Returned private keys (`getPrivateKey`, `getBundle`) are fresh buffers
 *   that the caller owns and should zero when done.
 *
 * Durability: every commit is on disk when the method returns (WAL,
 * synchronous=FULL; the reasons are in vault-db.ts).
 */
import type { Database as Db, Statement } from 'better-sqlite3';
import { MasterKeyError, type MasterKey } from './master-key.js';
import { schemaVersion } from './migrations.js';
import { openSealed, seal } from './seal.js';
import {
  LIMITS,
  StoreError,
  checkBytes,
  checkCertificatePem,
  checkId,
  checkIdentifier,
  checkNewKey,
  checkTime,
  checkUrl,
  invalid,
  type CheckedKey,
  type Identifier,
  type KeyPurpose,
  type NewKey,
} from './store-input.js';
import {
  checkNewCertificate,
  checkNewKeyFor,
  identifierParams,
  keyContext,
  toAccount,
  toCertificateInfo,
  toChallengeCertificate,
  toStoredCertificate,
  toStoredKey,
  type Account,
  type AccountRow,
  type Bundle,
  type CertificateInfo,
  type CertificateRow,
  type ChallengeCertificate,
  type ChallengeRow,
  type KeyRow,
  type NewAccount,
  type NewCertificate,
  type NewChallengeCertificate,
  type StoredCertificate,
  type StoredKey,
  type VaultStats,
} from './store-records.js';
import { makeMasterKeyCheck } from './vault-check.js';
import { openVaultDatabase, type OpenVaultDatabaseOptions } from './vault-db.js';

/** The local CA's two certificates and the ids of their keys. */
export interface LocalCa {
  rootKeyId: string;
  rootPem: string;
  intermediateKeyId: string;
  intermediatePem: string;
  createdAt: number;
}

export interface NewLocalCa {
  root: { key: NewKey; certificatePem: string };
  intermediate: { key: NewKey; certificatePem: string };
}

export type {
  Account,
  Bundle,
  CertificateInfo,
  ChallengeCertificate,
  NewAccount,
  NewCertificate,
  NewChallengeCertificate,
  StoredCertificate,
  StoredKey,
  VaultStats,
} from './store-records.js';
export {
  StoreError,
  type Identifier,
  type KeyPurpose,
  type NewKey,
  type NewKeyObject,
  type PublicJwk,
} from './store-input.js';

export type OpenVaultStoreOptions = OpenVaultDatabaseOptions;

const CERTIFICATE_INFO_COLUMNS =
  'c.id, c.key_id, c.identifiers, c.not_before, c.not_after, c.issuer, c.serial, ' +
  'c.ari_cert_id, c.created_at, c.replaced_by, c.directory_url, c.revoked_at';

export class VaultStore {
  readonly path: string;
  #db: Db;
  #masterKey: MasterKey;
  #now: () => number;
  #statements = new Map<string, Statement>();

  private constructor(db: Db, path: string, masterKey: MasterKey, now: () => number) {
    this.#db = db;
    this.path = path;
    this.#masterKey = masterKey;
    this.#now = now;
  }

  /**
   * Opens (or creates) a vault; see openVaultDatabase for the order that
   * leaves a vault untouched when `masterKey` does not open it.
   */
  static open(options: OpenVaultStoreOptions): VaultStore {
    const db = openVaultDatabase(options);
    return new VaultStore(db, options.path, options.masterKey, options.now ?? Date.now);
  }

  get masterKeyId(): string {
    return this.#masterKey.id;
  }

  get masterKey(): MasterKey {
    return this.#masterKey;
  }

  // ---- keys

  /** Stores a new private key, sealed. Throws `conflict` if the id is taken. */
  putKey(input: NewKey): StoredKey {
    const key = checkNewKey(input);
    return this.#write(() => this.#insertKey(key));
  }

  /** The public half of a key, or undefined if there is none with that id. */
  getPublicKey(id: string): StoredKey | undefined {
    const row = this.#keyRow(checkId(id, 'id'));
    return row && toStoredKey(row);
  }

  /**
   * The private key as PKCS#8 DER, or undefined. Throws SealError if its
   * sealed value does not open (another key, another row, or altered).
   */
  getPrivateKey(id: string): Buffer | undefined {
    const row = this.#keyRow(checkId(id, 'id'));
    return row && openSealed(this.#masterKey, row.sealed, keyContext(row.id));
  }

  /** Deletes a key nothing refers to; false if there was none. Throws `key_in_use` otherwise. */
  deleteKey(id: string): boolean {
    checkId(id, 'id');
    return this.#write(() => {
      if (!this.#keyRow(id)) return false;
      const users = this.#keyUsers(id);
      if (users.length > 0) {
        throw new StoreError(
          'key_in_use',
          `Key ${id} is used by ${users.join(', ')}; delete or change those first.`,
        );
      }
      this.#run('DELETE FROM keys WHERE id = ?', id);
      return true;
    });
  }

  // ---- accounts

  /**
   * Creates an account, or updates one with the same id (its key after a
   * key change, RFC 8555 §7.3.5, or its account URL). Its directory URL
   * never changes, and no two accounts share one (`conflict`).
   */
  putAccount(input: NewAccount): Account {
    const id = checkId(input.id, 'id');
    const directoryUrl = checkUrl(input.directoryUrl, 'directoryUrl');
    const keyId = checkId(input.keyId, 'keyId');
    const accountUrl =
      input.accountUrl === undefined ? null : checkUrl(input.accountUrl, 'accountUrl');
    const key = input.key === undefined ? undefined : checkNewKeyFor(input.key, keyId);

    try {
      return this.#write(() => {
        const other = this.#accountRow('directory_url = ?', directoryUrl);
        if (other && other.id !== id) {
          throw new StoreError(
            'conflict',
            `Account ${other.id} already exists for ${directoryUrl}; update it instead.`,
          );
        }
        const existing = this.#accountRow('id = ?', id);
        if (existing && existing.directory_url !== directoryUrl) {
          throw new StoreError(
            'conflict',
            `Account ${id} belongs to ${existing.directory_url}; ` +
              `an account's directory never changes.`,
          );
        }
        if (key) this.#insertKey(key);
        this.#requireKey(keyId, ['account'], 'keyId');

        const createdAt = existing?.created_at ?? this.#now();
        this.#run(
          `INSERT INTO accounts (id, directory_url, key_id, account_url, created_at)
           VALUES (?, ?, ?, ?, ?)
           ON CONFLICT (id) DO UPDATE
           SET key_id = excluded.key_id, account_url = excluded.account_url`,
          id,
          directoryUrl,
          keyId,
          accountUrl,
          createdAt,
        );
        return { id, directoryUrl, keyId, accountUrl: accountUrl ?? undefined, createdAt };
      });
    } finally {
      key?.pkcs8.fill(0);
    }
  }

  /** The account, or undefined. */
  getAccount(id: string): Account | undefined {
    const row = this.#accountRow('id = ?', checkId(id, 'id'));
    return row && toAccount(row);
  }

  /** The account for a CA's directory URL, or undefined. */
  getAccountByDirectory(directoryUrl: string): Account | undefined {
    const row = this.#accountRow('directory_url = ?', checkUrl(directoryUrl, 'directoryUrl'));
    return row && toAccount(row);
  }

  // ---- certificates

  /**
   * Stores a certificate chain (and its key, if given) and marks the
   * certificates it `replaces`. The chain is stored as given: parsing and
   * matching it to its key is the caller's work, done before.
   */
  putCertificate(input: NewCertificate): StoredCertificate {
    const certificate = checkNewCertificate(input);
    const key = input.key === undefined ? undefined : checkNewKeyFor(input.key, input.keyId);

    try {
      return this.#write(() => {
        if (this.#certificateRow(certificate.id)) {
          throw new StoreError('conflict', `Certificate ${certificate.id} already exists.`);
        }
        if (key) this.#insertKey(key);
        const purpose = this.#requireKey(certificate.keyId, ['certificate', 'ca'], 'keyId');
        if (purpose !== 'ca' && certificate.identifiers.length === 0) {
          throw invalid('identifiers', 'must hold at least one identifier');
        }
        for (const [index, replaced] of certificate.replaces.entries()) {
          if (replaced === certificate.id || !this.#certificateRow(replaced)) {
            throw new StoreError(
              'unknown_certificate',
              `replaces[${index}]: there is no other certificate ${replaced} to replace.`,
              { field: `replaces[${index}]` },
            );
          }
        }

        const createdAt = this.#now();
        this.#run(
          `INSERT INTO certificates (id, key_id, chain_pem, identifiers, not_before, not_after,
             issuer, serial, ari_cert_id, created_at, replaced_by, directory_url, revoked_at)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, ?, NULL)`,
          certificate.id,
          certificate.keyId,
          certificate.chainPem,
          JSON.stringify(certificate.identifiers),
          certificate.notBefore,
          certificate.notAfter,
          certificate.issuer,
          certificate.serial,
          certificate.ariCertId ?? null,
          createdAt,
          certificate.directoryUrl ?? null,
        );
        for (const identifier of certificate.identifiers) {
          this.#run(
            'INSERT INTO certificate_identifiers (certificate_id, type, value) VALUES (?, ?, ?)',
            certificate.id,
            identifier.type,
            identifier.value,
          );
        }
        for (const replaced of certificate.replaces) {
          this.#run(
            'UPDATE certificates SET replaced_by = ? WHERE id = ?',
            certificate.id,
            replaced,
          );
        }
        return {
          id: certificate.id,
          keyId: certificate.keyId,
          chainPem: certificate.chainPem,
          identifiers: certificate.identifiers,
          notBefore: certificate.notBefore,
          notAfter: certificate.notAfter,
          issuer: certificate.issuer,
          serial: certificate.serial,
          ariCertId: certificate.ariCertId,
          createdAt,
          replacedBy: undefined,
          directoryUrl: certificate.directoryUrl,
          revokedAt: undefined,
        };
      });
    } finally {
      key?.pkcs8.fill(0);
    }
  }

  /** The certificate with its chain, or undefined. */
  getCertificate(id: string): StoredCertificate | undefined {
    const row = this.#certificateRow(checkId(id, 'id'));
    return row && toStoredCertificate(row);
  }

  /**
   * Certificates without chains, newest first: all of them, or those for
   * one identifier; replaced ones only if `includeReplaced` (default true).
   */
  listCertificates(
    filter: { identifier?: Identifier; includeReplaced?: boolean } = {},
  ): CertificateInfo[] {
    const replaced = filter.includeReplaced === false ? 'AND c.replaced_by IS NULL' : '';
    const rows =
      filter.identifier === undefined
        ? this.#all<CertificateRow>(
            `SELECT ${CERTIFICATE_INFO_COLUMNS} FROM certificates c WHERE 1 ${replaced}
             ORDER BY c.created_at DESC, c.id`,
          )
        : this.#all<CertificateRow>(
            `SELECT ${CERTIFICATE_INFO_COLUMNS} FROM certificate_identifiers ci
             JOIN certificates c ON c.id = ci.certificate_id
             WHERE ci.type = ? AND ci.value = ? ${replaced}
             ORDER BY c.created_at DESC, c.id`,
            ...identifierParams(checkIdentifier(filter.identifier, 'identifier')),
          );
    return rows.map(toCertificateInfo);
  }

  /**
   * The chain and key to serve for an identifier (exact match; a caller
   * wanting a wildcard asks again with `*.` and the parent name), or
   * undefined. Among certificates valid at `now` it prefers one not
   * replaced, then the one that expires last. Only `certificate` keys are
   * ever returned: never an account, CA or challenge key.
   */
  getBundle(identifier: Identifier, now: number = this.#now()): Bundle | undefined {
    const wanted = checkIdentifier(identifier, 'identifier');
    const row = this.#get<CertificateRow & { sealed: Buffer }>(
      `SELECT c.*, k.sealed FROM certificate_identifiers ci
       JOIN certificates c ON c.id = ci.certificate_id
       JOIN keys k ON k.id = c.key_id
       WHERE ci.type = ? AND ci.value = ? AND c.not_before <= ? AND c.not_after > ?
         AND k.purpose = 'certificate'
       ORDER BY c.replaced_by IS NULL DESC, c.not_after DESC, c.id
       LIMIT 1`,
      ...identifierParams(wanted),
      checkTime(now, 'now'),
      now,
    );
    if (!row) return undefined;
    const pkcs8 = openSealed(this.#masterKey, row.sealed, keyContext(row.key_id));
    return { certificate: toStoredCertificate(row), pkcs8 };
  }

  /**
   * Records that a certificate was revoked at its CA, at `at` unless it was
   * marked before (the first time stays). Throws StoreError
   * `unknown_certificate` when there is none.
   */
  markRevoked(id: string, at: number = this.#now()): CertificateInfo {
    checkId(id, 'id');
    checkTime(at, 'at');
    return this.#write(() => {
      this.#run(
        'UPDATE certificates SET revoked_at = COALESCE(revoked_at, ?) WHERE id = ?',
        at,
        id,
      );
      const row = this.#certificateRow(id);
      if (!row) {
        throw new StoreError(
          'unknown_certificate',
          `There is no certificate ${id} to mark revoked.`,
          {
            field: 'id',
          },
        );
      }
      return toCertificateInfo(row);
    });
  }

  /**
   * Deletes a certificate, and its key when that is a `certificate` key
   * nothing else uses (a key reused by a newer certificate stays). False if
   * there was none.
   */
  deleteCertificate(id: string): boolean {
    checkId(id, 'id');
    return this.#write(() => {
      const row = this.#certificateRow(id);
      if (!row) return false;
      this.#run('DELETE FROM certificates WHERE id = ?', id);
      this.#deleteKeyIfUnused(row.key_id, 'certificate');
      return true;
    });
  }

  /**
   * Deletes replaced certificates that expired by `now`, and their keys as
   * deleteCertificate does. Certificates not replaced stay, expired or not:
   * they are what the operator sees and renews.
   */
  pruneCertificates(now: number = this.#now()): { certificates: number; keys: number } {
    checkTime(now, 'now');
    return this.#write(() => {
      const rows = this.#all<{ id: string; key_id: string }>(
        'SELECT id, key_id FROM certificates WHERE replaced_by IS NOT NULL AND not_after <= ?',
        now,
      );
      let keys = 0;
      for (const row of rows) this.#run('DELETE FROM certificates WHERE id = ?', row.id);
      for (const keyId of new Set(rows.map((row) => row.key_id))) {
        if (this.#deleteKeyIfUnused(keyId, 'certificate')) keys += 1;
      }
      return { certificates: rows.length, keys };
    });
  }

  // ---- local CA

  /**
   * Stores the local CA: both keys and both certificates, in one
   * transaction. Throws `conflict` when the vault has one already.
   */
  putLocalCa(input: NewLocalCa): LocalCa {
    const root = checkNewKey(input.root.key, 'root.key');
    const intermediate = checkNewKey(input.intermediate.key, 'intermediate.key');
    try {
      const rootPem = checkCertificatePem(
        input.root.certificatePem,
        'root.certificatePem',
        LIMITS.certificatePemLength,
      );
      const intermediatePem = checkCertificatePem(
        input.intermediate.certificatePem,
        'intermediate.certificatePem',
        LIMITS.certificatePemLength,
      );
      if (root.purpose !== 'ca' || intermediate.purpose !== 'ca') {
        throw invalid('key.purpose', 'must be "ca" for the local CA');
      }
      return this.#write(() => {
        if (this.#get<{ id: number }>('SELECT id FROM local_ca')) {
          throw new StoreError('conflict', 'The vault has a local CA already; it is made once.');
        }
        this.#insertKey(root);
        this.#insertKey(intermediate);
        const createdAt = this.#now();
        this.#run(
          `INSERT INTO local_ca (id, root_key_id, root_pem, intermediate_key_id,
             intermediate_pem, created_at) VALUES (1, ?, ?, ?, ?, ?)`,
          root.id,
          rootPem,
          intermediate.id,
          intermediatePem,
          createdAt,
        );
        return {
          rootKeyId: root.id,
          rootPem,
          intermediateKeyId: intermediate.id,
          intermediatePem,
          createdAt,
        };
      });
    } finally {
      root.pkcs8.fill(0);
      intermediate.pkcs8.fill(0);
    }
  }

  /** The local CA, or undefined when none was made yet (keys: getPrivateKey). */
  getLocalCa(): LocalCa | undefined {
    const row = this.#get<{
      root_key_id: string;
      root_pem: string;
      intermediate_key_id: string;
      intermediate_pem: string;
      created_at: number;
    }>('SELECT * FROM local_ca WHERE id = 1');
    return (
      row && {
        rootKeyId: row.root_key_id,
        rootPem: row.root_pem,
        intermediateKeyId: row.intermediate_key_id,
        intermediatePem: row.intermediate_pem,
        createdAt: row.created_at,
      }
    );
  }

  // ---- challenge certificates (tls-alpn-01)

  /**
   * Stores a challenge certificate and its key, replacing (and deleting)
   * any for the same identifier.
   */
  putChallengeCertificate(input: NewChallengeCertificate): ChallengeCertificate {
    const [stored] = this.putChallengeCertificates([input]);
    if (!stored) throw new Error('putChallengeCertificates returned nothing for one input');
    return stored;
  }

  /**
   * Stores several challenge certificates in one transaction, in order (a
   * later one for the same identifier replaces an earlier one). All inputs
   * are checked before anything is written; one bad input stores none.
   * One commit, and so one fsync, for the lot is what lets the keyvault
   * keep up with many validations at once.
   */
  putChallengeCertificates(inputs: readonly NewChallengeCertificate[]): ChallengeCertificate[] {
    const checked: (Omit<ChallengeCertificate, 'keyId' | 'createdAt'> & { key: CheckedKey })[] = [];
    try {
      inputs.forEach((input, index) => {
        const field = inputs.length === 1 ? '' : `[${index}].`;
        const identifier = checkIdentifier(input.identifier, `${field}identifier`);
        const keyAuthorizationDigest = checkBytes(
          input.keyAuthorizationDigest,
          `${field}keyAuthorizationDigest`,
          32,
          32,
        );
        const certificatePem = checkCertificatePem(
          input.certificatePem,
          `${field}certificatePem`,
          LIMITS.certificatePemLength,
        );
        const expiresAt = checkTime(input.expiresAt, `${field}expiresAt`);
        const key = checkNewKey(input.key, `${field}key`);
        checked.push({ identifier, keyAuthorizationDigest, certificatePem, expiresAt, key });
        if (key.purpose !== 'challenge') {
          throw invalid(`${field}key.purpose`, 'must be "challenge" for a challenge certificate');
        }
      });

      return this.#write(() =>
        checked.map(({ key, ...item }) => {
          this.#deleteChallenge(item.identifier);
          this.#insertKey(key);
          const createdAt = this.#now();
          this.#run(
            `INSERT INTO challenge_certificates (identifier_type, identifier_value,
               key_authorization_digest, certificate_pem, key_id, expires_at, created_at)
             VALUES (?, ?, ?, ?, ?, ?, ?)`,
            ...identifierParams(item.identifier),
            item.keyAuthorizationDigest,
            item.certificatePem,
            key.id,
            item.expiresAt,
            createdAt,
          );
          return { ...item, keyId: key.id, createdAt };
        }),
      );
    } finally {
      for (const { key } of checked) key.pkcs8.fill(0);
    }
  }

  /** The pending challenge certificate for an identifier, or undefined (key: getPrivateKey). */
  getChallengeCertificate(identifier: Identifier): ChallengeCertificate | undefined {
    const row = this.#get<ChallengeRow>(
      'SELECT * FROM challenge_certificates WHERE identifier_type = ? AND identifier_value = ?',
      ...identifierParams(checkIdentifier(identifier, 'identifier')),
    );
    return row && toChallengeCertificate(row);
  }

  /** Deletes the challenge certificate for an identifier and its key; false if there was none. */
  deleteChallengeCertificate(identifier: Identifier): boolean {
    const wanted = checkIdentifier(identifier, 'identifier');
    return this.#write(() => this.#deleteChallenge(wanted));
  }

  /** Deletes challenge certificates (and keys) that expired by `now`; returns how many. */
  pruneChallengeCertificates(now: number = this.#now()): number {
    checkTime(now, 'now');
    return this.#write(() => {
      const rows = this.#all<ChallengeRow>(
        'SELECT * FROM challenge_certificates WHERE expires_at <= ?',
        now,
      );
      for (const row of rows) {
        this.#deleteChallenge({ type: row.identifier_type, value: row.identifier_value });
      }
      return rows.length;
    });
  }

  // ---- master key

  /**
   * Re-seals every key under `newKey` and replaces the master key check, in
   * one transaction; afterwards the old key opens nothing in the vault. Then
   * it checkpoints and truncates the WAL, so that pages sealed under the old
   * key do not linger there (secure_delete zeroes them in vault.db).
   *
   * Call this only once `newKey` is safe outside the process (the file
   * staged, or the operator holding it): see rotateMasterKeyFile in vault.ts.
   */
  rotateMasterKey(newKey: MasterKey): { resealed: number } {
    if (newKey.equals(this.#masterKey)) {
      throw new MasterKeyError(
        'master_key_rotation_refused',
        `The new master key is the one in use (${newKey.id}); give a different key to rotate to.`,
      );
    }
    const oldKey = this.#masterKey;
    const resealed = this.#write(() => {
      const rows = this.#all<{ id: string; sealed: Buffer }>('SELECT id, sealed FROM keys');
      for (const row of rows) {
        const clear = openSealed(oldKey, row.sealed, keyContext(row.id));
        this.#run(
          'UPDATE keys SET sealed = ? WHERE id = ?',
          seal(newKey, clear, keyContext(row.id)),
          row.id,
        );
        clear.fill(0);
      }
      this.#run(
        'UPDATE meta SET master_key_id = ?, master_key_check = ?, rotated_at = ? WHERE id = 1',
        newKey.id,
        makeMasterKeyCheck(newKey),
        this.#now(),
      );
      return rows.length;
    });
    this.#masterKey = newKey;
    try {
      this.#db.pragma('wal_checkpoint(TRUNCATE)');
    } catch {
      // The rotation has committed, so it must not be reported as failed:
      // the WAL is checkpointed later anyway, at close at the latest.
    }
    return { resealed };
  }

  // ---- the vault

  stats(): VaultStats {
    const count = (table: string): number =>
      this.#get<{ n: number }>(`SELECT count(*) AS n FROM ${table}`)?.n ?? 0;
    return {
      path: this.path,
      masterKeyId: this.#masterKey.id,
      schemaVersion: schemaVersion(this.#db),
      journalMode: String(this.#db.pragma('journal_mode', { simple: true })),
      synchronous: Number(this.#db.pragma('synchronous', { simple: true })),
      keys: count('keys'),
      accounts: count('accounts'),
      certificates: count('certificates'),
      challengeCertificates: count('challenge_certificates'),
    };
  }

  /** Closes the database (checkpointing the WAL). Later calls throw StoreError `closed`. */
  close(): void {
    if (this.#db.open) this.#db.close();
  }

  // ---- helpers

  #write<T>(work: () => T): T {
    this.#requireOpen();
    return this.#db.transaction(work).immediate();
  }

  #requireOpen(): void {
    if (!this.#db.open) {
      throw new StoreError('closed', `The vault ${this.path} is closed; open it again first.`);
    }
  }

  /** Prepared once per SQL text: the bundle read is the hot path. */
  #statement(sql: string): Statement {
    this.#requireOpen();
    let statement = this.#statements.get(sql);
    if (!statement) {
      statement = this.#db.prepare(sql);
      this.#statements.set(sql, statement);
    }
    return statement;
  }

  #run(sql: string, ...params: unknown[]): void {
    this.#statement(sql).run(...params);
  }

  // The row's shape follows from the SQL, which the compiler cannot read.
  // eslint-disable-next-line @typescript-eslint/no-unnecessary-type-parameters
  #get<T>(sql: string, ...params: unknown[]): T | undefined {
    return this.#statement(sql).get(...params) as T | undefined;
  }

  #all<T>(sql: string, ...params: unknown[]): T[] {
    return this.#statement(sql).all(...params) as T[];
  }

  #keyRow(id: string): KeyRow | undefined {
    return this.#get<KeyRow>('SELECT * FROM keys WHERE id = ?', id);
  }

  #accountRow(where: string, value: string): AccountRow | undefined {
    return this.#get<AccountRow>(`SELECT * FROM accounts WHERE ${where}`, value);
  }

  #certificateRow(id: string): CertificateRow | undefined {
    return this.#get<CertificateRow>('SELECT * FROM certificates WHERE id = ?', id);
  }

  #insertKey(key: CheckedKey): StoredKey {
    try {
      if (this.#keyRow(key.id)) {
        throw new StoreError(
          'conflict',
          `A key with id ${key.id} already exists; keys are never replaced, choose a new id.`,
          { field: 'key.id' },
        );
      }
      const createdAt = this.#now();
      this.#run(
        `INSERT INTO keys (id, algorithm, purpose, sealed, public_jwk, thumbprint, created_at)
         VALUES (?, ?, ?, ?, ?, ?, ?)`,
        key.id,
        key.algorithm,
        key.purpose,
        seal(this.#masterKey, key.pkcs8, keyContext(key.id)),
        JSON.stringify(key.publicJwk),
        key.thumbprint,
        createdAt,
      );
      return {
        id: key.id,
        algorithm: key.algorithm,
        purpose: key.purpose,
        publicJwk: key.publicJwk,
        thumbprint: key.thumbprint,
        createdAt,
      };
    } finally {
      key.pkcs8.fill(0);
    }
  }

  /** Throws unless the key exists with one of `purposes`; returns its purpose. */
  #requireKey(id: string, purposes: KeyPurpose[], field: string): KeyPurpose {
    const row = this.#keyRow(id);
    if (!row) throw new StoreError('unknown_key', `${field}: there is no key ${id}.`, { field });
    if (!purposes.includes(row.purpose)) {
      throw new StoreError(
        'wrong_key_purpose',
        `${field}: key ${id} is a${row.purpose === 'account' ? 'n' : ''} ${row.purpose} key; ` +
          `this needs a${purposes[0] === 'account' ? 'n' : ''} ${purposes.join(' or ')} key.`,
        { field },
      );
    }
    return row.purpose;
  }

  #keyUsers(id: string): string[] {
    const users: string[] = [];
    for (const [table, noun] of [
      ['accounts', 'account'],
      ['certificates', 'certificate'],
      ['challenge_certificates', 'challenge certificate'],
    ] as const) {
      const n = this.#get<{ n: number }>(`SELECT count(*) AS n FROM ${table} WHERE key_id = ?`, id);
      if (n && n.n > 0) users.push(`${n.n} ${noun}${n.n === 1 ? '' : 's'}`);
    }
    return users;
  }

  #deleteKeyIfUnused(id: string, purpose: KeyPurpose): boolean {
    const row = this.#keyRow(id);
    if (!row || row.purpose !== purpose || this.#keyUsers(id).length > 0) return false;
    this.#run('DELETE FROM keys WHERE id = ?', id);
    return true;
  }

  #deleteChallenge(identifier: Identifier): boolean {
    const row = this.#get<ChallengeRow>(
      'SELECT * FROM challenge_certificates WHERE identifier_type = ? AND identifier_value = ?',
      ...identifierParams(identifier),
    );
    if (!row) return false;
    this.#run(
      'DELETE FROM challenge_certificates WHERE identifier_type = ? AND identifier_value = ?',
      ...identifierParams(identifier),
    );
    this.#deleteKeyIfUnused(row.key_id, 'challenge');
    return true;
  }
}
