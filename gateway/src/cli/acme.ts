/**
 * `gatehouse acme account [update|key-change|deactivate]` and `gatehouse
 * certificates revoke`: the ACME account at the CA (RFC 8555 section 7.3)
 * and revocation (section 7.6), over the control socket. The acme-agent
 * talks to the CA; these commands only say what the operator wants and
 * print what the CA answered. No key is ever printed, only its thumbprint.
 */
import path from 'node:path';
import { parseArgs } from 'node:util';
import { controlRequest } from '../control/client.js';
import type { AccountRow } from '../control/acme-account.js';
import { apiErrorMessage } from './api-error.js';

/** Account operations wait for the CA: a few round trips, each up to 30 s. */
const CA_TIMEOUT_MS = 70_000;

export const ACME_USAGE =
  'Usage: gatehouse acme account [--json] | account update --email ADDR | ' +
  'account key-change | account deactivate --yes   [--issuer URL] [--data DIR]';

/** Wrong usage of a command: exit status 2. */
export class AcmeUsageError extends Error {
  readonly code = 'usage';
}

/** A plain e-mail address, as the account's mailto: contact takes it. */
const EMAIL = /^[^\s@,?<>"]{1,64}@[^\s@,?<>"]+\.[^\s@,?<>"]+$/;

export async function acmeCommand(
  args: string[],
  dataDirOf: (flag?: string) => string,
): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    strict: true,
    allowPositionals: true,
    options: {
      data: { type: 'string' },
      json: { type: 'boolean' },
      email: { type: 'string' },
      yes: { type: 'boolean' },
      issuer: { type: 'string' },
    },
  });
  const [noun, action, ...extra] = positionals;
  if (noun !== 'account' || extra.length > 0) throw new AcmeUsageError(ACME_USAGE);
  const only = (wanted: string | undefined, given: boolean): void => {
    if (given && action !== wanted) throw new AcmeUsageError(ACME_USAGE);
  };
  only(undefined, values.json !== undefined);
  only('update', values.email !== undefined);
  only('deactivate', values.yes !== undefined);
  const socket = path.join(dataDirOf(values.data), 'control.sock');
  const query = values.issuer === undefined ? '' : `?issuer=${encodeURIComponent(values.issuer)}`;

  switch (action) {
    case undefined:
      return printAccount(
        await controlRequest(socket, 'GET', `/v1/acme/account${query}`, CA_TIMEOUT_MS),
        values.json ?? false,
      );
    case 'update': {
      if (values.email === undefined || !EMAIL.test(values.email)) {
        throw new AcmeUsageError(
          'gatehouse acme account update needs --email ADDR, a plain address such as ' +
            'ops@example.com (the CA writes there about the account and its certificates).',
        );
      }
      const body = { contact: [`mailto:${values.email}`] };
      const response = await controlRequest(
        socket,
        'PATCH',
        `/v1/acme/account${query}`,
        CA_TIMEOUT_MS,
        body,
      );
      return printAccount(response, false, 'Contact updated.');
    }
    case 'key-change':
      return printAccount(
        await controlRequest(socket, 'POST', `/v1/acme/account/key-change${query}`, CA_TIMEOUT_MS),
        false,
        'The CA accepted the new account key; the old one is no longer valid there.',
      );
    case 'deactivate': {
      if (values.yes !== true) {
        throw new AcmeUsageError(
          'Deactivating the ACME account is final: the CA refuses it for good and Gatehouse can ' +
            'no longer obtain certificates from this issuer with it. Add --yes to go ahead.',
        );
      }
      const response = await controlRequest(
        socket,
        'POST',
        `/v1/acme/account/deactivate${query}`,
        CA_TIMEOUT_MS,
        { confirm: true },
      );
      return printAccount(response, false, 'The account is deactivated.');
    }
    default:
      throw new AcmeUsageError(ACME_USAGE);
  }
}

function printAccount(
  response: { status: number; body: unknown },
  json: boolean,
  done?: string,
): number {
  const account = (response.body as { account?: AccountRow } | undefined)?.account;
  if (response.status !== 200 || !account) {
    process.stderr.write(`gatehouse: ${apiErrorMessage(response.body)}\n`);
    return 1;
  }
  if (json) {
    process.stdout.write(JSON.stringify({ account }, null, 2) + '\n');
    return 0;
  }
  process.stdout.write(
    (done ? `${done}\n` : '') +
      `Issuer:          ${account.issuer}\n` +
      `Account:         ${account.url}\n` +
      `Status:          ${account.status}\n` +
      `Contact:         ${account.contact.join(', ') || '(none)'}\n` +
      `Key thumbprint:  ${account.key_thumbprint}\n`,
  );
  return 0;
}

/** `gatehouse certificates revoke ID [--reason NAME]`: revoke, then Gatehouse replaces it. */
export async function revokeCertificateCommand(
  dataDir: string,
  id: string,
  reason: string | undefined,
  issuer: string | undefined,
): Promise<number> {
  const query = issuer === undefined ? '' : `?issuer=${encodeURIComponent(issuer)}`;
  const body =
    reason === undefined ? {} : { reason: /^\d+$/.test(reason) ? Number(reason) : reason };
  const response = await controlRequest(
    path.join(dataDir, 'control.sock'),
    'POST',
    `/v1/certificates/${encodeURIComponent(id)}/revoke${query}`,
    CA_TIMEOUT_MS,
    body,
  );
  const revoked = (
    response.body as { revoked?: { serial: string; identifiers: { value: string }[] } } | undefined
  )?.revoked;
  if (response.status !== 200 || !revoked) {
    process.stderr.write(`gatehouse: ${apiErrorMessage(response.body)}\n`);
    return 1;
  }
  const names = revoked.identifiers.map((identifier) => identifier.value).join(', ');
  process.stdout.write(
    `Revoked certificate ${id} (serial ${revoked.serial}) for ${names}.\n` +
      'Gatehouse is obtaining a new certificate for these names; see gatehouse certificates list.\n',
  );
  return 0;
}
