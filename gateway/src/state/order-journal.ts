/**
 * The ACME order journal in state.db: one row per order the acme-agent has
 * in flight, written at each step that a crash must not undo (the intent
 * before newOrder, the order URL right after, the certificate key once the
 * keyvault made it) and deleted when the chain is stored or the order is
 * given up. The acme-agent writes no file, so it keeps this through the
 * supervisor (supervisor.order-journal-* in ipc/acme-messages.ts); the
 * resume logic is the agent's (acme-agent/src/order-journal.ts).
 *
 * Each new order URL saved is also counted in acme_new_orders with its
 * time, and a CA's rateLimited pause is kept in acme_ca_pauses, so that a
 * restarted acme-agent starts its per-CA caps where the last one left them
 * rather than full (the CA's own count survives the restart too).
 */
import type { Database, Statement } from 'better-sqlite3';

/** More than 8 orders in flight per CA times any sane number of CAs. */
export const MAX_JOURNALED_ORDERS = 1_000;

/**
 * How long a new order is counted: a week, longer than any CA's published
 * new-order window (Let's Encrypt's is 3 hours). A cap over a longer
 * period is restored from the last week only.
 */
export const NEW_ORDER_RETENTION_MS = 7 * 24 * 3_600_000;

/** At most this many new orders are kept (the newest), and listed at once. */
export const MAX_NEW_ORDERS = 100_000;

/** A journal write the store refuses; nothing was written. */
export class OrderJournalError extends Error {
  constructor(
    readonly code: 'invalid_order' | 'too_many_orders',
    message: string,
  ) {
    super(message);
    this.name = 'OrderJournalError';
  }
}

export interface JournalIdentifier {
  type: 'dns' | 'ip';
  value: string;
}

/** What the agent records about one order. */
export interface JournaledOrder {
  /** The CA's directory URL. */
  issuer: string;
  identifiers: JournalIdentifier[];
  /** The account that placed the order: only it may read the order again. */
  accountUrl: string | null;
  /** Null between the intent and the CA's answer to newOrder. */
  orderUrl: string | null;
  /** The keyvault's certificate key for the CSR, once made. */
  keyId: string | null;
  /** Challenge URLs the agent answered (RFC 8555 section 7.5.1). */
  answered: string[];
}

/** An order a CA created for Gatehouse, and when. */
export interface NewOrder {
  /** The CA's directory URL. */
  issuer: string;
  createdAt: number;
}

/** A CA asked for no new orders until `until` (epoch ms). */
export interface CaPause {
  issuer: string;
  until: number;
}

/** A pause beyond this is kept as this long: a CA's Retry-After is hours, not weeks. */
export const MAX_PAUSE_MS = 7 * 24 * 3_600_000;

export interface StoredOrder extends JournaledOrder {
  startedAt: number;
  updatedAt: number;
}

interface OrderRow {
  issuer: string;
  identifiers: string;
  account_url: string | null;
  order_url: string | null;
  key_id: string | null;
  answered: string;
  started_at: number;
  updated_at: number;
}

/** The journal's key for a set of identifiers: order does not matter, case does not. */
export function namesKey(identifiers: readonly JournalIdentifier[]): string {
  return identifiers
    .map((identifier) => `${identifier.type}:${identifier.value.toLowerCase()}`)
    .sort()
    .join(',');
}

export class OrderJournalStore {
  readonly #upsert: Statement<
    [string, string, string, string | null, string | null, string | null, string, number, number]
  >;
  readonly #select: Statement<[string, string], { started_at: number; order_url: string | null }>;
  readonly #count: Statement<[], { count: number }>;
  readonly #list: Statement<[], OrderRow>;
  readonly #delete: Statement<[string, string]>;
  readonly #countNewOrder: Statement<[string, number]>;
  readonly #trimNewOrders: Statement<[number, number]>;
  readonly #newOrders: Statement<[number, number], { issuer: string; created_at: number }>;
  readonly #pause: Statement<[string, number]>;
  readonly #pauses: Statement<[number], { issuer: string; until: number }>;
  readonly #trimPauses: Statement<[number]>;

  constructor(
    private readonly db: Database,
    private readonly now: () => number,
    private readonly requireOpen: () => void,
  ) {
    this.#upsert = db.prepare(
      `INSERT INTO acme_orders
         (issuer, names_key, identifiers, account_url, order_url, key_id, answered,
          started_at, updated_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (issuer, names_key) DO UPDATE SET
         identifiers = excluded.identifiers, account_url = excluded.account_url,
         order_url = excluded.order_url, key_id = excluded.key_id, answered = excluded.answered,
         started_at = excluded.started_at, updated_at = excluded.updated_at`,
    );
    this.#select = db.prepare(
      'SELECT started_at, order_url FROM acme_orders WHERE issuer = ? AND names_key = ?',
    );
    this.#count = db.prepare('SELECT count(*) AS count FROM acme_orders');
    this.#list = db.prepare(
      'SELECT issuer, identifiers, account_url, order_url, key_id, answered, started_at, ' +
        'updated_at ' +
        'FROM acme_orders ORDER BY started_at, names_key',
    );
    this.#delete = db.prepare('DELETE FROM acme_orders WHERE issuer = ? AND names_key = ?');
    this.#countNewOrder = db.prepare(
      'INSERT INTO acme_new_orders (issuer, created_at) VALUES (?, ?)',
    );
    // Older than the retention, or beyond the newest MAX_NEW_ORDERS.
    this.#trimNewOrders = db.prepare(
      `DELETE FROM acme_new_orders WHERE created_at < ? OR rowid IN
         (SELECT rowid FROM acme_new_orders ORDER BY created_at DESC LIMIT -1 OFFSET ?)`,
    );
    this.#newOrders = db.prepare(
      `SELECT issuer, created_at FROM (
         SELECT issuer, created_at FROM acme_new_orders WHERE created_at >= ?
         ORDER BY created_at DESC LIMIT ?)
       ORDER BY created_at`,
    );
    this.#pause = db.prepare(
      `INSERT INTO acme_ca_pauses (issuer, until) VALUES (?, ?)
       ON CONFLICT (issuer) DO UPDATE SET until = max(until, excluded.until)`,
    );
    this.#pauses = db.prepare(
      'SELECT issuer, until FROM acme_ca_pauses WHERE until > ? ORDER BY issuer',
    );
    this.#trimPauses = db.prepare('DELETE FROM acme_ca_pauses WHERE until <= ?');
  }

  /**
   * Writes the whole record of an order, durable when it returns. A record
   * whose order URL changes (a new order for the same names) starts again.
   * Throws OrderJournalError `invalid_order` or `too_many_orders`; nothing is written then.
   */
  save(order: JournaledOrder): StoredOrder {
    checkOrder(order);
    this.requireOpen();
    const key = namesKey(order.identifiers);
    const now = this.now();
    return this.db
      .transaction(() => {
        const existing = this.#select.get(order.issuer, key);
        if (!existing && (this.#count.get()?.count ?? 0) >= MAX_JOURNALED_ORDERS) {
          throw new OrderJournalError(
            'too_many_orders',
            `The order journal holds ${MAX_JOURNALED_ORDERS} orders already; orders of a CA ` +
              'that is no longer configured are kept until their names are certified or removed.',
          );
        }
        const startedAt = existing?.started_at ?? now;
        if (order.orderUrl !== null && order.orderUrl !== (existing?.order_url ?? null)) {
          this.#countNewOrder.run(order.issuer, now);
          this.#trimNewOrders.run(now - NEW_ORDER_RETENTION_MS, MAX_NEW_ORDERS);
        }
        this.#upsert.run(
          order.issuer,
          key,
          JSON.stringify(order.identifiers),
          order.accountUrl,
          order.orderUrl,
          order.keyId,
          JSON.stringify(order.answered),
          startedAt,
          now,
        );
        return { ...order, startedAt, updatedAt: now };
      })
      .immediate();
  }

  /** Every journaled order, oldest first. */
  list(): StoredOrder[] {
    this.requireOpen();
    return this.#list.all().map((row) => ({
      issuer: row.issuer,
      identifiers: JSON.parse(row.identifiers) as JournalIdentifier[],
      accountUrl: row.account_url,
      orderUrl: row.order_url,
      keyId: row.key_id,
      answered: JSON.parse(row.answered) as string[],
      startedAt: row.started_at,
      updatedAt: row.updated_at,
    }));
  }

  /** The orders CAs created since `since` (epoch ms), oldest first, at most MAX_NEW_ORDERS. */
  newOrders(since: number): NewOrder[] {
    this.requireOpen();
    return this.#newOrders
      .all(since, MAX_NEW_ORDERS)
      .map((row) => ({ issuer: row.issuer, createdAt: row.created_at }));
  }

  /**
   * The CA at `issuer` asked for no new orders before `until` (epoch ms);
   * a later pause already kept stays. Capped at MAX_PAUSE_MS from now.
   */
  pause(issuer: string, until: number): void {
    if (typeof issuer !== 'string' || issuer.length < 1 || issuer.length > 2048) {
      throw new OrderJournalError('invalid_order', 'A pause needs the CA directory URL as issuer.');
    }
    if (!Number.isSafeInteger(until) || until < 0) {
      throw new OrderJournalError('invalid_order', 'A pause needs an end time in epoch ms.');
    }
    this.requireOpen();
    const now = this.now();
    this.db
      .transaction(() => {
        this.#trimPauses.run(now);
        this.#pause.run(issuer, Math.min(until, now + MAX_PAUSE_MS));
      })
      .immediate();
  }

  /** The pauses that have not ended at `now`. */
  pauses(now: number = this.now()): CaPause[] {
    this.requireOpen();
    return this.#pauses.all(now).map((row) => ({ issuer: row.issuer, until: row.until }));
  }

  /** Deletes the record of an order; false when there was none. */
  clear(issuer: string, identifiers: readonly JournalIdentifier[]): boolean {
    this.requireOpen();
    return this.#delete.run(issuer, namesKey(identifiers)).changes > 0;
  }
}

/** The IPC layer checks shapes with zod; this is the store's own last line for direct callers. */
function checkOrder(order: JournaledOrder): void {
  const problems: string[] = [];
  if (typeof order.issuer !== 'string' || order.issuer.length < 1 || order.issuer.length > 2048) {
    problems.push('issuer must be the directory URL (1 to 2048 characters)');
  }
  if (
    !Array.isArray(order.identifiers) ||
    order.identifiers.length < 1 ||
    order.identifiers.length > 100 ||
    !order.identifiers.every(
      (identifier) =>
        (identifier.type === 'dns' || identifier.type === 'ip') &&
        typeof identifier.value === 'string' &&
        identifier.value.length >= 1 &&
        identifier.value.length <= 253,
    )
  ) {
    problems.push('identifiers must be 1 to 100 {type: dns|ip, value} objects');
  }
  for (const [field, max] of [
    ['accountUrl', 2048],
    ['orderUrl', 2048],
    ['keyId', 80],
  ] as const) {
    const value = order[field];
    if (value !== null && (typeof value !== 'string' || value.length < 1 || value.length > max)) {
      problems.push(`${field} must be null or a string of 1 to ${max} characters`);
    }
  }
  if (
    !Array.isArray(order.answered) ||
    order.answered.length > 100 ||
    !order.answered.every((url) => typeof url === 'string' && url.length >= 1 && url.length <= 2048)
  ) {
    problems.push('answered must be at most 100 challenge URLs');
  }
  if (problems.length > 0) {
    throw new OrderJournalError(
      'invalid_order',
      `Order journal record refused: ${problems.join('; ')}.`,
    );
  }
}
