/**
 * Certificates an operator brings: a PEM chain and its unencrypted private
 * key, checked as strictly as a chain from a CA before anything is kept.
 */
import { X509Certificate, createPrivateKey, type KeyObject } from 'node:crypto';
import { isKeyAlgorithm, type KeyAlgorithm } from './algorithms.js';
import { describeKeyObject, importPrivateKeyPkcs8, type KeyPair } from './keys.js';
import type { Identifier } from './x509/identifiers.js';

export type ImportErrorCode = 'key_unreadable' | 'key_unsupported' | 'chain_unreadable' | 'expired';

export class ImportError extends Error {
  constructor(
    readonly code: ImportErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'ImportError';
  }
}

/** The key as a pair of its algorithm, and its PKCS#8 DER for sealing (the caller wipes it). */
export async function readPrivateKeyPem(
  keyPem: string,
): Promise<{ pair: KeyPair; pkcs8: Uint8Array }> {
  let key: KeyObject;
  try {
    key = createPrivateKey({ key: keyPem, format: 'pem' });
  } catch (cause) {
    throw new ImportError(
      'key_unreadable',
      'The key is not an unencrypted PEM private key (PKCS#8, SEC1 "EC PRIVATE KEY" or ' +
        'PKCS#1 "RSA PRIVATE KEY"); decrypt it first, e.g. openssl pkey -in key.pem -out plain.pem',
      { cause },
    );
  }
  const algorithm = algorithmOf(key);
  const pkcs8 = new Uint8Array(key.export({ format: 'der', type: 'pkcs8' }));
  return { pair: await importPrivateKeyPkcs8(algorithm, pkcs8), pkcs8 };
}

/**
 * The identifiers a leaf certificate names (its SAN), for checking the
 * chain against them. Refuses a leaf that has expired.
 */
export function leafIdentifiers(chainPem: string, now = new Date()): Identifier[] {
  let leaf: X509Certificate;
  try {
    leaf = new X509Certificate(chainPem);
  } catch (cause) {
    throw new ImportError(
      'chain_unreadable',
      'The chain does not start with a PEM certificate; give the leaf first, then its issuers',
      { cause },
    );
  }
  if (new Date(leaf.validTo) <= now) {
    throw new ImportError(
      'expired',
      `The certificate expired on ${leaf.validTo}; upload a current one`,
    );
  }
  return (leaf.subjectAltName ?? '').split(', ').flatMap((entry): Identifier[] => {
    if (entry.startsWith('DNS:')) return [{ type: 'dns', value: entry.slice(4) }];
    if (entry.startsWith('IP Address:')) return [{ type: 'ip', value: entry.slice(11) }];
    return [];
  });
}

function algorithmOf(key: KeyObject): KeyAlgorithm {
  const found = describeKeyObject(key);
  if (isKeyAlgorithm(found)) return found;
  throw new ImportError(
    'key_unsupported',
    `The key is ${found}; Gatehouse serves ECDSA P-256 or P-384 and RSA 2048, 3072 or 4096 keys`,
  );
}
