/**
 * The key algorithms the keyvault makes and signs with, by one name each,
 * and their WebCrypto parameters. Every module of the keyvault speaks of
 * keys as WebCrypto `CryptoKey`s (Node's own engine, `crypto.webcrypto`)
 * generated extractable, so that the private half can be sealed as PKCS#8.
 */
import { webcrypto } from 'node:crypto';

export const KEY_ALGORITHMS = ['ec-p256', 'ec-p384', 'rsa-2048', 'rsa-3072', 'rsa-4096'] as const;
export type KeyAlgorithm = (typeof KEY_ALGORITHMS)[number];

/** ECDSA P-256: the default for certificates and ACME accounts. */
export const DEFAULT_KEY_ALGORITHM: KeyAlgorithm = 'ec-p256';

export function isKeyAlgorithm(value: string): value is KeyAlgorithm {
  return (KEY_ALGORITHMS as readonly string[]).includes(value);
}

export type SigningParams = webcrypto.EcKeyImportParams | webcrypto.RsaHashedImportParams;

/** Import/generate parameters for WebCrypto (RSA uses PKCS#1 v1.5 with SHA-256, as JWS RS256). */
export function webCryptoParams(algorithm: KeyAlgorithm): SigningParams {
  switch (algorithm) {
    case 'ec-p256':
      return { name: 'ECDSA', namedCurve: 'P-256' };
    case 'ec-p384':
      return { name: 'ECDSA', namedCurve: 'P-384' };
    case 'rsa-2048':
    case 'rsa-3072':
    case 'rsa-4096':
      return { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' };
  }
}

/** Bits of an RSA modulus, for generation. */
export function rsaModulusLength(algorithm: KeyAlgorithm): number | undefined {
  const match = /^rsa-(\d+)$/.exec(algorithm);
  return match ? Number(match[1]) : undefined;
}
