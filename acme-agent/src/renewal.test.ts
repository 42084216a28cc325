/**
 * The renewal planner: the random moment in the CA's window, Retry-After
 * clamping, and the fall back to the lifetime rule when the CA's renewal
 * information is missing or unusable. The CA here is an HttpClient that
 * answers a directory and renewalInfo from a table (the real Pebble 2.6 is
 * driven in test/src/renewal.test.ts).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Logger } from '@gatehouse/gateway/log';
import type { HttpClient, HttpResponse } from './acme/http.js';
import { AcmeProblemError } from './acme/problem.js';
import {
  MAX_RETRY_AFTER_MS,
  MIN_RETRY_AFTER_MS,
  RenewalPlanner,
  chooseRenewalTime,
  clampRetryAfter,
  lifetimeRenewalTime,
  refusesReplaces,
} from './renewal.js';

const NOW = Date.parse('2026-01-10T00:00:00Z');
const DAY = 86_400_000;
const DIRECTORY = 'https://ca.test/dir';
const NAME = { type: 'dns' as const, value: 'a.example' };
const ID = 'aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE';

const certificate = {
  identifiers: [{ type: 'dns' as const, value: 'a.example' }],
  notBefore: new Date(NOW - 10 * DAY).toISOString(),
  notAfter: new Date(NOW + 80 * DAY).toISOString(),
  ariCertId: ID,
};

const warnings: string[] = [];
const log = {
  warn: (message: string) => warnings.push(message),
  info: () => undefined,
  debug: () => undefined,
  error: () => undefined,
} as unknown as Logger;

function json(body: unknown, headers: Record<string, string> = {}, status = 200): HttpResponse {
  return {
    status,
    headers: { 'content-type': 'application/json', ...headers },
    body: Buffer.from(typeof body === 'string' ? body : JSON.stringify(body)),
  };
}

/** A CA with `renewalInfo` answering `answer`; records the URLs asked. */
function ca(
  answer: () => HttpResponse,
  withRenewalInfo = true,
): { http: HttpClient; asked: string[] } {
  const asked: string[] = [];
  const http: HttpClient = (request) => {
    asked.push(`${request.method} ${request.url}`);
    if (request.url === DIRECTORY) {
      return Promise.resolve(
        json({
          newNonce: 'https://ca.test/nonce',
          newAccount: 'https://ca.test/account',
          newOrder: 'https://ca.test/order',
          ...(withRenewalInfo ? { renewalInfo: 'https://ca.test/ari/' } : {}),
        }),
      );
    }
    return Promise.resolve(answer());
  };
  return { http, asked };
}

const window = (start: number, end: number, extra: object = {}): object => ({
  suggestedWindow: { start: new Date(start).toISOString(), end: new Date(end).toISOString() },
  ...extra,
});

describe('chooseRenewalTime', () => {
  const life = { notBefore: 0, notAfter: 100_000 };

  it('spreads uniformly over the window', () => {
    assert.equal(
      chooseRenewalTime(1_000, 2_000, life, () => 0),
      1_000,
    );
    assert.equal(
      chooseRenewalTime(1_000, 2_000, life, () => 0.5),
      1_500,
    );
    assert.equal(
      chooseRenewalTime(1_000, 2_000, life, () => 0.999999),
      1_999,
    );
  });

  it("cuts a wide window to the certificate's life less its last tenth", () => {
    assert.equal(
      chooseRenewalTime(-50_000, 500_000, life, () => 0),
      0,
    );
    assert.equal(
      chooseRenewalTime(-50_000, 500_000, life, () => 0.5),
      45_000,
    );
    assert.equal(
      chooseRenewalTime(95_000, 500_000, life, () => 0.5),
      90_000,
    );
  });

  it('renews at once when the window ended before the certificate began', () => {
    assert.equal(
      chooseRenewalTime(-9_000, -5_000, life, () => 0.5),
      -5_000,
    );
  });
});

describe('clampRetryAfter', () => {
  it('keeps Retry-After between a minute and a day, six hours without one', () => {
    assert.equal(clampRetryAfter(NOW + 1_000, NOW), MIN_RETRY_AFTER_MS);
    assert.equal(clampRetryAfter(NOW + 3_600_000, NOW), 3_600_000);
    assert.equal(clampRetryAfter(NOW + 30 * DAY, NOW), MAX_RETRY_AFTER_MS);
    assert.equal(clampRetryAfter(undefined, NOW), 6 * 3_600_000);
  });
});

describe('RenewalPlanner', () => {
  it('renews inside the suggested window, names the certificate, keeps explanationURL', async () => {
    const { http, asked } = ca(() =>
      json(window(NOW + DAY, NOW + 3 * DAY, { explanationURL: 'https://ca.test/why' }), {
        'retry-after': '7200',
      }),
    );
    const planner = new RenewalPlanner({ directoryUrl: DIRECTORY, http, log, random: () => 0.25 });
    const plan = await planner.plan([certificate], NAME, NOW);
    assert.equal(plan.renewAt, NOW + DAY + DAY / 2);
    assert.equal(plan.replaces, ID);
    assert.equal(plan.explanationUrl, 'https://ca.test/why');
    assert.deepEqual(plan.window, {
      start: new Date(NOW + DAY).toISOString(),
      end: new Date(NOW + 3 * DAY).toISOString(),
    });
    assert.ok(plan.recheckAt !== undefined && Math.abs(plan.recheckAt - (NOW + 7_200_000)) < 2_000);
    assert.ok(asked.includes(`GET https://ca.test/ari/${ID}`), asked.join('\n'));

    // Before Retry-After has passed, the CA is not asked again and the moment stays.
    const again = await planner.plan([certificate], NAME, NOW + 60_000);
    assert.equal(again.renewAt, plan.renewAt);
    assert.equal(asked.filter((line) => line.includes('/ari/')).length, 1);
  });

  it('renews at once when the window has passed', async () => {
    const { http } = ca(() => json(window(NOW - 2 * DAY, NOW - DAY)));
    const planner = new RenewalPlanner({ directoryUrl: DIRECTORY, http, log });
    const plan = await planner.plan([certificate], NAME, NOW);
    assert.ok(plan.renewAt <= NOW);
    assert.equal(plan.replaces, ID);
  });

  const lifetime = lifetimeRenewalTime(certificate);
  const fallbacks: [string, () => HttpResponse][] = [
    ['HTTP 500', () => json({ type: 'urn:ietf:params:acme:error:serverInternal' }, {}, 500)],
    ['malformed JSON', () => json('{"suggestedWindow":')],
    ['start after end', () => json(window(NOW + 3 * DAY, NOW + DAY))],
    ['start equal to end', () => json(window(NOW + DAY, NOW + DAY))],
    ['no suggestedWindow', () => json({ explanationURL: 'https://ca.test/why' })],
    ['a date that is not one', () => json({ suggestedWindow: { start: 'soon', end: 'later' } })],
  ];
  for (const [what, answer] of fallbacks) {
    it(`falls back to the lifetime rule on ${what}`, async () => {
      const { http } = ca(answer);
      const planner = new RenewalPlanner({ directoryUrl: DIRECTORY, http, log });
      const plan = await planner.plan([certificate], NAME, NOW);
      assert.deepEqual(plan, { renewAt: lifetime });
    });
  }

  it('falls back without renewalInfo in the directory, or without a certificate id', async () => {
    const { http, asked } = ca(() => json(window(NOW, NOW + DAY)), false);
    const planner = new RenewalPlanner({ directoryUrl: DIRECTORY, http, log });
    assert.deepEqual(await planner.plan([certificate], NAME, NOW), {
      renewAt: lifetime,
    });
    const noId = { ...certificate, ariCertId: null };
    assert.deepEqual(await planner.plan([noId], NAME, NOW), {
      renewAt: lifetime,
    });
    assert.equal(asked.filter((line) => line.includes('/ari/')).length, 0);
  });

  it('renews at once when no certificate covers the name', async () => {
    const { http } = ca(() => json(window(NOW, NOW + DAY)));
    const planner = new RenewalPlanner({ directoryUrl: DIRECTORY, http, log });
    assert.deepEqual(await planner.plan([certificate], { type: 'dns', value: 'b.example' }, NOW), {
      renewAt: NOW,
    });
  });
});

describe('refusesReplaces', () => {
  const problem = (type: string, status: number, detail?: string): AcmeProblemError =>
    new AcmeProblemError({ type: `urn:ietf:params:acme:error:${type}`, status, detail }, undefined);

  it('orders again without replaces on alreadyReplaced, 403, or malformed naming it', () => {
    assert.ok(refusesReplaces(problem('alreadyReplaced', 409)));
    assert.ok(refusesReplaces(problem('unauthorized', 403)));
    assert.ok(refusesReplaces(problem('malformed', 400, 'cannot indicate an order replaces')));
  });

  it('does not for other problems', () => {
    assert.ok(!refusesReplaces(problem('malformed', 400, 'bad identifiers')));
    assert.ok(!refusesReplaces(problem('rateLimited', 429)));
    assert.ok(!refusesReplaces(new Error('replaces')));
  });
});
