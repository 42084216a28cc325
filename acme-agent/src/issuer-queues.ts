/**
 * The names waiting for an order, one first-in-first-out queue per CA, so
 * that a CA at its caps holds back only its own names. A drain starts what
 * each CA's limiter admits and stops at the first refusal, so it costs the
 * orders started, not the length of the queue (a gateway may wait on tens
 * of thousands of names); each waiting name is told once why it waits.
 */
import type { Admission } from './order-limiter.js';
import type { IssuerState } from './issuers.js';

export type Refusal = Admission & { admitted: false };

export interface DrainHooks {
  /** Start the order for `name` at CA `index`; call `release` when it ends. */
  start(name: string, index: number, release: () => void): void;
  /** `name` waits at CA `index`, with `ahead` names before it. Called once per wait. */
  waiting(name: string, index: number, refusal: Refusal, ahead: number): void;
}

export class IssuerQueues {
  readonly #queues: string[][];
  /** How many names at the head of each queue were told they wait. */
  readonly #told: number[];
  readonly #names = new Set<string>();

  constructor(count: number) {
    this.#queues = Array.from({ length: count }, () => []);
    this.#told = Array.from({ length: count }, () => 0);
  }

  has(name: string): boolean {
    return this.#names.has(name);
  }

  get size(): number {
    return this.#names.size;
  }

  /** Queue `name` for CA `index`, unless it is queued already. */
  push(name: string, index: number): void {
    const queue = this.#queues[index];
    if (!queue || this.#names.has(name)) return;
    this.#names.add(name);
    queue.push(name);
  }

  /**
   * Start queued names while each CA's limiter admits them. Returns the
   * earliest time a refused CA can start another order, when one said.
   */
  drain(issuers: readonly IssuerState[], hooks: DrainHooks): number | undefined {
    let wakeAt: number | undefined;
    issuers.forEach((issuer, index) => {
      const queue = this.#queues[index];
      if (!queue) return;
      while (queue.length > 0) {
        const admission = issuer.limiter.tryStart();
        if (!admission.admitted) {
          if (admission.notBefore !== undefined) {
            wakeAt = Math.min(wakeAt ?? Infinity, admission.notBefore);
          }
          const told = this.#told[index] ?? 0;
          for (let ahead = told; ahead < queue.length; ahead += 1) {
            const name = queue[ahead];
            if (name !== undefined) hooks.waiting(name, index, admission, ahead);
          }
          this.#told[index] = queue.length;
          return;
        }
        const name = queue.shift();
        if (name === undefined) {
          admission.release();
          return;
        }
        this.#told[index] = Math.max(0, (this.#told[index] ?? 0) - 1);
        this.#names.delete(name);
        hooks.start(name, index, admission.release);
      }
    });
    return wakeAt;
  }
}
