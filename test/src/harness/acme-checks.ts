/**
 * What the ACME tests look at from outside Gatehouse: the certificate a
 * real client (openssl s_client) is served for a name, the acme-agent's
 * events and the vault's certificates through the control API, and a
 * bounded wait for either.
 */
import assert from 'node:assert/strict';
import { controlRequest } from '@gatehouse/gateway/control';
import { run } from './clients.js';
import { GATEHOUSE_BIN, type Gatehouse } from './gatehouse.js';

export interface Served {
  verified: boolean;
  output: string;
}

/** What `openssl s_client` gets for DNS name `name`, checked against `rootFile`. */
export async function served(port: number, name: string, rootFile: string): Promise<Served> {
  const result = await run(
    'openssl',
    [
      ...['s_client', '-connect', `127.0.0.1:${port}`, '-servername', name],
      ...['-CAfile', rootFile, '-verify_hostname', name],
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
