/**
 * Certificates that take care of themselves, against a real CA: Pebble
 * validates through Gatehouse's own workers (tls-alpn-01 through the
 * acceptor, http-01 on the plain listener) and the certificate it issues
 * is served by SNI, verified by openssl against Pebble's root.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { run } from './harness/clients.js';
import { GATEHOUSE_BIN, Gatehouse } from './harness/gatehouse.js';
import { Pebble } from './harness/pebble.js';
import { freePort } from './harness/ports.js';

interface Served {
  verified: boolean;
  subject: string;
  output: string;
}

/** What `openssl s_client` gets for `name`, checked against `rootFile`. */
async function served(port: number, name: string, rootFile: string): Promise<Served> {
  const connect = name.includes(':') ? `[${name}]:${port}` : `127.0.0.1:${port}`;
  const result = await run(
    'openssl',
    [
      's_client',
      '-connect',
      connect,
      ...(/^[\d.]+$/.test(name) ? [] : ['-servername', name]),
      '-CAfile',
      rootFile,
      '-verify_hostname',
      name,
      '-showcerts',
    ],
    { input: '', timeoutMs: 10_000 },
  );
  const output = result.stdout + result.stderr;
  return {
    verified: /Verify return code: 0 \(ok\)/.test(output),
    subject: /subject=(.*)\n/.exec(output)?.[1] ?? '',
    output,
  };
}

async function until<T>(what: string, ms: number, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 300));
  }
}

interface Setup {
  pebble: Pebble;
  gatehouse: Gatehouse;
  rootFile: string;
  scratch: string;
}

async function setup(challenge: string, env: Record<string, string> = {}): Promise<Setup> {
  const httpsPort = await freePort();
  const httpPort = await freePort();
  const pebble = await Pebble.start({ httpPort, tlsPort: httpsPort, env });
  let gatehouse: Gatehouse | undefined;
  try {
    gatehouse = await Gatehouse.start({
      httpsPort,
      httpPort,
      workers: 2,
      extraArgs: [
        '--acme-directory',
        pebble.directoryUrl,
        '--acme-trust',
        pebble.trustFile,
        '--acme-email',
        'ops@example.com',
        '--acme-challenge',
        challenge,
      ],
    });
    const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'gatehouse-acme-test-'));
    const rootFile = path.join(scratch, 'pebble-root.pem');
    fs.writeFileSync(rootFile, await pebble.rootPem());
    return { pebble, gatehouse, rootFile, scratch };
  } catch (error) {
    await gatehouse?.cleanup();
    await pebble.stop();
    throw error;
  }
}

async function teardown(setup: Setup | undefined): Promise<void> {
  if (!setup) return;
  await setup.gatehouse.cleanup();
  await setup.pebble.stop();
  fs.rmSync(setup.scratch, { recursive: true, force: true });
}

async function addDomain(gatehouse: Gatehouse, name: string): Promise<void> {
  const added = await run(GATEHOUSE_BIN, ['domains', 'add', name, '--data', gatehouse.dataDir]);
  assert.equal(added.code, 0, added.stderr);
}

async function certified(setup: Setup, name: string): Promise<Served> {
  try {
    return await until(`a certificate for ${name}`, 30_000, async () => {
      const result = await served(setup.gatehouse.httpsPort, name, setup.rootFile);
      return result.verified ? result : undefined;
    });
  } catch (error) {
    const last = await served(setup.gatehouse.httpsPort, name, setup.rootFile);
    throw new Error(
      `${(error as Error).message}\nlast s_client:\n${last.output}\ngatehouse:\n` +
        setup.gatehouse.output.slice(-40).join('\n'),
    );
  }
}

describe('certificates from a real CA (Pebble), tls-alpn-01', () => {
  let env: Setup | undefined;

  before(async () => {
    env = await setup('tls-alpn-01');
  });
  after(() => teardown(env));

  it('serves a domain added at run time with a chain that verifies against Pebble', async () => {
    assert.ok(env);
    const name = 'alpn.example.com';
    const before = await served(env.gatehouse.httpsPort, name, env.rootFile);
    assert.equal(before.verified, false, 'no certificate before the domain is added');

    await addDomain(env.gatehouse, name);
    const after = await certified(env, name);
    assert.match(after.output, /issuer=CN ?= ?Pebble Intermediate CA/);
  });

  it('certifies an IP address identifier (RFC 8738)', async () => {
    assert.ok(env);
    await addDomain(env.gatehouse, '127.0.0.1');
    const result = await certified(env, '127.0.0.1');
    assert.match(result.output, /Verify return code: 0/);
  });

  it('reports each step as an event, and the workers keep serving other names', async () => {
    assert.ok(env);
    const response = await fetchEvents(env.gatehouse);
    const types = response.map((event) => event.type);
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
  let env: Setup | undefined;

  before(async () => {
    env = await setup('http-01', { PEBBLE_WFE_NONCEREJECT: '50' });
  });
  after(() => teardown(env));

  it('answers http-01 from every worker and serves the certificate, with half the nonces refused', async () => {
    assert.ok(env);
    const name = 'http.example.com';
    await addDomain(env.gatehouse, name);
    await certified(env, name);
    const types = (await fetchEvents(env.gatehouse)).map((event) => event.type);
    assert.ok(types.includes('certificate_obtained'), types.join(', '));
  });
});

async function fetchEvents(gatehouse: Gatehouse): Promise<{ type: string }[]> {
  const { controlRequest } = await import('@gatehouse/gateway/control');
  const response = await controlRequest(gatehouse.socketPath, 'GET', '/v1/events?limit=1000');
  assert.equal(response.status, 200, JSON.stringify(response.body));
  const events = (response.body as { events: { type: string; payload?: { type?: string } }[] })
    .events;
  return events.map((event) => ({ type: event.payload?.type ?? event.type }));
}
