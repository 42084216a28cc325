import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AcmeProblemError, describeProblem, parseProblem, parseRetryAfter } from './problem.js';
import { parseLinks } from './wire.js';

describe('problem documents', () => {
  it('keeps type, detail, status and subproblems with their identifiers', () => {
    const problem = parseProblem(
      {
        type: 'urn:ietf:params:acme:error:rejectedIdentifier',
        detail: 'Some names were refused',
        status: 400,
        subproblems: [
          {
            type: 'urn:ietf:params:acme:error:caa',
            detail: 'CAA forbids',
            identifier: { type: 'dns', value: 'a.example' },
          },
          { type: 'urn:ietf:params:acme:error:dns', identifier: { type: 'email', value: 'x' } },
        ],
      },
      400,
    );
    assert.deepEqual(problem, {
      type: 'urn:ietf:params:acme:error:rejectedIdentifier',
      detail: 'Some names were refused',
      status: 400,
      subproblems: [
        {
          type: 'urn:ietf:params:acme:error:caa',
          detail: 'CAA forbids',
          identifier: { type: 'dns', value: 'a.example' },
        },
        { type: 'urn:ietf:params:acme:error:dns' },
      ],
    });
    assert.equal(
      describeProblem(problem),
      'rejectedIdentifier (HTTP 400): Some names were refused [a.example: caa: CAA forbids; ?: dns]',
    );
  });

  it('turns anything that is not a problem document into about:blank with the status', () => {
    for (const junk of [undefined, 'text', [1, 2], { type: 7 }, { detail: 'x'.repeat(5000) }]) {
      assert.deepEqual(parseProblem(junk, 502), {
        type: 'about:blank',
        status: 502,
        detail: 'HTTP 502',
      });
    }
  });

  it('tells transient problems from final ones', () => {
    const error = (type: string, status: number) =>
      new AcmeProblemError({ type: `urn:ietf:params:acme:error:${type}`, status }, undefined);
    assert.equal(error('rateLimited', 429).transient, true);
    assert.equal(error('serverInternal', 500).transient, true);
    assert.equal(error('unauthorized', 403).transient, false);
    assert.equal(error('unauthorized', 403).kind, 'unauthorized');
  });

  it('reads Retry-After as seconds or as an HTTP date, and ignores junk', () => {
    const now = Date.UTC(2026, 0, 1);
    assert.equal(parseRetryAfter('120', now), now + 120_000);
    assert.equal(parseRetryAfter('Thu, 01 Jan 2026 00:01:00 GMT', now), now + 60_000);
    assert.equal(parseRetryAfter('Wed, 31 Dec 2025 00:00:00 GMT', now), now);
    assert.equal(parseRetryAfter('soon', now), undefined);
    assert.equal(parseRetryAfter('-5', now), undefined);
    assert.equal(parseRetryAfter(undefined, now), undefined);
  });

  it('reads Link headers as RFC 8555 uses them', () => {
    assert.deepEqual(
      parseLinks([
        '<https://ca.test/cert/1/1>;rel="alternate"',
        '<https://ca.test/dir>; rel="index", <https://ca.test/issuer>;rel=up',
      ]),
      [
        { url: 'https://ca.test/cert/1/1', rel: 'alternate' },
        { url: 'https://ca.test/dir', rel: 'index' },
        { url: 'https://ca.test/issuer', rel: 'up' },
      ],
    );
    assert.deepEqual(parseLinks(undefined), []);
  });
});
