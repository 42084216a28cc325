/**
 * Benchmark (not a test: it prints figures and asserts nothing): a burst
 * of N names added at once to Gatehouse and to Caddy, each against its own
 * Pebble, and the time until every name is served with a certificate that
 * verifies against that Pebble's root. Both answer tls-alpn-01 only. Then
 * what Gatehouse's planner did against Let's Encrypt's limits, and where
 * its orders spent their time. Run it with scripts/bench-acme-caddy.
 */
import { execFileSync } from 'node:child_process';
import { controlRequest } from '@gatehouse/gateway/control';
import { Caddy } from '../harness/caddy.js';
import { Gatehouse } from '../harness/gatehouse.js';
import { Pebble } from '../harness/pebble.js';
import { freePort } from '../harness/ports.js';
import {
  type EventRow,
  LETS_ENCRYPT_LIMITS,
  type PlannerSummary,
  phaseBreakdown,
  summarizePlanner,
} from './acme-burst-report.js';
import { type ServedTimes, watchUntilServed } from './served.js';

const TARGET_RATIO = 0.3;
const EMAIL = 'bench@example.com';

interface Options {
  domains: number;
  rounds: number;
  timeoutSeconds: number;
  /** 1: each server first certifies one other name, so its ACME account exists before the burst. */
  warm: number;
  /** Pause between rounds of probes, ms: each probe is a full handshake, on the same cores. */
  probeInterval: number;
}

interface RunSettings {
  timeoutMs: number;
  warm: boolean;
  probeIntervalMs: number;
}

/** The name certified before the burst with --warm 1. */
const WARM_NAME = 'warmup.example.com';

interface SideResult {
  served: ServedTimes;
  /** Until the last name verified; NaN when some never did. */
  allMs: number;
  planner?: PlannerSummary;
  breakdown?: ReturnType<typeof phaseBreakdown>;
  /** What the server said went wrong, when some name was never served. */
  problems: string[];
}

/** Cleanups of whatever runs now, for SIGINT/SIGTERM. */
const running = new Set<() => Promise<void>>();

function parseOptions(argv: readonly string[]): Options {
  const options: Options = {
    domains: 50,
    rounds: 1,
    timeoutSeconds: 300,
    warm: 0,
    probeInterval: 200,
  };
  const bounds = {
    domains: [1, 500],
    rounds: [1, 20],
    timeoutSeconds: [10, 3_600],
    warm: [0, 1],
    probeInterval: [50, 5_000],
  } as const;
  for (let index = 0; index < argv.length; index += 2) {
    const flag = argv[index] ?? '';
    const key = {
      '--domains': 'domains',
      '--rounds': 'rounds',
      '--timeout': 'timeoutSeconds',
      '--warm': 'warm',
      '--probe-interval': 'probeInterval',
    }[flag] as keyof Options | undefined;
    const value = Number(argv[index + 1]);
    if (key === undefined) {
      throw new Error(
        `Unknown option ${flag}. Usage: [--domains 50] [--rounds 1] [--timeout 300] [--warm 0] [--probe-interval 200]`,
      );
    }
    const [min, max] = bounds[key];
    if (!Number.isInteger(value) || value < min || value > max) {
      throw new Error(`${flag} takes a whole number from ${min} to ${max}, not ${argv[index + 1]}`);
    }
    options[key] = value;
  }
  return options;
}

async function runGatehouse(names: readonly string[], run: RunSettings): Promise<SideResult> {
  const httpsPort = await freePort();
  const httpPort = await freePort();
  const pebble = await Pebble.start({ httpPort, tlsPort: httpsPort });
  let gatehouse: Gatehouse | undefined;
  const cleanup = async (): Promise<void> => {
    await gatehouse?.stop().catch(() => undefined);
    await gatehouse?.cleanup();
    await pebble.stop();
  };
  running.add(cleanup);
  try {
    gatehouse = await Gatehouse.start({
      httpsPort,
      httpPort,
      workers: 2,
      extraArgs: [
        ...['--acme-directory', pebble.directoryUrl, '--acme-trust', pebble.trustFile],
        ...['--acme-email', EMAIL, '--acme-challenge', 'tls-alpn-01'],
      ],
    });
    const rootPem = await pebble.rootPem();
    const socket = gatehouse.socketPath;
    let warmEvents = 0;
    if (run.warm) {
      const add = (name: string) => controlRequest(socket, 'POST', '/v1/domains', 10_000, { name });
      await warmUp(() => add(WARM_NAME), httpsPort, rootPem, run.timeoutMs);
      warmEvents = Math.max(0, ...(await allEvents(socket)).map((event) => event.id));
    }
    const startedAt = Date.now();
    const answers = await Promise.all(
      names.map((name) => controlRequest(socket, 'POST', '/v1/domains', 10_000, { name })),
    );
    const refused = answers.filter((answer) => answer.status !== 201);
    if (refused.length > 0) {
      throw new Error(`POST /v1/domains refused: ${JSON.stringify(refused[0]?.body)}`);
    }
    const served = await watchUntilServed({
      port: httpsPort,
      names,
      rootPem,
      startedAt,
      timeoutMs: run.timeoutMs,
      intervalMs: run.probeIntervalMs,
    });
    const events = (await allEvents(socket)).filter((event) => event.id > warmEvents);
    const planner = summarizePlanner(events);
    const failures = events.filter((event) => event.type === 'certificate_failed');
    return {
      served,
      allMs: allServedMs(served),
      problems: failures
        .slice(-10)
        .map((event) => `${event.time} ${JSON.stringify(event.payload)}`),
      planner,
      breakdown: phaseBreakdown(planner, startedAt, served.byName),
    };
  } finally {
    running.delete(cleanup);
    await cleanup();
  }
}

async function runCaddy(names: readonly string[], run: RunSettings): Promise<SideResult> {
  const httpsPort = await freePort();
  const httpPort = await freePort();
  const pebble = await Pebble.start({ httpPort, tlsPort: httpsPort });
  let caddy: Caddy | undefined;
  const cleanup = async (): Promise<void> => {
    await caddy?.stop();
    await pebble.stop();
  };
  running.add(cleanup);
  try {
    caddy = await Caddy.start({
      httpsPort,
      httpPort,
      acme: { directoryUrl: pebble.directoryUrl, trustFile: pebble.trustFile, email: EMAIL },
    });
    const rootPem = await pebble.rootPem();
    const started = caddy;
    if (run.warm)
      await warmUp(() => started.addSites([WARM_NAME]), httpsPort, rootPem, run.timeoutMs);
    const startedAt = Date.now();
    await caddy.addSites(names);
    const served = await watchUntilServed({
      port: httpsPort,
      names,
      rootPem,
      startedAt,
      timeoutMs: run.timeoutMs,
      intervalMs: run.probeIntervalMs,
    });
    return { served, allMs: allServedMs(served), problems: caddy.problems.slice(-10) };
  } finally {
    running.delete(cleanup);
    await cleanup();
  }
}

/** Add WARM_NAME with `add` and wait until it is served: the account then exists. */
async function warmUp(
  add: () => Promise<unknown>,
  port: number,
  rootPem: string,
  timeoutMs: number,
): Promise<void> {
  const startedAt = Date.now();
  await add();
  const served = await watchUntilServed({
    port,
    names: [WARM_NAME],
    rootPem,
    startedAt,
    timeoutMs,
  });
  if (served.missing.length > 0)
    throw new Error(`${WARM_NAME} was not served within ${timeoutMs} ms`);
}

/** Every event, a page of 1000 at a time (bounded at 100 pages). */
async function allEvents(socket: string): Promise<EventRow[]> {
  const events: EventRow[] = [];
  let after = 0;
  for (let page = 0; page < 100; page += 1) {
    const response = await controlRequest(
      socket,
      'GET',
      `/v1/events?after=${after}&limit=1000`,
      10_000,
    );
    const rows = (response.body as { events?: EventRow[] } | undefined)?.events ?? [];
    events.push(...rows);
    if (rows.length < 1000) break;
    after = rows[rows.length - 1]?.id ?? after;
  }
  return events;
}

function allServedMs(served: ServedTimes): number {
  return served.missing.length > 0 ? Number.NaN : Math.max(...served.byName.values());
}

function seconds(ms: number): string {
  return Number.isNaN(ms) ? 'n/a' : (ms / 1000).toFixed(1);
}

function quantile(served: ServedTimes, q: number): number {
  const values = [...served.byName.values()].sort((a, b) => a - b);
  return values[Math.min(values.length - 1, Math.floor(values.length * q))] ?? Number.NaN;
}

function printRounds(results: { gatehouse: SideResult; caddy: SideResult }[], n: number): void {
  console.log('| round | server    | first served s | half served s | all served s | not served |');
  console.log('| ----- | --------- | -------------- | ------------- | ------------ | ---------- |');
  results.forEach(({ gatehouse, caddy }, index) => {
    for (const [name, side] of [
      ['gatehouse', gatehouse],
      ['caddy', caddy],
    ] as const) {
      console.log(
        `| ${String(index + 1).padStart(5)} | ${name.padEnd(9)} | ` +
          `${seconds(quantile(side.served, 0)).padStart(14)} | ` +
          `${seconds(quantile(side.served, 0.5)).padStart(13)} | ` +
          `${seconds(side.allMs).padStart(12)} | ${String(side.served.missing.length).padStart(10)} |`,
      );
    }
  });
  const ratios = results.map(({ gatehouse, caddy }) => gatehouse.allMs / caddy.allMs);
  const sorted = ratios.filter((ratio) => !Number.isNaN(ratio)).sort((a, b) => a - b);
  const median = sorted[Math.floor(sorted.length / 2)];
  console.log(
    `\ntime until all ${n} served, gatehouse/caddy: ` +
      ratios.map((ratio) => (Number.isNaN(ratio) ? 'n/a' : ratio.toFixed(2))).join(', ') +
      (median === undefined
        ? ''
        : `; median ${median.toFixed(2)} (target <= ${TARGET_RATIO}: ` +
          `${median <= TARGET_RATIO ? 'met' : 'not met'})`),
  );
}

function printPlanner(planner: PlannerSummary, round: number): void {
  const limits = LETS_ENCRYPT_LIMITS;
  const busiest = planner.busiestRegisteredDomain;
  console.log(`\nGatehouse's planner, round ${round}, against Let's Encrypt's published limits:`);
  console.log(
    '| measure                                  | gatehouse | LE limit                  |',
  );
  console.log(
    '| ---------------------------------------- | --------- | ------------------------- |',
  );
  const row = (measure: string, value: string, limit: string): void => {
    console.log(`| ${measure.padEnd(40)} | ${value.padStart(9)} | ${limit.padEnd(25)} |`);
  };
  const orders = limits.newOrdersPerAccount;
  row('orders placed', String(planner.ordersPlaced), '-');
  row(
    'certificates obtained / failures',
    `${planner.certificatesObtained} / ${planner.failures}`,
    '-',
  );
  row('peak orders in flight', String(planner.peakConcurrentOrders), 'none published');
  row(
    'new orders in any 3 h (one account)',
    String(planner.maxOrdersIn3Hours),
    `${orders.capacity} per ${orders.windowHours} h`,
  );
  row(
    'burst rate, new orders per hour',
    planner.newOrdersPerHour.toFixed(0),
    `refill 1 per ${orders.refillSeconds} s (100/h)`,
  );
  row('orders over LE new-orders bucket', String(planner.ordersOverBucket), '0 to stay unrefused');
  row(
    `certificates for ${busiest?.name ?? '-'}`,
    String(busiest?.certificates ?? 0),
    `${limits.certificatesPerRegisteredDomain.capacity} per ${limits.certificatesPerRegisteredDomain.windowDays} days`,
  );
}

function printBreakdown(breakdown: ReturnType<typeof phaseBreakdown>, round: number): void {
  console.log(`\nwhere Gatehouse's orders spent their time, round ${round} (from events):`);
  console.log('| step                                        | min s | median s | max s |');
  console.log('| ------------------------------------------- | ----- | -------- | ----- |');
  for (const { phase, minMs, medianMs, maxMs } of breakdown) {
    console.log(
      `| ${phase.padEnd(43)} | ${seconds(minMs).padStart(5)} | ` +
        `${seconds(medianMs).padStart(8)} | ${seconds(maxMs).padStart(5)} |`,
    );
  }
}

function version(command: string, args: string[]): string {
  try {
    return execFileSync(command, args, { encoding: 'utf8', timeout: 5_000 }).split('\n')[0] ?? '';
  } catch {
    return 'unknown';
  }
}

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  const names = Array.from(
    { length: options.domains },
    (_, index) => `site${index + 1}.example.com`,
  );
  const run: RunSettings = {
    timeoutMs: options.timeoutSeconds * 1000,
    warm: options.warm === 1,
    probeIntervalMs: options.probeInterval,
  };
  console.log(
    `ACME burst: ${options.domains} names added at once, tls-alpn-01 only, each server against ` +
      `its own Pebble (PEBBLE_VA_NOSLEEP=1, Pebble's default 5% nonces refused), loopback.\n` +
      `Gatehouse: concurrent POST /v1/domains, 2 workers. Caddy ${version('caddy', ['version'])}: ` +
      `one admin API request adding every site. Served = a TLS handshake with SNI whose chain ` +
      `and name verify against that Pebble's root. ` +
      (run.warm
        ? `Warm: each server's ACME account was made (by certifying ${WARM_NAME}) before the burst.\n`
        : 'Cold: each server makes its ACME account during the burst.\n'),
  );
  const results: { gatehouse: SideResult; caddy: SideResult }[] = [];
  for (let round = 1; round <= options.rounds; round += 1) {
    // Alternate who goes first, so that neither always gets the warmer machine.
    if (round % 2 === 1) {
      const gatehouse = await runGatehouse(names, run);
      results.push({ gatehouse, caddy: await runCaddy(names, run) });
    } else {
      const caddy = await runCaddy(names, run);
      results.push({ gatehouse: await runGatehouse(names, run), caddy });
    }
  }
  printRounds(results, options.domains);
  results.forEach(({ gatehouse, caddy }, index) => {
    for (const [name, side] of [
      ['gatehouse', gatehouse],
      ['caddy', caddy],
    ] as const) {
      if (side.problems.length === 0) continue;
      console.log(`\n${name}, round ${index + 1}: its last failures`);
      if (side.served.missing.length > 0) {
        console.log(`not served: ${side.served.missing.join(' ')}`);
      }
      for (const line of side.problems) console.log(`  ${line.slice(0, 600)}`);
    }
  });
  results.forEach(({ gatehouse }, index) => {
    if (gatehouse.planner) printPlanner(gatehouse.planner, index + 1);
    if (gatehouse.breakdown) printBreakdown(gatehouse.breakdown, index + 1);
  });
}

for (const [signal, code] of [
  ['SIGINT', 130],
  ['SIGTERM', 143],
] as const) {
  process.once(signal, () => {
    void Promise.allSettled([...running].map((cleanup) => cleanup())).then(() => {
      process.exit(code);
    });
  });
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : String(error));
  process.exitCode = 1;
});
