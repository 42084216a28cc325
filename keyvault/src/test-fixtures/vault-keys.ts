/**
 * Test material for the vault tests: real keys made the way the keyvault
 * makes them (WebCrypto, Node's engine, extractable, exported as PKCS#8
 * and JWK), and helpers to find their secret bytes in files and to make
 * temporary data directories that are removed after each test.
 */
import { createHash, generateKeyPairSync, webcrypto } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { rsaModulusLength, webCryptoParams, type KeyAlgorithm } from '../algorithms.js';
import { jwkThumbprint, parsePublicJwk } from '../keys.js';
import type { KeyPurpose, NewKey } from '../store-input.js';

export interface TestKey {
  key: NewKey;
  /** Byte strings that must never appear in a vault file: DER, base64 of it, private scalars. */
  secrets: { name: string; bytes: Buffer }[];
}

/** A key as the keyvault would store it, made with WebCrypto. */
export async function makeKey(
  id: string,
  algorithm: KeyAlgorithm,
  purpose: KeyPurpose = 'certificate',
): Promise<TestKey> {
  const params = webCryptoParams(algorithm);
  const modulusLength = rsaModulusLength(algorithm);
  const generate =
    modulusLength === undefined
      ? params
      : { ...params, modulusLength, publicExponent: new Uint8Array([1, 0, 1]) };
  const pair = (await webcrypto.subtle.generateKey(generate, true, [
    'sign',
    'verify',
  ])) as webcrypto.CryptoKeyPair;
  const pkcs8 = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', pair.privateKey));
  const jwk = await webcrypto.subtle.exportKey('jwk', pair.privateKey);
  const publicJwk = await webcrypto.subtle.exportKey('jwk', pair.publicKey);
  return {
    key: toNewKey(id, algorithm, purpose, pkcs8, publicJwk),
    secrets: secretsOf(pkcs8, jwk),
  };
}

/** A P-256 key made synchronously (node:crypto), for loops that write many keys fast. */
export function makeQuickKey(id: string, purpose: KeyPurpose = 'certificate'): TestKey {
  const pair = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const pkcs8 = pair.privateKey.export({ format: 'der', type: 'pkcs8' });
  const jwk = pair.privateKey.export({ format: 'jwk' });
  const publicJwk = pair.publicKey.export({ format: 'jwk' });
  return {
    key: toNewKey(id, 'ec-p256', purpose, pkcs8, publicJwk),
    secrets: secretsOf(pkcs8, jwk),
  };
}

function toNewKey(
  id: string,
  algorithm: KeyAlgorithm,
  purpose: KeyPurpose,
  pkcs8: Buffer,
  exported: webcrypto.JsonWebKey,
): NewKey {
  const publicJwk = parsePublicJwk(exported);
  // WebCrypto adds key_ops and ext; the store drops what is not public key material.
  const given = { ...exported, ...publicJwk };
  return { id, algorithm, purpose, pkcs8, publicJwk: given, thumbprint: jwkThumbprint(publicJwk) };
}

function secretsOf(pkcs8: Buffer, jwk: webcrypto.JsonWebKey): TestKey['secrets'] {
  const secrets = [
    { name: 'PKCS#8 DER', bytes: Buffer.from(pkcs8) },
    { name: 'PKCS#8 base64', bytes: Buffer.from(pkcs8.toString('base64')) },
    {
      name: 'PKCS#8 base64, first PEM line',
      bytes: Buffer.from(pkcs8.toString('base64').slice(0, 64)),
    },
  ];
  for (const member of ['d', 'p', 'q'] as const) {
    const value = jwk[member];
    if (value === undefined) continue;
    const raw = Buffer.from(value, 'base64url');
    secrets.push({ name: `raw ${member}`, bytes: raw });
    secrets.push({ name: `base64url ${member}`, bytes: Buffer.from(value) });
    secrets.push({ name: `hex ${member}`, bytes: Buffer.from(raw.toString('hex')) });
  }
  return secrets;
}

/** The names of the secrets found in `file` (none if the file does not exist). */
export function secretsFoundIn(file: string, secrets: TestKey['secrets']): string[] {
  if (!fs.existsSync(file)) return [];
  const content = fs.readFileSync(file);
  return secrets.filter((secret) => content.includes(secret.bytes)).map((secret) => secret.name);
}

/** A fresh data directory (mode 0700), removed by the returned function. */
export function tempDataDir(): { dir: string; remove: () => void } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gatehouse-vault-test-'));
  fs.chmodSync(dir, 0o700);
  return {
    dir,
    remove: () => {
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** SHA-256 of vault.db, -wal and -shm ("absent" for a missing one). */
export function vaultFileHashes(vaultPath: string): Record<string, string> {
  const hashes: Record<string, string> = {};
  for (const suffix of ['', '-wal', '-shm']) {
    const file = `${vaultPath}${suffix}`;
    hashes[path.basename(file)] = fs.existsSync(file)
      ? createHash('sha256').update(fs.readFileSync(file)).digest('hex')
      : 'absent';
  }
  return hashes;
}
