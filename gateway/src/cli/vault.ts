/**
 * `gatehouse vault rotate-master-key`: re-seal every private key under a
 * new master key in <data>/master.key. The old key opens nothing afterwards;
 * backups of the vault made before need the old key.
 */
import path from 'node:path';
import { controlRequest } from '../control/client.js';
import { apiErrorMessage } from './api-error.js';

export async function rotateMasterKeyCommand(dataDir: string): Promise<number> {
  const response = await controlRequest(
    path.join(dataDir, 'control.sock'),
    'POST',
    '/v1/vault/rotate-master-key',
    60_000,
  );
  const body = response.body as { master_key_id?: unknown; resealed?: unknown };
  if (response.status !== 200 || typeof body.master_key_id !== 'string') {
    process.stderr.write(`gatehouse: ${apiErrorMessage(response.body)}\n`);
    return 1;
  }
  process.stdout.write(
    `Re-sealed ${String(body.resealed)} keys under master key ${body.master_key_id}.\n` +
      `Back up ${path.join(dataDir, 'master.key')} now: the previous key opens nothing any more.\n`,
  );
  return 0;
}
