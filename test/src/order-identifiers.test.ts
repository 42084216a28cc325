/**
 * One order for several identifiers (RFC 8555 section 7.4), as the
 * acme-agent's order layer places it: two DNS names and an IP address
 * (RFC 8738) in one newOrder, one authorization each, all answered with
 * tls-alpn-01 by a real worker, finalized with one CSR from a real
 * keyvault, and a chain from a real Pebble that names all three.
 *
 * The test plays the acme-agent (the role-proxy fixture), so the
 * supervisor, keyvault and worker answer it exactly as they answer the
 * real one; the order layer is the acme-agent's own code.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { X509Certificate } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { RequestType } from '@gatehouse/gateway/ipc';
import { Logger } from '@gatehouse/gateway/log';
import { AcmeAccounts } from '../../acme-agent/dist/account.js';
import { issuerStates } from '../../acme-agent/dist/issuers.js';
import { type Ask, obtainCertificate } from '../../acme-agent/dist/order.js';
import { run } from './harness/clients.js';
import { Pebble } from './harness/pebble.js';
import { freePort } from './harness/ports.js';
import { RoleProxy } from './harness/role-proxy.js';
import { fixture, startSupervisor, until, type TestSupervisor } from './harness/supervisor.js';

const IDENTIFIERS = [
  { type: 'dns', value: 'one.multi.example.com' },
  { type: 'dns', value: 'two.multi.example.com' },
  { type: 'ip', value: '127.0.0.1' },
] as const;

describe('one order for several identifiers (real Pebble, keyvault and worker)', () => {
  let supervisor: TestSupervisor | undefined;
  let agent: RoleProxy | undefined;
  let pebble: Pebble | undefined;
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'gatehouse-multi-'));

  before(async () => {
    const httpsPort = await freePort();
    const httpPort = await freePort();
    process.env.ROLE_PROXY_SOCKET = path.join(scratch, 'agent.sock');
    supervisor = await startSupervisor({
      httpsPort,
      httpPort,
      entries: { 'acme-agent': fixture('role-proxy') },
    });
    const running = supervisor;
    await until(() => running.supervisor.health().status === 'ok', 20_000, 'every role up');
    agent = await RoleProxy.connect(path.join(scratch, 'agent.sock'));
    pebble = await Pebble.start({ httpPort, tlsPort: httpsPort });
  });

  after(async () => {
    agent?.close();
    await supervisor?.stop();
    await pebble?.stop();
    delete process.env.ROLE_PROXY_SOCKET;
    fs.rmSync(scratch, { recursive: true, force: true });
  });

  it('validates each identifier and gets one certificate naming all of them', async () => {
    assert.ok(agent && pebble);
    const proxy = agent;
    // The acme-agent's Ask, over the role proxy; an error answer is thrown,
    // as the real channel does.
    const ask = (async (type: RequestType, payload: unknown) => {
      const answer = await proxy.ask(type, payload);
      if (answer.error) throw new Error(`${type}: ${answer.error.code} ${answer.error.message}`);
      return answer.ok;
    }) as Ask;
    const log = new Logger(() => undefined, 'test');
    const [issuer] = issuerStates([
      {
        directoryUrl: pebble.directoryUrl,
        trustPem: fs.readFileSync(pebble.trustFile, 'utf8'),
        maxConcurrentOrders: 8,
        newOrderLimit: { orders: 300, periodSeconds: 10_800 },
      },
    ]);
    assert.ok(issuer);
    const events: { type: string }[] = [];
    const accounts = new AcmeAccounts({
      directoryUrl: pebble.directoryUrl,
      issuer: () => issuer,
      ask,
      emit: (event) => events.push(event),
      log,
    });
    const account = await accounts.ensure();

    const stored = await obtainCertificate(
      {
        api: account.api,
        accountUrl: account.url,
        issuer: pebble.directoryUrl,
        thumbprint: account.thumbprint,
        ask,
        emit: (event) => events.push(event),
        log,
        challengeTypes: ['tls-alpn-01'],
      },
      IDENTIFIERS.map((identifier) => ({ ...identifier })),
    );

    assert.deepEqual(
      events.filter((event) => event.type === 'authorization_valid').length,
      IDENTIFIERS.length,
      `one valid authorization per identifier: ${events.map((event) => event.type).join(', ')}`,
    );
    assert.deepEqual(
      stored.identifiers.map((identifier) => identifier.value).sort(),
      IDENTIFIERS.map((identifier) => identifier.value).sort(),
    );
    assert.equal(stored.directoryUrl, pebble.directoryUrl);

    // The chain, from the keyvault, names all three and verifies against Pebble's root.
    const chain = await ask('keyvault.certificate-chain', { certificateId: stored.certificateId });
    assert.ok(chain);
    const leaf = new X509Certificate(chain.chainPem);
    assert.equal(
      leaf.subjectAltName,
      'DNS:one.multi.example.com, DNS:two.multi.example.com, IP Address:127.0.0.1',
    );
    const chainFile = path.join(scratch, 'chain.pem');
    const rootFile = path.join(scratch, 'root.pem');
    fs.writeFileSync(chainFile, chain.chainPem);
    fs.writeFileSync(rootFile, await pebble.rootPem());
    const verified = await run('openssl', [
      ...['verify', '-CAfile', rootFile, '-untrusted', chainFile, chainFile],
    ]);
    assert.equal(verified.code, 0, verified.stdout + verified.stderr);
  });
});
