/**
 * Orders that survive crashes. Each order in flight is journaled in
 * state.db through the supervisor (the acme-agent writes no file): the
 * intent before newOrder, the order URL right after, the certificate key
 * once the keyvault made it. The next attempt for the same identifiers,
 * after a crash of any process or a failed try, takes the journaled order
 * up again (RFC 8555 section 7.1.3 says where each status leads) instead
 * of placing a second one with a second key; the record is cleared when
 * the chain is stored or the order is given up.
 *
 * A crash after the CA created an order but before its URL was journaled
 * leaves only the intent: the next attempt looks for that order among the
 * account's orders (RFC 8555 section 7.1.2.1) and takes it up when it is
 * still pending or ready; only when the CA lists none (or has no orders
 * list) is a new one placed. Known gap: a key the keyvault made just before
 * a crash that came before its id was journaled stays in the vault unused.
 */
import { IpcError, type JournaledOrder, type RequestResult } from '@gatehouse/gateway/ipc';
import type { Logger } from '@gatehouse/gateway/log';
import type { AcmeIdentifier, OrderResource } from './acme/api.js';
import { HttpError } from './acme/http.js';
import { AcmeProblemError, describeProblem, parseProblem } from './acme/problem.js';
import {
  type Ask,
  type OrderContext,
  type OrderSteps,
  completeOrder,
  obtainCertificate,
} from './order.js';

type CertificateSummary = RequestResult<'keyvault.store-chain'>;

/** The journal of one CA's orders, kept by the supervisor. */
export class OrderJournal {
  constructor(
    private readonly ask: Ask,
    /** The CA's directory URL. */
    readonly issuer: string,
    private readonly log: Logger,
  ) {}

  /** The journaled order for exactly these identifiers at this CA, if any. */
  async find(identifiers: readonly AcmeIdentifier[]): Promise<JournaledOrder | undefined> {
    const { orders } = await this.ask('supervisor.order-journal', {});
    const key = namesKey(identifiers);
    return orders.find(
      (order) => order.issuer === this.issuer && namesKey(order.identifiers) === key,
    );
  }

  /**
   * The steps order.ts reports, each written before the order goes on;
   * `resumed` is the record of the order being taken up again.
   */
  steps(accountUrl: string, identifiers: AcmeIdentifier[], resumed?: JournaledOrder): OrderSteps {
    const order: JournaledOrder = {
      issuer: this.issuer,
      identifiers,
      accountUrl,
      orderUrl: resumed?.orderUrl ?? null,
      keyId: resumed?.keyId ?? null,
      answered: [...(resumed?.answered ?? [])],
    };
    // Each save writes the whole record as it is now; IPC keeps them in order.
    const save = async (change: Partial<JournaledOrder>): Promise<void> => {
      Object.assign(order, change);
      await this.ask('supervisor.order-journal-save', {
        order: { ...order, answered: [...order.answered] },
      });
    };
    return {
      intent: () => save({ orderUrl: null, keyId: null, answered: [] }),
      created: (orderUrl) => save({ orderUrl }),
      keyMade: (orderUrl, keyId) => save({ orderUrl, keyId }),
      answering: (challengeUrl) => save({ answered: [...order.answered, challengeUrl] }),
      refused: (challengeUrl) =>
        save({ answered: order.answered.filter((url) => url !== challengeUrl) }),
      answered: (challengeUrl) => order.answered.includes(challengeUrl),
      resumes: worthResuming,
    };
  }

  /** Forget the order; a failure is logged (the next reconcile prunes a stale record). */
  async clear(identifiers: AcmeIdentifier[]): Promise<void> {
    await this.ask('supervisor.order-journal-clear', { issuer: this.issuer, identifiers }).catch(
      (error: unknown) => {
        this.log.warn('could not clear a journaled order; it is pruned later', {
          identifier: names(identifiers),
          error,
        });
      },
    );
  }

  /**
   * Clear this CA's records whose names no longer need an order (the domain
   * was removed, or a crash came after the chain was stored but before the
   * record was cleared). `busy` says which names are queued or in flight.
   */
  async prune(busy: (name: string) => boolean): Promise<void> {
    const { orders } = await this.ask('supervisor.order-journal', {});
    for (const order of orders) {
      if (order.issuer !== this.issuer) continue;
      if (order.identifiers.some((identifier) => busy(identifier.value))) continue;
      this.log.info('journaled order no longer needed; cleared', {
        identifier: names(order.identifiers),
        ...(order.orderUrl ? { order_url: order.orderUrl } : {}),
      });
      await this.clear(order.identifiers);
    }
  }
}

/**
 * Obtain a certificate for `identifiers`, taking up the journaled order
 * when there is one that can still complete, else placing a new one.
 */
export async function obtainResumable(
  base: Omit<OrderContext, 'journal'>,
  journal: OrderJournal,
  identifiers: AcmeIdentifier[],
): Promise<CertificateSummary> {
  const fresh: OrderContext = { ...base, journal: journal.steps(base.accountUrl, identifiers) };
  let stored: CertificateSummary | undefined;
  try {
    const record = await journal.find(identifiers);
    if (record) {
      const context = { ...base, journal: journal.steps(base.accountUrl, identifiers, record) };
      stored = await resume(context, record, identifiers);
    }
    stored ??= await obtainCertificate(fresh, identifiers);
  } catch (error) {
    if (!worthResuming(error)) await journal.clear(identifiers);
    throw error;
  }
  await journal.clear(identifiers);
  return stored;
}

/**
 * Take a journaled order up again: POST-as-GET it (section 7.1.3) and go on
 * from its status. Undefined when it cannot complete (never created, another
 * account's, gone, invalid or expired): a new order is placed instead.
 */
async function resume(
  context: OrderContext,
  record: JournaledOrder,
  identifiers: AcmeIdentifier[],
): Promise<CertificateSummary | undefined> {
  const { api, accountUrl, log } = context;
  const orderUrl = record.orderUrl;
  if (orderUrl === null) {
    const placed = record.accountUrl === accountUrl ? await findPlaced(context, identifiers) : null;
    if (!placed) {
      log.info('an order was about to be placed when the last attempt ended; placing it now', {
        identifier: names(identifiers),
      });
      return undefined;
    }
    await context.journal?.created(placed.url);
    context.emit({
      type: 'order_resumed',
      identifiers,
      issuer: context.issuer,
      orderUrl: placed.url,
    });
    log.info('order placed before the last attempt ended found at the CA; resumed', {
      order_url: placed.url,
      status: placed.order.status,
    });
    return completeOrder(context, identifiers, placed.url, placed.order, undefined);
  }
  if (record.accountUrl !== accountUrl) {
    log.info('journaled order belongs to another account; placing a new order', {
      order_url: orderUrl,
    });
    return undefined;
  }
  let order;
  try {
    order = (await api.getOrder(accountUrl, orderUrl)).body;
  } catch (error) {
    if (!isGone(error)) throw error;
    log.info('journaled order is gone at the CA; placing a new order', {
      order_url: orderUrl,
      error: error instanceof Error ? error.message : String(error),
    });
    return undefined;
  }
  const expires = order.expires === undefined ? NaN : Date.parse(order.expires);
  if (
    order.status === 'invalid' ||
    expires <= Date.now() ||
    namesKey(order.identifiers) !== namesKey(identifiers)
  ) {
    log.info('journaled order cannot complete; placing a new order', {
      order_url: orderUrl,
      status: order.status,
      ...(order.error ? { problem: describeProblem(parseProblem(order.error, 0)) } : {}),
    });
    return undefined;
  }
  context.emit({ type: 'order_resumed', identifiers, issuer: context.issuer, orderUrl });
  log.info('order resumed', { order_url: orderUrl, status: order.status });
  return completeOrder(context, identifiers, orderUrl, order, record.keyId ?? undefined);
}

/** How many of an account's newest orders are read when looking for a lost one. */
const MAX_ORDERS_LOOKED_AT = 20;

/**
 * The order for exactly these identifiers that the CA created for this
 * account but whose URL was never journaled (the attempt ended between
 * newOrder and the journal write): the newest one the account's orders
 * list shows that is still pending or ready and not expired. Null when
 * there is none, or the CA offers no list; a CA out of reach throws, so
 * the intent is kept for the next attempt.
 */
async function findPlaced(
  context: OrderContext,
  identifiers: AcmeIdentifier[],
): Promise<{ url: string; order: OrderResource } | null> {
  const { api, accountUrl, log } = context;
  const key = namesKey(identifiers);
  try {
    const account = await api.updateAccount(accountUrl, null);
    if (!account.orders) return null;
    const urls = await api.listOrders(accountUrl, account.orders);
    // CAs list oldest first (Pebble, Boulder): look from the newest.
    for (const url of urls.slice(-MAX_ORDERS_LOOKED_AT).reverse()) {
      const order = (await api.getOrder(accountUrl, url)).body;
      const expires = order.expires === undefined ? Infinity : Date.parse(order.expires);
      if (
        (order.status === 'pending' || order.status === 'ready') &&
        expires > Date.now() &&
        namesKey(order.identifiers) === key
      ) {
        return { url, order };
      }
    }
    return null;
  } catch (error) {
    if (worthResuming(error)) throw error;
    log.info("could not read the account's orders; placing a new order", {
      identifier: names(identifiers),
      error: error instanceof Error ? error.message : String(error),
    });
    return null;
  }
}

/** A CA that no longer knows the order, or no longer lets this account read it. */
function isGone(error: unknown): boolean {
  return (
    error instanceof AcmeProblemError &&
    (error.problem.status === 404 || ['unauthorized', 'accountDoesNotExist'].includes(error.kind))
  );
}

/**
 * Whether the failed attempt leaves the order worth taking up again: the CA
 * or a Gatehouse process was out of reach, or the CA asked to come back.
 * Anything else (an invalid order, a broken answer) gives the order up.
 */
export function worthResuming(error: unknown): boolean {
  if (error instanceof HttpError) return error.code === 'network' || error.code === 'timeout';
  if (error instanceof IpcError) {
    return ['unavailable', 'timeout', 'channel_closed'].includes(error.code);
  }
  if (error instanceof AcmeProblemError) {
    return error.transient || ['accountDoesNotExist', 'unauthorized'].includes(error.kind);
  }
  return false;
}

/** Identifiers as one key: order does not matter, case does not. */
export function namesKey(identifiers: readonly AcmeIdentifier[]): string {
  return identifiers
    .map((identifier) => `${identifier.type}:${identifier.value.toLowerCase()}`)
    .sort()
    .join(',');
}

function names(identifiers: readonly AcmeIdentifier[]): string {
  return identifiers.map((identifier) => identifier.value).join(',');
}
