/**
 * `gatehouse ca root`: the local CA's root certificate, for the operator to
 * add to the trust store of clients that reach names Gatehouse cannot get a
 * public certificate for (localhost, private names).
 */
import path from 'node:path';
import { controlRequest } from '../control/client.js';
import { apiErrorMessage } from './api-error.js';

export async function caRootCommand(dataDir: string): Promise<number> {
  const response = await controlRequest(path.join(dataDir, 'control.sock'), 'GET', '/v1/ca/root');
  const body = response.body as { certificate_pem?: unknown };
  if (response.status !== 200 || typeof body.certificate_pem !== 'string') {
    process.stderr.write(`gatehouse: ${apiErrorMessage(response.body)}\n`);
    return 1;
  }
  process.stdout.write(body.certificate_pem);
  return 0;
}
