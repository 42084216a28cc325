/**
 * What the ACME tests look at from outside Gatehouse: the certificate a
 * real client (openssl s_client) is served for a name, the acme-agent's
 * events and the vault's certificates through the control API, and a
 * bounded wait for either.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { controlRequest } from '@gatehouse/gateway/control';
import { run } from './clients.js';
import { GATEHOUSE_BIN, Gatehouse } from './gatehouse.js';
import { Pebble } from './pebble.js';
import { freePort } from './ports.js';

/** A Pebble and a `gatehouse run` that gets its certificates from it, on fresh ports. */
export interface WithPebble {
  pebble: Pebble;
  gatehouse: Gatehouse;
  /** Pebble's issuing root, as a PEM file for openssl's -CAfile. */
  rootFile: string;
  /** Stops both and removes what they left; safe to call more than once. */
  stop(): Promise<void>;
}

export async function startWithPebble(options: {
  /** `--acme-challenge`, e.g. `tls-alpn-01`. */
  challenges: string;
  workers?: number;
  pebbleEnv?: Record<string, string>;
  /** Environment of `gatehouse run`. */
  env?: Record<string, string>;
  extraArgs?: string[];
}): Promise<WithPebble> {
  const httpsPort = await freePort();
  const httpPort = await freePort();
  const pebble = await Pebble.start({
    httpPort,
    tlsPort: httpsPort,
    ...(options.pebbleEnv ? { env: options.pebbleEnv } : {}),
  });
  let gatehouse: Gatehouse | undefined;
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'gatehouse-acme-test-'));
  const stop = async (): Promise<void> => {
    await gatehouse?.cleanup();
    await pebble.stop();
    fs.rmSync(scratch, { recursive: true, force: true });
  };
  try {
    gatehouse = await Gatehouse.start({
      httpsPort,
      httpPort,
      workers: options.workers ?? 2,
      ...(options.env ? { env: options.env } : {}),
      extraArgs: [
        ...['--acme-directory', pebble.directoryUrl, '--acme-trust', pebble.trustFile],
        ...['--acme-challenge', options.challenges],
        ...(options.extraArgs ?? []),
      ],
    });
    const rootFile = path.join(scratch, 'pebble-root.pem');
    fs.writeFileSync(rootFile, await pebble.rootPem());
    return { pebble, gatehouse, rootFile, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

export interface Served {
  verified: boolean;
  output: string;
}

/**
 * What `openssl s_client` gets for `name` (a DNS name, sent as SNI, or an
 * IP address, reached directly), checked against `rootFile`.
 */
export async function served(port: number, name: string, rootFile: string): Promise<Served> {
  const ip = /^[\d.]+$/.test(name) || name.includes(':');
  const connect = name.includes(':') ? `[${name}]:${port}` : `127.0.0.1:${port}`;
  const result = await run(
    'openssl',
    [
      ...['s_client', '-connect', connect, ...(ip ? [] : ['-servername', name])],
      ...['-CAfile', rootFile, '-verify_hostname', name, '-showcerts'],
    ],
    { input: '', timeoutMs: 10_000 },
  );
  const output = result.stdout + result.stderr;
  return { verified: /Verify return code: 0 \(ok\)/.test(output), output };
}

/** Probe every 300 ms until it gives a value; at most `ms`. */
export async function until<T>(
  what: string,
  ms: number,
  probe: () => Promise<T | undefined>,
): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 300));
  }
}

export async function addDomain(gatehouse: Gatehouse, name: string): Promise<void> {
  const added = await run(GATEHOUSE_BIN, ['domains', 'add', name, '--data', gatehouse.dataDir]);
  assert.equal(added.code, 0, added.stderr);
}

export interface AcmeEventRow {
  id: number;
  type: string;
  payload: {
    identifiers?: { type: string; value: string }[];
    orderUrl?: string;
    problem?: { type: string; detail?: string; status?: number };
    retryAt?: string;
    action?: string;
    waitReason?: string;
    orderAt?: string;
  };
}

/** The acme-agent's events about `name` (all when absent), oldest first. */
export async function acmeEvents(gatehouse: Gatehouse, name?: string): Promise<AcmeEventRow[]> {
  const response = await controlRequest(gatehouse.socketPath, 'GET', '/v1/events?limit=1000');
  assert.equal(response.status, 200, JSON.stringify(response.body));
  const events = (response.body as { events: AcmeEventRow[] }).events;
  return name === undefined
    ? events
    : events.filter((event) => event.payload.identifiers?.some((id) => id.value === name));
}

export function count(events: readonly AcmeEventRow[], type: string): number {
  return events.filter((event) => event.type === type).length;
}

/** The vault's certificates that name `name`. */
export async function vaultCertificates(
  gatehouse: Gatehouse,
  name: string,
): Promise<{ certificateId: string; keyId: string }[]> {
  const response = await controlRequest(gatehouse.socketPath, 'GET', '/v1/certificates');
  assert.equal(response.status, 200, JSON.stringify(response.body));
  const certificates = (
    response.body as {
      certificates: { certificateId: string; keyId: string; identifiers: { value: string }[] }[];
    }
  ).certificates;
  return certificates.filter((certificate) =>
    certificate.identifiers.some((identifier) => identifier.value === name),
  );
}

/** Wait until `name` is served with a chain that verifies against `rootFile`. */
export async function certified(
  gatehouse: Gatehouse,
  name: string,
  rootFile: string,
  ms: number,
): Promise<Served> {
  try {
    return await until(`a certificate for ${name}`, ms, async () => {
      const result = await served(gatehouse.httpsPort, name, rootFile);
      return result.verified ? result : undefined;
    });
  } catch (error) {
    const events = await acmeEvents(gatehouse, name).catch(() => []);
    throw new Error(
      `${(error as Error).message}\nevents:\n${events.map((event) => JSON.stringify(event)).join('\n')}` +
        `\ngatehouse:\n${gatehouse.output.slice(-60).join('\n')}`,
    );
  }
}
