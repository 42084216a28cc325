/**
 * state.db: the supervisor's own store of what the operator configured
 * (the domains to certify) and what happened (the acme-agent's events). It
 * holds no secret; the keys and certificates are in the keyvault's vault.db.
 *
 * One connection, owned by the supervisor, which holds the data directory
 * lock: no other process opens this file while Gatehouse runs. Every method
 * is synchronous and each write is one transaction, durable when it
 * returns (WAL with synchronous=FULL: a domain the API said was added is
 * still there after a power cut; writes are rare, so the fsync costs
 * nothing that matters).
 */
import Database, { SqliteError, type Database as Db, type Statement } from 'better-sqlite3';
import fs from 'node:fs';
import { StateError } from './errors.js';
import { MAX_DOMAINS, MAX_EVENT_PAGE, MAX_EVENTS } from './limits.js';
import { runMigrations } from './migrations.js';
import { parseDomainName } from './names.js';
import { OrderJournalStore } from './order-journal.js';

/** The file name of the store in the data directory. */
export const STATE_FILE = 'state.db';

/** An acme.event is far smaller; this only bounds what one row may take. */
const MAX_EVENT_PAYLOAD_BYTES = 64 * 1024;

export interface Domain {
  /** Lowercase DNS name (perhaps `*.` wildcard) or canonical IP address. */
  name: string;
  /** Milliseconds since the Unix epoch. */
  addedAt: number;
}

export interface StoredEvent {
  /** Increases with every event and is never reused. */
  id: number;
  /** Milliseconds since the Unix epoch, when the supervisor recorded it. */
  time: number;
  type: string;
  payload: unknown;
}

export interface StateStoreOptions {
  /** Normally `<data>/state.db`. */
  path: string;
  now?: () => number;
  /** How many events to keep; MAX_EVENTS unless a test wants fewer. */
  maxEvents?: number;
  /** How many domains to take; MAX_DOMAINS unless a test wants fewer. */
  maxDomains?: number;
}

interface Statements {
  insertDomain: Statement<[string, number]>;
  selectDomain: Statement<[string], { name: string; added_at: number }>;
  deleteDomain: Statement<[string]>;
  countDomains: Statement<[], { count: number }>;
  listDomains: Statement<[], { name: string; added_at: number }>;
  insertEvent: Statement<[number, string, string]>;
  trimEvents: Statement<[number]>;
  eventsAfter: Statement<[number, number], EventRow>;
  newestEvents: Statement<[number], EventRow>;
}

interface EventRow {
  id: number;
  time: number;
  type: string;
  payload: string;
}

export class StateStore {
  private readonly statements: Statements;
  private readonly now: () => number;
  private readonly maxEvents: number;
  private readonly maxDomains: number;
  private closed = false;
  /** The acme-agent's orders in flight (order-journal.ts). */
  readonly orders: OrderJournalStore;

  private constructor(
    private readonly db: Db,
    options: StateStoreOptions,
  ) {
    this.now = options.now ?? Date.now;
    this.maxEvents = options.maxEvents ?? MAX_EVENTS;
    this.maxDomains = options.maxDomains ?? MAX_DOMAINS;
    this.orders = new OrderJournalStore(db, this.now, () => {
      this.requireOpen();
    });
    this.statements = {
      insertDomain: db.prepare('INSERT OR IGNORE INTO domains (name, added_at) VALUES (?, ?)'),
      selectDomain: db.prepare('SELECT name, added_at FROM domains WHERE name = ?'),
      deleteDomain: db.prepare('DELETE FROM domains WHERE name = ?'),
      countDomains: db.prepare('SELECT count(*) AS count FROM domains'),
      listDomains: db.prepare('SELECT name, added_at FROM domains ORDER BY name'),
      insertEvent: db.prepare('INSERT INTO events (time, type, payload) VALUES (?, ?, ?)'),
      trimEvents: db.prepare('DELETE FROM events WHERE id <= ?'),
      eventsAfter: db.prepare(
        'SELECT id, time, type, payload FROM events WHERE id > ? ORDER BY id LIMIT ?',
      ),
      newestEvents: db.prepare(
        'SELECT * FROM (SELECT id, time, type, payload FROM events ORDER BY id DESC LIMIT ?) ' +
          'ORDER BY id',
      ),
    };
  }

  /**
   * Opens state.db, creating it (mode 0600) when absent, and brings its
   * schema up to date. Throws StateError `state_unreadable` or
   * `schema_too_new`; the latter leaves the file unchanged.
   */
  static open(options: StateStoreOptions): StateStore {
    createPrivateFile(options.path);
    let db: Db | undefined;
    try {
      db = new Database(options.path, { fileMustExist: true });
      const mode = db.pragma('journal_mode = WAL', { simple: true });
      if (mode !== 'wal') {
        throw new StateError(
          'state_unreadable',
          `${options.path} could not switch to WAL mode (it reports "${String(mode)}"); ` +
            `keep the data directory on a local file system.`,
        );
      }
      db.pragma('synchronous = FULL');
      runMigrations(db, undefined, options.now);
      return new StateStore(db, options);
    } catch (error) {
      db?.close();
      if (error instanceof SqliteError) {
        throw new StateError(
          'state_unreadable',
          `Cannot read ${options.path} (${error.code}: ${error.message}). If it is damaged, ` +
            `restore it from a backup, or move it aside to start with no domains.`,
          { cause: error },
        );
      }
      throw error;
    }
  }

  /**
   * Adds a domain; adding one that is there already changes nothing and
   * answers `added: false` with the stored row. Throws StateError
   * `invalid_domain_name` (nothing written) or `too_many_domains`.
   */
  addDomain(input: unknown): { domain: Domain; added: boolean } {
    const { name } = parseDomainName(input);
    this.requireOpen();
    const { statements } = this;
    return this.db
      .transaction(() => {
        const existing = statements.selectDomain.get(name);
        if (existing) return { domain: toDomain(existing), added: false };
        const count = statements.countDomains.get()?.count ?? 0;
        if (count >= this.maxDomains) {
          throw new StateError(
            'too_many_domains',
            `Cannot add ${name}: Gatehouse keeps at most ${this.maxDomains} domains. ` +
              `Remove domains that are no longer served first.`,
          );
        }
        const addedAt = this.now();
        statements.insertDomain.run(name, addedAt);
        return { domain: { name, addedAt }, added: true };
      })
      .immediate();
  }

  /** Removes a domain; false when it was not there. Throws `invalid_domain_name`. */
  removeDomain(input: unknown): boolean {
    const { name } = parseDomainName(input);
    this.requireOpen();
    return this.statements.deleteDomain.run(name).changes > 0;
  }

  /** Every domain, ordered by name. */
  listDomains(): Domain[] {
    this.requireOpen();
    return this.statements.listDomains.all().map(toDomain);
  }

  /**
   * Records an event and deletes those older than the newest `maxEvents`,
   * in one transaction. Throws StateError `invalid_event` for a type that
   * is not snake_case words or a payload that is not small JSON.
   */
  appendEvent(type: string, payload: unknown): StoredEvent {
    if (!/^[a-z][a-z0-9_.-]{0,63}$/.test(type)) {
      throw new StateError(
        'invalid_event',
        `Event type ${JSON.stringify(type.slice(0, 80))} is not a lowercase word of at most 64 characters.`,
      );
    }
    const json = JSON.stringify(payload) as string | undefined;
    if (json === undefined || Buffer.byteLength(json) > MAX_EVENT_PAYLOAD_BYTES) {
      throw new StateError(
        'invalid_event',
        `The payload of event ${type} is not JSON of at most ${MAX_EVENT_PAYLOAD_BYTES} bytes.`,
      );
    }
    this.requireOpen();
    const time = this.now();
    const { statements } = this;
    const id = this.db
      .transaction(() => {
        const inserted = Number(statements.insertEvent.run(time, type, json).lastInsertRowid);
        statements.trimEvents.run(inserted - this.maxEvents);
        return inserted;
      })
      .immediate();
    return { id, time, type, payload: JSON.parse(json) as unknown };
  }

  /**
   * Events in the order they were recorded. With `after`, the first `limit`
   * whose id is greater (to follow the stream); without, the newest
   * `limit`. An `after` older than what was kept starts at the oldest kept.
   */
  listEvents(options: { limit?: number; after?: number } = {}): StoredEvent[] {
    const limit = options.limit ?? 100;
    if (!Number.isInteger(limit) || limit < 1 || limit > MAX_EVENT_PAGE) {
      throw new RangeError(`limit must be an integer from 1 to ${MAX_EVENT_PAGE}, not ${limit}`);
    }
    const { after } = options;
    if (after !== undefined && (!Number.isSafeInteger(after) || after < 0)) {
      throw new RangeError(`after must be an event id (an integer from 0), not ${after}`);
    }
    this.requireOpen();
    const rows =
      after === undefined
        ? this.statements.newestEvents.all(limit)
        : this.statements.eventsAfter.all(after, limit);
    return rows.map((row) => ({
      id: row.id,
      time: row.time,
      type: row.type,
      payload: JSON.parse(row.payload) as unknown,
    }));
  }

  /** Closes the connection; later calls throw StateError `closed`. Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.db.close();
  }

  private requireOpen(): void {
    if (this.closed) {
      throw new StateError('closed', 'state.db is closed: Gatehouse is stopping.');
    }
  }
}

function toDomain(row: { name: string; added_at: number }): Domain {
  return { name: row.name, addedAt: row.added_at };
}

/** A new state.db is private to its owner from its first byte; SQLite gives -wal and -shm its mode. */
function createPrivateFile(file: string): void {
  try {
    fs.closeSync(fs.openSync(file, 'wx', 0o600));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return;
    throw new StateError(
      'state_unreadable',
      `Cannot create ${file}: ${(error as Error).message}. ` +
        `Check that the data directory exists and is writable.`,
      { cause: error },
    );
  }
}
