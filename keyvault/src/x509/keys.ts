/**
 * Keys as the X.509 code sees them: WebCrypto `CryptoKey`s from Node's own
 * engine, the one pkijs engine every signature and verification here goes
 * through (passed explicitly, so no module sets pkijs's global engine), and
 * the signature hash each key algorithm signs with.
 */
import { KeyObject, createPublicKey, webcrypto } from 'node:crypto';
import { types } from 'node:util';
import * as pkijs from 'pkijs';
import { type KeyAlgorithm, webCryptoParams } from '../algorithms.js';

export type CryptoKey = webcrypto.CryptoKey;

/** A private key and its public half; the public key goes into the SPKI. */
export interface KeyPair {
  readonly privateKey: CryptoKey;
  readonly publicKey: CryptoKey;
}

export type SignatureHash = 'SHA-256' | 'SHA-384';

export type KeyErrorCode = 'key_unsupported' | 'key_wrong_type';

export class KeyError extends Error {
  constructor(
    readonly code: KeyErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'KeyError';
  }
}

/** The pkijs engine over Node's WebCrypto; give it to every pkijs call that signs or verifies. */
export const cryptoEngine = new pkijs.CryptoEngine({
  name: 'node-webcrypto',
  crypto: webcrypto,
});

/**
 * The keyvault's name for a key's algorithm. Throws `KeyError` for keys
 * the keyvault does not make: other curves, RSA sizes, or RSA bound to a
 * hash other than SHA-256 (WebCrypto fixes the hash in the key).
 */
export function keyAlgorithmOf(key: CryptoKey): KeyAlgorithm {
  const algorithm = key.algorithm as Partial<
    webcrypto.EcKeyAlgorithm & webcrypto.RsaHashedKeyAlgorithm
  >;

  if (algorithm.name === 'ECDSA') {
    if (algorithm.namedCurve === 'P-256') return 'ec-p256';
    if (algorithm.namedCurve === 'P-384') return 'ec-p384';
  }
  if (algorithm.name === 'RSASSA-PKCS1-v1_5' && algorithm.hash?.name === 'SHA-256') {
    const bits = algorithm.modulusLength;
    if (bits === 2048 || bits === 3072 || bits === 4096) return `rsa-${bits}`;
  }
  throw new KeyError(
    'key_unsupported',
    `A ${describe(key)} key cannot sign here; use ECDSA P-256 or P-384, ` +
      'or RSASSA-PKCS1-v1_5 with SHA-256 and a 2048, 3072 or 4096-bit modulus.',
  );
}

/** The hash a key signs certificates and CSRs with: SHA-384 for P-384, SHA-256 otherwise. */
export function signatureHashOf(key: CryptoKey): SignatureHash {
  return keyAlgorithmOf(key) === 'ec-p384' ? 'SHA-384' : 'SHA-256';
}

/** Throw unless `key` is a supported key of the given type (and, for private keys, may sign). */
export function checkKey(key: CryptoKey, type: 'private' | 'public', role: string): void {
  if (!types.isCryptoKey(key) || key.type !== type) {
    throw new KeyError(
      'key_wrong_type',
      `The ${role} must be a WebCrypto ${type} CryptoKey; pass the ${type} half of the pair.`,
    );
  }
  if (type === 'private' && !key.usages.includes('sign')) {
    throw new KeyError(
      'key_wrong_type',
      `The ${role} was made without the "sign" usage; generate or import it with ["sign"].`,
    );
  }
  keyAlgorithmOf(key);
}

/** A public key as DER SubjectPublicKeyInfo, the form certificates carry and compare by. */
export async function spkiDer(publicKey: CryptoKey): Promise<Buffer> {
  checkKey(publicKey, 'public', 'public key');
  return Buffer.from(await webcrypto.subtle.exportKey('spki', publicKey));
}

/**
 * The public half of a private key, for callers that hold only the private
 * key (as unsealed from storage). Works on non-extractable keys too.
 */
export async function publicKeyOf(privateKey: CryptoKey): Promise<CryptoKey> {
  checkKey(privateKey, 'private', 'private key');
  const spki = createPublicKey(KeyObject.from(privateKey)).export({ type: 'spki', format: 'der' });
  return webcrypto.subtle.importKey(
    'spki',
    spki,
    webCryptoParams(keyAlgorithmOf(privateKey)),
    true,
    ['verify'],
  );
}

function describe(key: CryptoKey): string {
  const algorithm = key.algorithm as Partial<
    webcrypto.EcKeyAlgorithm & webcrypto.RsaHashedKeyAlgorithm
  >;
  const details = [algorithm.namedCurve, algorithm.modulusLength, algorithm.hash?.name];
  return [algorithm.name, ...details.filter((part) => part !== undefined)].join(' ');
}
