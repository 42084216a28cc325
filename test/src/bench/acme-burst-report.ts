/**
 * Reads Gatehouse's ACME events after a burst and says what its planner
 * did: orders placed, orders in flight at once, the rate of new orders,
 * each held against Let's Encrypt's published limits; and where each
 * order's time went (queue, challenge set-up, validation, issuance).
 */

/** One row of GET /v1/events. */
export interface EventRow {
  id: number;
  time: string;
  type: string;
  payload: { identifiers?: { type: string; value: string }[]; orderUrl?: string };
}

/**
 * Let's Encrypt's limits that a burst of new names meets
 * (https://letsencrypt.org/docs/rate-limits/, page of 2025): token
 * buckets, so a burst up to the full capacity passes and capacity refills
 * one at a time. Known gap: copied by hand; they change without notice.
 */
export const LETS_ENCRYPT_LIMITS = {
  /** New Orders per Account: 300 per 3 hours, one more every 36 s. */
  newOrdersPerAccount: { capacity: 300, windowHours: 3, refillSeconds: 36 },
  /** New Certificates per Registered Domain: 50 per 7 days, one more every 202 minutes. */
  certificatesPerRegisteredDomain: { capacity: 50, windowDays: 7 },
} as const;

interface OrderTimes {
  identifier: string;
  created: number;
  challengeReady?: number;
  authorizationValid?: number;
  /** Obtained or failed, whichever ended the order. */
  ended?: number;
  failed: boolean;
}

export interface PlannerSummary {
  ordersPlaced: number;
  certificatesObtained: number;
  failures: number;
  peakConcurrentOrders: number;
  /** From the first order_created to the last, in ms. */
  orderSpanMs: number;
  /** New orders per hour over that span (the burst rate). */
  newOrdersPerHour: number;
  /** The most orders placed in any 3-hour window of this run. */
  maxOrdersIn3Hours: number;
  /** Orders LE's New Orders bucket would have refused (capacity 300, refill 1 per 36 s). */
  ordersOverBucket: number;
  /**
   * Registered domain with the most new certificates. Known gap: taken as
   * the last two labels, not from the Public Suffix List as LE does.
   */
  busiestRegisteredDomain: { name: string; certificates: number } | undefined;
  orders: OrderTimes[];
}

/** Order by order, from the events; the burst started at `startedAt`. */
export function summarizePlanner(events: readonly EventRow[]): PlannerSummary {
  const byUrl = new Map<string, OrderTimes>();
  const openByIdentifier = new Map<string, OrderTimes>();
  const orders: OrderTimes[] = [];
  for (const event of [...events].sort((a, b) => a.id - b.id)) {
    const at = Date.parse(event.time);
    const identifier = event.payload.identifiers?.map((id) => id.value).join(',') ?? '';
    const order =
      event.payload.orderUrl === undefined
        ? openByIdentifier.get(identifier)
        : byUrl.get(event.payload.orderUrl);
    switch (event.type) {
      case 'order_created': {
        const created: OrderTimes = { identifier, created: at, failed: false };
        orders.push(created);
        if (event.payload.orderUrl !== undefined) byUrl.set(event.payload.orderUrl, created);
        openByIdentifier.set(identifier, created);
        break;
      }
      case 'challenge_ready':
        if (order) order.challengeReady ??= at;
        break;
      case 'authorization_valid':
        if (order) order.authorizationValid ??= at;
        break;
      case 'certificate_obtained':
      case 'certificate_failed':
        // A failure before newOrder answered has no open order: nothing was placed.
        if (order && order.ended === undefined) {
          order.ended = at;
          order.failed = event.type === 'certificate_failed';
          openByIdentifier.delete(identifier);
        }
        break;
      default:
        break;
    }
  }

  const created = orders.map((order) => order.created).sort((a, b) => a - b);
  const first = created[0] ?? 0;
  const last = created[created.length - 1] ?? 0;
  const spanMs = last - first;
  const limit = LETS_ENCRYPT_LIMITS.newOrdersPerAccount;
  const threeHours = limit.windowHours * 3_600_000;
  const domains = new Map<string, number>();
  for (const order of orders) {
    if (order.failed || order.ended === undefined) continue;
    const registered = order.identifier.split('.').slice(-2).join('.');
    domains.set(registered, (domains.get(registered) ?? 0) + 1);
  }
  const busiest = [...domains].sort((a, b) => b[1] - a[1])[0];
  return {
    ordersPlaced: orders.length,
    certificatesObtained: orders.filter((order) => order.ended !== undefined && !order.failed)
      .length,
    failures: events.filter((event) => event.type === 'certificate_failed').length,
    peakConcurrentOrders: peakOverlap(orders),
    orderSpanMs: spanMs,
    newOrdersPerHour: spanMs > 0 ? ((orders.length - 1) * 3_600_000) / spanMs : orders.length,
    maxOrdersIn3Hours: Math.max(
      0,
      ...created.map((start) => created.filter((t) => t >= start && t < start + threeHours).length),
    ),
    ordersOverBucket: overBucket(created, limit.capacity, limit.refillSeconds * 1_000),
    busiestRegisteredDomain: busiest ? { name: busiest[0], certificates: busiest[1] } : undefined,
    orders,
  };
}

/** The most orders open at one moment: each from order_created until it ended. */
function peakOverlap(orders: readonly OrderTimes[]): number {
  const edges: [number, number][] = [];
  for (const order of orders) {
    edges.push([order.created, 1]);
    edges.push([order.ended ?? Number.POSITIVE_INFINITY, -1]);
  }
  // At equal times an end comes before a start: a slot freed and reused is not two at once.
  edges.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  let open = 0;
  let peak = 0;
  for (const [, change] of edges) {
    open += change;
    peak = Math.max(peak, open);
  }
  return peak;
}

/** Orders a token bucket of `capacity`, full at the start, refilling one per `refillMs`, refuses. */
function overBucket(times: readonly number[], capacity: number, refillMs: number): number {
  let tokens = capacity;
  let refused = 0;
  let previous = times[0] ?? 0;
  for (const time of times) {
    tokens = Math.min(capacity, tokens + (time - previous) / refillMs);
    previous = time;
    if (tokens >= 1) tokens -= 1;
    else refused += 1;
  }
  return refused;
}

/** Where the orders' time went, as min, median and max of each step (ms). */
export function phaseBreakdown(
  summary: PlannerSummary,
  startedAt: number,
  servedAt: ReadonlyMap<string, number>,
): { phase: string; minMs: number; medianMs: number; maxMs: number }[] {
  const done = summary.orders.filter((order) => !order.failed && order.ended !== undefined);
  const phases: [string, (order: OrderTimes) => number | undefined][] = [
    // Its minimum is the account's set-up: key, newAccount, first newOrder.
    ['added -> order_created (queue)', (order) => order.created - startedAt],
    ['order_created -> challenge_ready', (order) => diff(order.created, order.challengeReady)],
    [
      'challenge_ready -> authorization_valid',
      (order) => diff(order.challengeReady, order.authorizationValid),
    ],
    [
      'authorization_valid -> certificate_obtained',
      (order) => diff(order.authorizationValid, order.ended),
    ],
    ['order_created -> certificate_obtained', (order) => diff(order.created, order.ended)],
    [
      'certificate_obtained -> served (probe)',
      (order) => {
        const served = servedAt.get(order.identifier);
        return served === undefined ? undefined : diff(order.ended, startedAt + served);
      },
    ],
  ];
  return phases.map(([phase, measure]) => {
    const values = done
      .map(measure)
      .filter((value): value is number => value !== undefined)
      .sort((a, b) => a - b);
    return {
      phase,
      minMs: values[0] ?? Number.NaN,
      medianMs: values[Math.floor(values.length / 2)] ?? Number.NaN,
      maxMs: values[values.length - 1] ?? Number.NaN,
    };
  });
}

function diff(from: number | undefined, to: number | undefined): number | undefined {
  return from === undefined || to === undefined ? undefined : to - from;
}
