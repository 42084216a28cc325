/**
 * Certificates that take care of themselves, against a real CA: Pebble
 * validates through Gatehouse's own workers (tls-alpn-01 through the
 * acceptor, http-01 on the plain listener) and the certificate it issues
 * is served by SNI, verified by openssl against Pebble's root.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  type WithPebble,
  acmeEvents,
  addDomain,
  certified,
  served,
  startWithPebble,
} from './harness/acme-checks.js';
import { run } from './harness/clients.js';

describe('certificates from a real CA (Pebble), tls-alpn-01', () => {
  let env: WithPebble | undefined;

  before(async () => {
    env = await startWithPebble({
      challenges: 'tls-alpn-01',
      extraArgs: ['--acme-email', 'ops@example.com'],
    });
  });
  after(() => env?.stop());

  it('serves a domain added at run time with a chain that verifies against Pebble', async () => {
    assert.ok(env);
    const name = 'alpn.example.com';
    const before = await served(env.gatehouse.httpsPort, name, env.rootFile);
    assert.equal(before.verified, false, 'no certificate before the domain is added');

    await addDomain(env.gatehouse, name);
    const after = await certified(env.gatehouse, name, env.rootFile, 30_000);
    assert.match(after.output, /issuer=CN ?= ?Pebble Intermediate CA/);
  });

  it('certifies an IP address identifier (RFC 8738)', async () => {
    assert.ok(env);
    await addDomain(env.gatehouse, '127.0.0.1');
    const result = await certified(env.gatehouse, '127.0.0.1', env.rootFile, 30_000);
    assert.match(result.output, /Verify return code: 0/);
  });

  it('reports each step as an event, and the workers keep serving other names', async () => {
    assert.ok(env);
    const types = (await acmeEvents(env.gatehouse)).map((event) => event.type);
    for (const type of [
      'order_created',
      'challenge_ready',
      'authorization_valid',
      'certificate_obtained',
    ]) {
      assert.ok(types.includes(type), `event ${type} in ${types.join(', ')}`);
    }
    const localhost = await run('curl', [
      '-sk',
      '--max-time',
      '5',
      `https://localhost:${env.gatehouse.httpsPort}/`,
    ]);
    assert.equal(localhost.code, 0, localhost.stderr);
  });
});

describe('certificates from a real CA (Pebble), http-01 and rejected nonces', () => {
  let env: WithPebble | undefined;

  before(async () => {
    env = await startWithPebble({
      challenges: 'http-01',
      pebbleEnv: { PEBBLE_WFE_NONCEREJECT: '50' },
    });
  });
  after(() => env?.stop());

  it('answers http-01 from every worker and serves the certificate, with half the nonces refused', async () => {
    assert.ok(env);
    const name = 'http.example.com';
    await addDomain(env.gatehouse, name);
    await certified(env.gatehouse, name, env.rootFile, 30_000);
    const types = (await acmeEvents(env.gatehouse, name)).map((event) => event.type);
    assert.ok(types.includes('certificate_obtained'), types.join(', '));
  });
});
