/**
 * Renewal through ACME Renewal Information (RFC 9773) against a real CA:
 * Pebble 2.6 issues one-minute certificates and suggests a renewal window;
 * a running Gatehouse renews on its own inside it, naming the old
 * certificate in the new order's `replaces` (as Pebble's order resource
 * echoes it), and switches to the new certificate while a client opening
 * a new TLS connection per HTTPS request sees no failure. With several
 * CAs, the window comes from the CA that issued the certificate.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { TLSSocket } from 'node:tls';
import { after, before, describe, it } from 'node:test';
import { controlRequest } from '@gatehouse/gateway/control';
import { run } from './harness/clients.js';
import { GATEHOUSE_BIN, Gatehouse } from './harness/gatehouse.js';
import { Pebble } from './harness/pebble.js';
import { freePort } from './harness/ports.js';

const NAME = 'renew.example.com';
const VALIDITY_SECONDS = 60;
/** The client loop's bounds: requests, and time. */
const MAX_REQUESTS = 4_000;
const MAX_LOOP_MS = 120_000;

interface StoredEvent {
  id: number;
  type: string;
  payload: Record<string, unknown>;
}

interface CertificateRow {
  serial: string;
  ariCertId: string | null;
  identifiers: { value: string }[];
  directoryUrl: string | null;
}

/** One HTTPS request on a new TLS connection; resolves with the served leaf's serial. */
function request(port: number, ca: string): Promise<{ status: number; serial: string }> {
  return new Promise((resolve, reject) => {
    const req = https.request(
      {
        host: '127.0.0.1',
        port,
        path: '/',
        servername: NAME,
        headers: { host: NAME },
        ca,
        agent: false,
        timeout: 5_000,
      },
      (response) => {
        const socket = response.socket;
        const serial = socket instanceof TLSSocket ? socket.getPeerCertificate().serialNumber : '';
        response.resume();
        response.on('end', () => {
          resolve({ status: response.statusCode ?? 0, serial: serial.toLowerCase() });
        });
        response.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error('request timed out after 5 s')));
    req.on('error', reject);
    req.end();
  });
}

async function events(gatehouse: Gatehouse): Promise<StoredEvent[]> {
  const response = await controlRequest(gatehouse.socketPath, 'GET', '/v1/events?limit=1000');
  assert.equal(response.status, 200, JSON.stringify(response.body));
  return (response.body as { events: StoredEvent[] }).events;
}

async function certificates(gatehouse: Gatehouse): Promise<CertificateRow[]> {
  const response = await controlRequest(gatehouse.socketPath, 'GET', '/v1/certificates');
  assert.equal(response.status, 200, JSON.stringify(response.body));
  return (response.body as { certificates: CertificateRow[] }).certificates;
}

const stripZeros = (hex: string): string => hex.toLowerCase().replace(/^(00)+(?=.)/, '');

describe('renewal through ACME Renewal Information (Pebble 2.6)', () => {
  let pebble: Pebble | undefined;
  let gatehouse: Gatehouse | undefined;
  let root = '';

  before(async () => {
    const httpsPort = await freePort();
    const httpPort = await freePort();
    pebble = await Pebble.start({
      httpPort,
      tlsPort: httpsPort,
      version: '2.6',
      certificateValiditySeconds: VALIDITY_SECONDS,
    });
    gatehouse = await Gatehouse.start({
      httpsPort,
      httpPort,
      workers: 2,
      extraArgs: [
        ...['--acme-directory', pebble.directoryUrl, '--acme-trust', pebble.trustFile],
        ...['--acme-challenge', 'tls-alpn-01'],
      ],
    });
    root = await pebble.rootPem();
  });
  after(async () => {
    await gatehouse?.cleanup();
    await pebble?.stop();
  });

  it('renews inside the CA window with replaces, and the switch fails no request', async () => {
    assert.ok(pebble && gatehouse);
    const directory = await pebble.request(pebble.directoryUrl);
    assert.match(directory.body, /"renewalInfo"/, 'Pebble 2.6 offers renewalInfo');

    const added = await run(GATEHOUSE_BIN, ['domains', 'add', NAME, '--data', gatehouse.dataDir]);
    assert.equal(added.code, 0, added.stderr);

    // The first certificate: wait until it is served.
    let first = '';
    const firstDeadline = Date.now() + 30_000;
    while (!first && Date.now() < firstDeadline) {
      first = await request(gatehouse.httpsPort, root).then(
        (answer) => answer.serial,
        () => '',
      );
      if (!first) await new Promise((resolve) => setTimeout(resolve, 300));
    }
    assert.ok(
      first,
      `no certificate from Pebble within 30 s\n${gatehouse.output.slice(-30).join('\n')}`,
    );

    // A new TLS connection and request after another, through the switch.
    const serials = new Set([first]);
    const failures: string[] = [];
    let requests = 0;
    let afterSwitch = 0;
    const loopEnd = Date.now() + MAX_LOOP_MS;
    while (requests < MAX_REQUESTS && Date.now() < loopEnd && afterSwitch < 50) {
      requests += 1;
      try {
        const answer = await request(gatehouse.httpsPort, root);
        if (answer.status !== 200) failures.push(`HTTP ${answer.status}`);
        serials.add(answer.serial);
        if (serials.size > 1) afterSwitch += 1;
      } catch (error) {
        failures.push((error as Error).message);
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    const tail = `\n${gatehouse.output.slice(-40).join('\n')}`;
    assert.ok(
      serials.size > 1,
      `no renewal within ${MAX_LOOP_MS} ms (${requests} requests)${tail}`,
    );
    assert.deepEqual(failures, [], `${failures.length} of ${requests} requests failed`);

    // The renewing order named the first certificate, as Pebble recorded it.
    const stored = await certificates(gatehouse);
    const firstRow = stored.find((row) => stripZeros(row.serial) === stripZeros(first));
    assert.ok(firstRow?.ariCertId, `the first certificate's ARI id in ${JSON.stringify(stored)}`);
    const all = await events(gatehouse);
    const orders = all.filter((event) => event.type === 'order_created');
    assert.ok(
      orders.some((event) => event.payload.replaces === firstRow.ariCertId),
      `an order_created replacing ${firstRow.ariCertId} in ${JSON.stringify(orders)}`,
    );

    // renewal_scheduled carries Pebble's window: two days around two thirds of the life.
    const scheduled = all.filter(
      (event) => event.type === 'renewal_scheduled' && event.payload.windowStart !== undefined,
    );
    assert.ok(scheduled.length > 0, JSON.stringify(all.map((event) => event.type)));
    for (const event of scheduled) {
      const start = Date.parse(String(event.payload.windowStart));
      const end = Date.parse(String(event.payload.windowEnd));
      const renewAt = Date.parse(String(event.payload.renewAt));
      assert.ok(start < end, JSON.stringify(event));
      assert.equal(
        end - start,
        2 * 86_400_000,
        `Pebble's window is two days: ${JSON.stringify(event)}`,
      );
      assert.ok(renewAt >= start && renewAt <= end, JSON.stringify(event));
    }
  });
});

describe('renewal information from the CA that issued the certificate (Pebble 2.6)', () => {
  let pebble: Pebble | undefined;
  let gatehouse: Gatehouse | undefined;
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'gatehouse-renewal-issuer-'));

  before(async () => {
    const httpsPort = await freePort();
    const httpPort = await freePort();
    pebble = await Pebble.start({ httpPort, tlsPort: httpsPort, version: '2.6' });
    // The first CA cannot be reached: every order, renewals included, starts
    // there and falls through to Pebble, which issues.
    const issuers = path.join(scratch, 'issuers.json');
    fs.writeFileSync(
      issuers,
      JSON.stringify({
        issuers: [
          { directory: `https://127.0.0.1:${await freePort()}/dir` },
          { directory: pebble.directoryUrl, trust: pebble.trustFile },
        ],
      }),
    );
    gatehouse = await Gatehouse.start({
      httpsPort,
      httpPort,
      workers: 1,
      extraArgs: ['--acme-issuers', issuers, '--acme-challenge', 'tls-alpn-01'],
    });
  });
  after(async () => {
    await gatehouse?.cleanup();
    await pebble?.stop();
    fs.rmSync(scratch, { recursive: true, force: true });
  });

  it("plans the renewal with the issuing CA's window, not the first CA's", async () => {
    assert.ok(pebble && gatehouse);
    const ga = gatehouse;
    const name = 'issuer.renew.example.com';
    const added = await run(GATEHOUSE_BIN, ['domains', 'add', name, '--data', ga.dataDir]);
    assert.equal(added.code, 0, added.stderr);

    const deadline = Date.now() + 60_000;
    let scheduled: StoredEvent | undefined;
    while (!scheduled && Date.now() < deadline) {
      const all = await events(ga);
      const obtained = all.find((event) => event.type === 'certificate_obtained');
      scheduled = obtained
        ? all.find((event) => event.type === 'renewal_scheduled' && event.id > obtained.id)
        : undefined;
      if (!scheduled) await new Promise((resolve) => setTimeout(resolve, 300));
    }
    assert.ok(
      scheduled,
      `no renewal_scheduled after the certificate\n${ga.output.slice(-30).join('\n')}`,
    );
    // Only Pebble, which issued the certificate, knows its window.
    assert.ok(scheduled.payload.windowStart, JSON.stringify(scheduled));

    const stored = (await certificates(ga)).find((row) => row.identifiers[0]?.value === name);
    assert.equal(stored?.directoryUrl, pebble.directoryUrl, 'the vault keeps the issuing CA');
  });
});
