/**
 * `gatehouse domains add | remove | list`: the names Gatehouse keeps
 * certified, in the running supervisor's state.db, over the control
 * socket. The supervisor checks each name; a refusal is printed as it
 * explains it.
 */
import path from 'node:path';
import { controlRequest } from '../control/client.js';
import type { DomainRow } from '../control/api.js';
import { apiErrorMessage } from './api-error.js';
import { table } from './table.js';

function socketOf(dataDir: string): string {
  return path.join(dataDir, 'control.sock');
}

export async function addDomainCommand(dataDir: string, name: string): Promise<number> {
  const response = await controlRequest(socketOf(dataDir), 'POST', '/v1/domains', 5_000, {
    name,
  });
  const body = response.body as { domain?: DomainRow; added?: boolean } | undefined;
  if ((response.status !== 201 && response.status !== 200) || !body?.domain) {
    process.stderr.write(`gatehouse: ${apiErrorMessage(response.body)}\n`);
    return 1;
  }
  process.stdout.write(
    body.added === true
      ? `Added domain ${body.domain.name}.\n`
      : `Domain ${body.domain.name} was already there (added ${body.domain.added_at}).\n`,
  );
  return 0;
}

export async function removeDomainCommand(dataDir: string, name: string): Promise<number> {
  const response = await controlRequest(
    socketOf(dataDir),
    'DELETE',
    `/v1/domains/${encodeURIComponent(name)}`,
  );
  if (response.status !== 204) {
    process.stderr.write(`gatehouse: ${apiErrorMessage(response.body)}\n`);
    return 1;
  }
  process.stdout.write(`Removed domain ${name}.\n`);
  return 0;
}

export async function listDomainsCommand(dataDir: string, json: boolean): Promise<number> {
  const response = await controlRequest(socketOf(dataDir), 'GET', '/v1/domains');
  const body = response.body as { domains?: unknown } | undefined;
  if (response.status !== 200 || !Array.isArray(body?.domains)) {
    process.stderr.write(`gatehouse: ${apiErrorMessage(response.body)}\n`);
    return 1;
  }
  const rows = body.domains as DomainRow[];
  if (json) {
    process.stdout.write(JSON.stringify({ domains: rows }, null, 2) + '\n');
    return 0;
  }
  if (rows.length === 0) {
    process.stdout.write('No domains. Add one with: gatehouse domains add NAME\n');
    return 0;
  }
  process.stdout.write(table([['NAME', 'ADDED'], ...rows.map((row) => [row.name, row.added_at])]));
  return 0;
}
