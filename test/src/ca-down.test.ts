/**
 * A CA that is down: with Pebble stopped, a new domain fails with events
 * that name the cause (connection refused) and retry on the backoff
 * schedule (shortened through GATEHOUSE_ACME_RETRY_SCHEDULE); Gatehouse
 * stays healthy. When a new Pebble comes up on the same ports, knowing no
 * account of the one before, the certificate is obtained with no operator
 * action.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { after, before, describe, it } from 'node:test';
import {
  type WithPebble,
  acmeEvents,
  addDomain,
  certified,
  count,
  startWithPebble,
  until,
  vaultCertificates,
} from './harness/acme-checks.js';
import type { Gatehouse } from './harness/gatehouse.js';
import type { Pebble } from './harness/pebble.js';

/** Seconds; the last step repeats. */
const SCHEDULE = [2, 4, 6];

describe('a CA that is down, and comes back', () => {
  let pebble: Pebble | undefined;
  let gatehouse: Gatehouse | undefined;
  let setup: WithPebble | undefined;
  let rootFile = '';

  before(async () => {
    setup = await startWithPebble({
      challenges: 'tls-alpn-01',
      workers: 1,
      env: { GATEHOUSE_ACME_RETRY_SCHEDULE: SCHEDULE.join(',') },
    });
    ({ pebble, gatehouse, rootFile } = setup);
  });

  after(() => setup?.stop());

  it('reports connection refused on the retry schedule, then certifies once the CA is back', async () => {
    assert.ok(gatehouse && pebble);
    const ga = gatehouse;
    // An account at the first Pebble, which the next one will not know.
    await addDomain(ga, 'before.down.example');
    await certified(ga, 'before.down.example', rootFile, 60_000);

    await pebble.stopCa();
    const name = 'during.down.example';
    await addDomain(ga, name);
    const failures = await until('three certificate_failed events', 60_000, async () => {
      const events = (await acmeEvents(ga, name)).filter(
        (event) => event.type === 'certificate_failed',
      );
      return events.length >= 3 ? events : undefined;
    });
    const times = await listTimes(
      ga,
      failures.map((event) => event.id),
    );
    failures.slice(0, 3).forEach((event, index) => {
      const { problem, retryAt } = event.payload;
      assert.equal(problem?.type, 'gatehouse:network', JSON.stringify(problem));
      assert.match(problem.detail ?? '', /ECONNREFUSED \(connection refused: the CA is down/);
      const base = (SCHEDULE[index] ?? 0) * 1000;
      const delay = Date.parse(retryAt ?? '') - (times.get(event.id) ?? 0);
      // Up to 20% jitter on top of each step; the event is stored a moment after retryAt is set.
      assert.ok(
        delay >= base - 500 && delay <= base * 1.2 + 500,
        `failure ${index + 1} retries in ${delay} ms, expected ${base} ms + up to 20%`,
      );
    });
    const health = await ga.health();
    assert.equal(health.status, 200, JSON.stringify(health.body));

    await pebble.restartCa();
    fs.writeFileSync(rootFile, await pebble.rootPem());
    await certified(ga, name, rootFile, 90_000);
    const events = await acmeEvents(ga, name);
    // The new Pebble did not know the account: the agent made a new one by itself.
    assert.ok(
      events.some((event) => event.payload.problem?.type.endsWith(':accountDoesNotExist')),
      JSON.stringify(events.map((event) => [event.type, event.payload.problem?.type])),
    );
    assert.equal(count(events, 'certificate_obtained'), 1);
    assert.equal((await vaultCertificates(ga, name)).length, 1);
  });
});

/** When the supervisor stored each event (epoch ms; the API gives ISO 8601), by id. */
async function listTimes(gatehouse: Gatehouse, ids: number[]): Promise<Map<number, number>> {
  const { controlRequest } = await import('@gatehouse/gateway/control');
  const response = await controlRequest(gatehouse.socketPath, 'GET', '/v1/events?limit=1000');
  const events = (response.body as { events: { id: number; time: string }[] }).events;
  return new Map(
    events.filter((event) => ids.includes(event.id)).map((e) => [e.id, Date.parse(e.time)]),
  );
}
