/**
 * A CA that answers wrong (a fake one on loopback, harness/hostile-ca.ts):
 * malformed JSON, a body beyond the agent's limit, the wrong content type,
 * a redirect to itself, and an answer that trickles on past the timeout.
 * Each ends in a certificate_failed event whose problem says what the CA
 * did wrong; the acme-agent keeps running (no restart), Gatehouse keeps
 * serving, and /v1/health stays 200. A CA's rateLimited pause holds, also
 * for an acme-agent started again.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { acmeEvents, addDomain, until } from './harness/acme-checks.js';
import { run } from './harness/clients.js';
import { Gatehouse } from './harness/gatehouse.js';
import { HostileCa, type HostileFault, RATE_LIMIT_SECONDS } from './harness/hostile-ca.js';

const CASES: { fault: HostileFault; type: string; detail: RegExp; waitMs: number }[] = [
  {
    fault: 'malformed_json',
    type: 'gatehouse:malformed_json',
    detail: /\/order answered malformed JSON/,
    waitMs: 30_000,
  },
  {
    fault: 'oversized_body',
    type: 'gatehouse:body_too_large',
    detail: /POST https:\/\/127\.0\.0\.1:\d+\/order answered more than 1048576 bytes/,
    waitMs: 30_000,
  },
  {
    fault: 'wrong_content_type',
    type: 'gatehouse:wrong_content_type',
    detail: /\/order answered text\/html, not application\/json/,
    waitMs: 30_000,
  },
  {
    fault: 'redirect_loop',
    type: 'gatehouse:redirect',
    detail:
      /\/order redirected \(HTTP 302\) to https:\/\/127\.0\.0\.1:\d+\/order; ACME resources are not redirected/,
    waitMs: 30_000,
  },
  {
    // The agent allows 30 s per answer (acme/http.ts), trickled or not.
    fault: 'slow_body',
    type: 'gatehouse:timeout',
    detail: /POST https:\/\/127\.0\.0\.1:\d+\/order took more than 30000 ms/,
    waitMs: 75_000,
  },
];

describe('a hostile CA', () => {
  let ca: HostileCa | undefined;
  let gatehouse: Gatehouse | undefined;
  let scratch: string | undefined;
  let agentPid: number | null = null;

  before(async () => {
    scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'gatehouse-hostile-test-'));
    ca = await HostileCa.start(scratch);
    gatehouse = await Gatehouse.start({
      workers: 1,
      // Slower than each case, so that a name's retries do not pile up.
      env: { GATEHOUSE_ACME_RETRY_SCHEDULE: '60' },
      extraArgs: ['--acme-directory', ca.directoryUrl, '--acme-trust', ca.trustFile],
    });
    agentPid = (await gatehouse.processes()).find((row) => row.role === 'acme-agent')?.pid ?? null;
  });

  after(async () => {
    await gatehouse?.cleanup();
    await ca?.stop();
    if (scratch) fs.rmSync(scratch, { recursive: true, force: true });
  });

  for (const { fault, type, detail, waitMs } of CASES) {
    it(`reports ${fault} at newOrder as ${type}, and keeps running`, async () => {
      assert.ok(ca && gatehouse);
      const ga = gatehouse;
      ca.fault = fault;
      const name = `${fault.replaceAll('_', '-')}.hostile.example`;
      await addDomain(ga, name);

      const failed = await until(`certificate_failed for ${name}`, waitMs, async () =>
        (await acmeEvents(ga, name)).find((event) => event.type === 'certificate_failed'),
      ).catch((error: unknown) => {
        throw new Error(`${String(error)}\nCA saw: ${ca?.seen.slice(-10).join(', ')}`);
      });
      const { problem, retryAt } = failed.payload;
      assert.equal(problem?.type, type, JSON.stringify(problem));
      assert.match(problem.detail ?? '', detail);
      assert.ok(Date.parse(retryAt ?? '') > Date.now(), `a retry is planned: ${retryAt}`);

      // The agent is the same process, Gatehouse is healthy and serves.
      const agent = (await ga.processes()).find((row) => row.role === 'acme-agent');
      assert.equal(agent?.pid, agentPid, JSON.stringify(agent));
      assert.equal(agent.restarts, 0);
      const health = await ga.health();
      assert.equal(health.status, 200, JSON.stringify(health.body));
      const page = await run('curl', [
        ...['-sk', '--max-time', '5', '-o', '/dev/null', '-w', '%{http_code}'],
        `https://localhost:${ga.httpsPort}/`,
      ]);
      assert.equal(page.code, 0, page.stderr);
      assert.equal(page.stdout, '200');
    });
  }
});

describe('a CA that answers rateLimited with Retry-After', () => {
  let ca: HostileCa | undefined;
  let gatehouse: Gatehouse | undefined;
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'gatehouse-rate-limited-test-'));

  before(async () => {
    ca = await HostileCa.start(scratch);
    ca.fault = 'rate_limited';
    gatehouse = await Gatehouse.start({
      workers: 1,
      env: { GATEHOUSE_ACME_RETRY_SCHEDULE: '1' },
      extraArgs: ['--acme-directory', ca.directoryUrl, '--acme-trust', ca.trustFile],
    });
  });

  after(async () => {
    await gatehouse?.cleanup();
    await ca?.stop();
    fs.rmSync(scratch, { recursive: true, force: true });
  });

  it('orders nothing there until then, also after the acme-agent is killed', async () => {
    assert.ok(ca && gatehouse);
    const ga = gatehouse;
    const hostile = ca;
    const name = 'limited.hostile.example';
    await addDomain(ga, name);
    const failed = await until('a rateLimited certificate_failed', 30_000, async () =>
      (await acmeEvents(ga, name)).find((event) => event.type === 'certificate_failed'),
    );
    assert.match(failed.payload.problem?.type ?? '', /:rateLimited$/);
    const retryAt = Date.parse(failed.payload.retryAt ?? '');
    assert.ok(retryAt > Date.now() + (RATE_LIMIT_SECONDS - 60) * 1000, failed.payload.retryAt);

    const agent = (await ga.processes()).find((row) => row.role === 'acme-agent');
    assert.ok(agent?.pid);
    const ordersBefore = hostile.seen.filter((line) => line === 'POST /order').length;
    process.kill(agent.pid, 'SIGKILL');

    // The new agent queues the name behind the CA's pause instead of ordering it.
    const queued = await until('order_queued from the new acme-agent', 30_000, async () =>
      (await acmeEvents(ga, name)).find((event) => event.type === 'order_queued'),
    );
    assert.equal(queued.payload.waitReason, 'ca_rate_limited', JSON.stringify(queued.payload));
    const orderAt = Date.parse(queued.payload.orderAt ?? '');
    assert.ok(Math.abs(orderAt - retryAt) < 60_000, `${queued.payload.orderAt} ~ retryAt`);
    const replaced = (await ga.processes()).find((row) => row.role === 'acme-agent');
    assert.ok(replaced?.pid && replaced.pid !== agent.pid, JSON.stringify(replaced));
    assert.equal(
      hostile.seen.filter((line) => line === 'POST /order').length,
      ordersBefore,
      'no newOrder after the restart',
    );
  });
});
