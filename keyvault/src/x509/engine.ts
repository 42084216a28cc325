/**
 * The one pkijs crypto engine every signature and verification of the
 * x509 code goes through: Node's own WebCrypto, passed explicitly to each
 * pkijs call so that no module sets pkijs's global engine. Also what that
 * engine needs to know about a key: the hash it signs with, and its SPKI.
 */
import { webcrypto } from 'node:crypto';
import { types } from 'node:util';
import * as asn1js from 'asn1js';
import * as pkijs from 'pkijs';
import { type KeyAlgorithm } from '../algorithms.js';
import { type CryptoKey, type KeyPair, KeyError, keyAlgorithmOf } from '../keys.js';

// id-ecPublicKey and the named curves of RFC 5480 section 2.1.1.
const EC_PUBLIC_KEY = '1.2.840.10045.2.1';
const EC_CURVES: Partial<Record<KeyAlgorithm, string>> = {
  'ec-p256': '1.2.840.10045.3.1.7',
  'ec-p384': '1.3.132.0.34',
};

/** A private key and its public half; `KeyPair` from ../keys.js fits. */
export type SigningKeyPair = Pick<KeyPair, 'privateKey' | 'publicKey'>;

export type SignatureHash = 'SHA-256' | 'SHA-384';

/** Give this to every pkijs call that signs, verifies or imports a key. */
export const cryptoEngine = new pkijs.CryptoEngine({ name: 'node-webcrypto', crypto: webcrypto });

/**
 * The hash a key signs certificates and CSRs with: SHA-384 for P-384,
 * SHA-256 otherwise (RSA keys are bound to SHA-256 by keyAlgorithmOf).
 */
export function signatureHashOf(key: CryptoKey): SignatureHash {
  return keyAlgorithmOf(key) === 'ec-p384' ? 'SHA-384' : 'SHA-256';
}

/**
 * Throw KeyError unless `key` is a CryptoKey of the given type, of an
 * algorithm the keyvault uses, and (for a private key) allowed to sign.
 */
export function checkKey(key: CryptoKey, type: 'private' | 'public', role: string): void {
  if (!types.isCryptoKey(key) || key.type !== type) {
    throw new KeyError(
      'unsupported_key',
      `The ${role} must be a WebCrypto ${type} CryptoKey; pass the ${type} half of the pair.`,
    );
  }
  if (type === 'private' && !key.usages.includes('sign')) {
    throw new KeyError(
      'unsupported_key',
      `The ${role} was made without the "sign" usage; generate or import it with ["sign"].`,
    );
  }
  keyAlgorithmOf(key);
}

/**
 * A public key as pkijs's SubjectPublicKeyInfo. pkijs's own importKey goes
 * through a JWK and costs a millisecond; for EC keys, building it from the
 * raw point costs half of parsing Node's SPKI export, which matters for
 * challenge certificates (RFC 5480 section 2: named curve, uncompressed).
 */
export async function publicKeyInfoOf(publicKey: CryptoKey): Promise<pkijs.PublicKeyInfo> {
  checkKey(publicKey, 'public', 'public key');
  const curve = EC_CURVES[keyAlgorithmOf(publicKey)];
  if (curve === undefined) return pkijs.PublicKeyInfo.fromBER(await spkiDer(publicKey));

  const point = await webcrypto.subtle.exportKey('raw', publicKey);
  return new pkijs.PublicKeyInfo({
    algorithm: new pkijs.AlgorithmIdentifier({
      algorithmId: EC_PUBLIC_KEY,
      algorithmParams: new asn1js.ObjectIdentifier({ value: curve }),
    }),
    subjectPublicKey: new asn1js.BitString({ valueHex: point }),
  });
}

/** A public key as DER SubjectPublicKeyInfo, the form certificates carry and compare by. */
export async function spkiDer(publicKey: CryptoKey): Promise<Buffer> {
  checkKey(publicKey, 'public', 'public key');
  return Buffer.from(await webcrypto.subtle.exportKey('spki', publicKey));
}
