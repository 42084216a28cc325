/**
 * Shared by the x509 tests only: run the real `openssl` binary, keep
 * temporary files in one folder that is removed whatever the outcome, and
 * make a local CA to issue test chains from.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { type KeyPair, generateKeyPair } from '../keys.js';
import {
  type LocalCertificate,
  type LocalIssuer,
  createLocalIntermediate,
  createLocalRoot,
} from './local-ca.js';

export interface OpensslResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Run openssl with `input` on stdin; never rejects for a non-zero exit (see `code`). */
export function runOpenssl(
  args: readonly string[],
  input?: string | Buffer,
): Promise<OpensslResult> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      'openssl',
      [...args],
      { timeout: 20_000, maxBuffer: 4 << 20, encoding: 'buffer' },
      (error, stdout, stderr) => {
        if (error && typeof error.code !== 'number') {
          reject(new Error('openssl could not be run', { cause: error }));
          return;
        }
        resolve({
          code: error ? Number(error.code) : 0,
          stdout: stdout.toString(),
          stderr: stderr.toString(),
        });
      },
    );
    // openssl may exit before reading its input (a command that takes
    // none): EPIPE on its stdin is no failure of the test.
    child.stdin?.on('error', () => undefined);
    child.stdin?.end(input ?? '');
  });
}

/** Run openssl and return its stdout; reject with its stderr when it exits non-zero. */
export async function openssl(args: readonly string[], input?: string | Buffer): Promise<string> {
  const result = await runOpenssl(args, input);
  if (result.code !== 0) {
    throw new Error(`openssl ${args.join(' ')} exited ${result.code}: ${result.stderr.trim()}`);
  }
  return result.stdout;
}

/** A temporary folder and a function that removes it; call the latter in `after`. */
export async function temporaryFolder(): Promise<{ folder: string; remove: () => Promise<void> }> {
  const folder = await mkdtemp(path.join(tmpdir(), 'gatehouse-x509-'));
  return { folder, remove: () => rm(folder, { recursive: true, force: true }) };
}

/** A local root, an intermediate under it, their keys, and the issuer to make leaves with. */
export interface TestCa {
  readonly rootKey: KeyPair;
  readonly root: LocalCertificate;
  readonly intermediateKey: KeyPair;
  readonly intermediate: LocalCertificate;
  readonly issuer: LocalIssuer;
}

export async function makeLocalCa(now?: Date): Promise<TestCa> {
  const rootKey = await generateKeyPair('ec-p256');
  const root = await createLocalRoot(rootKey, { now });
  const intermediateKey = await generateKeyPair('ec-p256');
  const intermediate = await createLocalIntermediate(
    { certificatePem: root.pem, privateKey: rootKey.privateKey },
    intermediateKey.publicKey,
    { now },
  );
  const issuer = { certificatePem: intermediate.pem, privateKey: intermediateKey.privateKey };
  return { rootKey, root, intermediateKey, intermediate, issuer };
}
