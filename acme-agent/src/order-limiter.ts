/**
 * Keeps Gatehouse inside one CA's published limits: at most N orders in
 * flight, and new orders from a token bucket modelled on Let's Encrypt's
 * "New Orders per Account" limit (300 per 3 hours, refilling one order
 * every 36 seconds: https://letsencrypt.org/docs/rate-limits/). A name
 * that does not fit now is not failed: the caller keeps it queued and is
 * told when the next order can start. The clock is injected so the tests
 * need no sleeping.
 *
 * The bucket lives in memory; at start the agent charges it with the
 * orders the CA created in the last run (`restore`, from state.db), so a
 * restart does not hand out a second burst the CA would still count.
 */

export interface OrderLimits {
  readonly maxConcurrentOrders: number;
  /** `orders` new orders per `periodSeconds`, refilled evenly (a token bucket). */
  readonly newOrderLimit: { readonly orders: number; readonly periodSeconds: number };
}

export type Clock = () => number;

/** Why an order must wait. */
export type WaitReason = 'concurrent_orders' | 'new_order_rate' | 'ca_rate_limited';

export type Admission =
  | { readonly admitted: true; readonly release: () => void }
  | {
      readonly admitted: false;
      readonly reason: WaitReason;
      /** When to ask again (epoch ms); undefined: when a running order ends. */
      readonly notBefore: number | undefined;
    };

export class OrderLimiter {
  readonly #limits: OrderLimits;
  readonly #clock: Clock;
  /** Milliseconds for one order to refill. */
  readonly #refillMs: number;
  #tokens: number;
  #updatedAt: number;
  #running = 0;
  #pausedUntil = 0;

  constructor(limits: OrderLimits, clock: Clock = Date.now) {
    if (!(limits.maxConcurrentOrders >= 1) || !(limits.newOrderLimit.orders >= 1)) {
      throw new RangeError('OrderLimiter: the caps must allow at least one order');
    }
    this.#limits = limits;
    this.#clock = clock;
    this.#refillMs = (limits.newOrderLimit.periodSeconds * 1000) / limits.newOrderLimit.orders;
    // A fresh start may use the whole burst, as the CA's bucket starts full too.
    this.#tokens = limits.newOrderLimit.orders;
    this.#updatedAt = clock();
  }

  /** Milliseconds for the new-order allowance to refill by one order. */
  get refillMs(): number {
    return this.#refillMs;
  }

  /** Orders started and not yet released. */
  get running(): number {
    return this.#running;
  }

  /** Start an order now if the caps allow; the caller must call `release` when it ends. */
  tryStart(): Admission {
    const now = this.#clock();
    this.#refill(now);
    if (now < this.#pausedUntil) {
      return { admitted: false, reason: 'ca_rate_limited', notBefore: this.#pausedUntil };
    }
    if (this.#running >= this.#limits.maxConcurrentOrders) {
      return { admitted: false, reason: 'concurrent_orders', notBefore: undefined };
    }
    if (this.#tokens < 1) {
      const notBefore = now + Math.ceil((1 - this.#tokens) * this.#refillMs);
      return { admitted: false, reason: 'new_order_rate', notBefore };
    }
    this.#tokens -= 1;
    this.#running += 1;
    let released = false;
    return {
      admitted: true,
      release: () => {
        if (released) return;
        released = true;
        this.#running -= 1;
      },
    };
  }

  /**
   * Charge the allowance with orders the CA created before this limiter
   * existed (epoch ms, as the previous run recorded them): the bucket is
   * replayed from full through each of them, then refilled to now. It only
   * ever lowers the allowance; call it before the first `tryStart`.
   */
  restore(createdAt: readonly number[]): void {
    const now = this.#clock();
    const cap = this.#limits.newOrderLimit.orders;
    let tokens = cap;
    let at: number | undefined;
    for (const time of [...createdAt].filter((t) => t <= now).sort((a, b) => a - b)) {
      if (at !== undefined) tokens = Math.min(cap, tokens + (time - at) / this.#refillMs);
      tokens -= 1;
      at = time;
    }
    if (at === undefined) return;
    tokens = Math.min(cap, tokens + (now - at) / this.#refillMs);
    this.#refill(now);
    this.#tokens = Math.min(this.#tokens, tokens);
  }

  /**
   * The CA said it rate-limited us and when to come back (RFC 8555 section
   * 6.6, Retry-After): start no order at this CA before then.
   */
  pauseUntil(at: number): void {
    this.#pausedUntil = Math.max(this.#pausedUntil, at);
  }

  #refill(now: number): void {
    const elapsed = Math.max(0, now - this.#updatedAt);
    this.#tokens = Math.min(
      this.#limits.newOrderLimit.orders,
      this.#tokens + elapsed / this.#refillMs,
    );
    this.#updatedAt = now;
  }
}

/**
 * What a queued name is told: why it waits and when it will be ordered.
 * `ahead` names wait before it at the same CA; under the rate cap each
 * takes one refill.
 */
export function describeWait(
  limits: OrderLimits,
  refillMs: number,
  admission: Admission & { admitted: false },
  ahead: number,
): { waitReason: WaitReason; detail: string; orderAt?: string } {
  const orderAt =
    admission.notBefore === undefined
      ? undefined
      : new Date(
          admission.notBefore + (admission.reason === 'new_order_rate' ? ahead * refillMs : 0),
        ).toISOString();
  const { maxConcurrentOrders, newOrderLimit } = limits;
  const detail =
    admission.reason === 'concurrent_orders'
      ? `${maxConcurrentOrders} orders are running at this CA (its cap); ` +
        'this name is ordered when one of them ends'
      : admission.reason === 'new_order_rate'
        ? `the cap of ${newOrderLimit.orders} new orders per ${newOrderLimit.periodSeconds} s ` +
          `at this CA is used up; this name is ordered at about ${orderAt ?? 'a later time'}`
        : `the CA asked for no new orders before ${orderAt ?? 'a later time'} (Retry-After)`;
  return { waitReason: admission.reason, detail, ...(orderAt ? { orderAt } : {}) };
}
