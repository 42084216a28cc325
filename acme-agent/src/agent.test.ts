import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { identifierOf } from './agent.js';
import { renewalTime } from './renewal.js';

const DAY = 86_400_000;
const NOW = Date.UTC(2026, 5, 1);

function certificate(names: string[], startDaysAgo: number, lifetimeDays: number) {
  const start = NOW - startDaysAgo * DAY;
  return {
    identifiers: names.map(identifierOf),
    notBefore: new Date(start).toISOString(),
    notAfter: new Date(start + lifetimeDays * DAY).toISOString(),
  };
}

describe('renewal by lifetime, without renewal information', () => {
  it('renews when a third of a 90-day certificate is left', () => {
    const at = renewalTime([certificate(['a.example'], 10, 90)], identifierOf('a.example'), NOW);
    assert.equal(at, NOW - 10 * DAY + 60 * DAY);
  });

  it('renews at half the lifetime for certificates shorter than ten days', () => {
    const at = renewalTime([certificate(['a.example'], 1, 6)], identifierOf('a.example'), NOW);
    assert.equal(at, NOW - DAY + 3 * DAY);
  });

  it('orders now when nothing covers the name, or only an expired certificate does', () => {
    const id = identifierOf('b.example');
    assert.equal(renewalTime([], id, NOW), NOW);
    assert.equal(renewalTime([certificate(['a.example'], 1, 90)], id, NOW), NOW);
    assert.equal(renewalTime([certificate(['b.example'], 100, 90)], id, NOW), NOW);
  });

  it('counts a wildcard for one label below it only, and takes the longest cover', () => {
    const wildcard = certificate(['*.example.com'], 0, 90);
    assert.ok(renewalTime([wildcard], identifierOf('www.example.com'), NOW) > NOW);
    assert.equal(renewalTime([wildcard], identifierOf('a.b.example.com'), NOW), NOW);
    assert.equal(renewalTime([wildcard], identifierOf('example.com'), NOW), NOW);
    const both = [certificate(['c.example'], 80, 90), certificate(['c.example'], 0, 90)];
    assert.equal(renewalTime(both, identifierOf('c.example'), NOW), NOW + 60 * DAY);
  });

  it('names IP addresses as ip identifiers (RFC 8738)', () => {
    assert.deepEqual(identifierOf('192.0.2.1'), { type: 'ip', value: '192.0.2.1' });
    assert.deepEqual(identifierOf('2001:db8::1'), { type: 'ip', value: '2001:db8::1' });
    assert.deepEqual(identifierOf('a.example'), { type: 'dns', value: 'a.example' });
  });
});
