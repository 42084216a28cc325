/**
 * `gatehouse certificates list | import | delete`: the certificates the
 * keyvault holds, over the control socket. `import` reads the chain and the
 * key from files on this machine and sends them over the socket (mode 0600
 * by default); no key is ever printed.
 */
import fs from 'node:fs';
import path from 'node:path';
import { controlRequest } from '../control/client.js';
import { apiErrorMessage } from './api-error.js';
import { table } from './table.js';

/** Certificate as the control API lists it (GET /v1/certificates). */
interface CertificateRow {
  certificateId: string;
  identifiers: { type: string; value: string }[];
  notAfter: string;
  issuer: string;
  revokedAt: string | null;
}

// The sizes the keyvault accepts (gateway/src/ipc/keyvault-messages.ts),
// checked here too so that a wrong file is named before anything is sent.
const MAX_CHAIN_BYTES = 256 * 1024;
const MAX_KEY_BYTES = 16 * 1024;

function socketOf(dataDir: string): string {
  return path.join(dataDir, 'control.sock');
}

export async function listCertificatesCommand(dataDir: string, json: boolean): Promise<number> {
  const response = await controlRequest(socketOf(dataDir), 'GET', '/v1/certificates');
  const body = response.body as { certificates?: unknown };
  if (response.status !== 200 || !Array.isArray(body.certificates)) {
    process.stderr.write(`gatehouse: ${apiErrorMessage(response.body)}\n`);
    return 1;
  }
  const rows = body.certificates as CertificateRow[];
  if (json) {
    process.stdout.write(JSON.stringify({ certificates: rows }, null, 2) + '\n');
    return 0;
  }
  if (rows.length === 0) {
    process.stdout.write('No certificates stored.\n');
    return 0;
  }
  process.stdout.write(
    table([
      ['ID', 'NAMES', 'NOT AFTER', 'ISSUER'],
      ...rows.map((row) => [
        row.certificateId,
        row.identifiers.map((identifier) => identifier.value).join(','),
        row.revokedAt ? `${row.notAfter} (revoked)` : row.notAfter,
        row.issuer,
      ]),
    ]),
  );
  return 0;
}

export async function importCertificateCommand(
  dataDir: string,
  chainFile: string,
  keyFile: string,
): Promise<number> {
  const chainPem = readInput(chainFile, 'certificate chain', MAX_CHAIN_BYTES);
  const keyPem = readInput(keyFile, 'private key', MAX_KEY_BYTES);
  const response = await controlRequest(socketOf(dataDir), 'POST', '/v1/certificates', 15_000, {
    chain_pem: chainPem,
    key_pem: keyPem,
  });
  const body = response.body as { certificate?: CertificateRow };
  if (response.status !== 201 || !body.certificate) {
    process.stderr.write(`gatehouse: ${apiErrorMessage(response.body)}\n`);
    return 1;
  }
  const names = body.certificate.identifiers.map((identifier) => identifier.value).join(', ');
  process.stdout.write(
    `Imported certificate ${body.certificate.certificateId} for ${names}, ` +
      `valid until ${body.certificate.notAfter}.\n`,
  );
  return 0;
}

export async function deleteCertificateCommand(dataDir: string, id: string): Promise<number> {
  const response = await controlRequest(
    socketOf(dataDir),
    'DELETE',
    `/v1/certificates/${encodeURIComponent(id)}`,
  );
  if (response.status !== 204) {
    process.stderr.write(`gatehouse: ${apiErrorMessage(response.body)}\n`);
    return 1;
  }
  process.stdout.write(`Deleted certificate ${id}.\n`);
  return 0;
}

export class InputFileError extends Error {
  readonly code = 'input_file';
}

function readInput(file: string, what: string, maxBytes: number): string {
  let size: number;
  try {
    size = fs.statSync(file).size;
  } catch (error) {
    throw new InputFileError(
      `Cannot read the ${what} file ${file}: ${(error as NodeJS.ErrnoException).code ?? String(error)}.`,
    );
  }
  if (size > maxBytes) {
    throw new InputFileError(
      `The ${what} file ${file} is ${size} bytes; at most ${maxBytes} are accepted. ` +
        `Give a PEM file holding only the ${what}.`,
    );
  }
  return fs.readFileSync(file, 'utf8');
}
