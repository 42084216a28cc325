/**
 * Key pairs for every key algorithm of the keyvault: generate, export the
 * private half as PKCS#8 DER for sealing, import it back (checked against
 * the algorithm it is claimed to be), and describe the public half as a
 * JWK (RFC 7517, 7518) with its RFC 7638 thumbprint.
 *
 * Keys are WebCrypto `CryptoKey`s from Node's own engine, made extractable
 * so that sealing and master-key rotation can export them again. Nothing
 * here logs, and no error message holds key bytes.
 */
import { KeyObject, createHash, createPrivateKey, createPublicKey, webcrypto } from 'node:crypto';
import {
  KEY_ALGORITHMS,
  isKeyAlgorithm,
  rsaModulusLength,
  webCryptoParams,
  type KeyAlgorithm,
} from './algorithms.js';

const { subtle } = webcrypto;

export type CryptoKey = webcrypto.CryptoKey;

export interface KeyPair {
  algorithm: KeyAlgorithm;
  privateKey: CryptoKey;
  publicKey: CryptoKey;
}

/** The public members of an EC key, in RFC 7638's lexicographic order. */
export interface EcPublicJwk {
  crv: 'P-256' | 'P-384';
  kty: 'EC';
  x: string;
  y: string;
}

/** The public members of an RSA key, in RFC 7638's lexicographic order. */
export interface RsaPublicJwk {
  e: string;
  kty: 'RSA';
  n: string;
}

export type PublicJwk = EcPublicJwk | RsaPublicJwk;

export type KeyErrorCode =
  'unknown_algorithm' | 'invalid_pkcs8' | 'algorithm_mismatch' | 'unsupported_key' | 'invalid_jwk';

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

/** The largest PKCS#8 accepted; an RSA-4096 key is about 2,400 bytes. */
export const MAX_PKCS8_BYTES = 8 * 1024;

/** Makes a new extractable key pair of `algorithm`. */
export async function generateKeyPair(algorithm: KeyAlgorithm): Promise<KeyPair> {
  checkAlgorithm(algorithm);
  const pair = await subtle.generateKey(generateParams(algorithm), true, ['sign', 'verify']);
  return { algorithm, privateKey: pair.privateKey, publicKey: pair.publicKey };
}

/** The private key as PKCS#8 DER (RFC 5208), for sealing; the caller must wipe it when done. */
export async function exportPrivateKeyPkcs8(privateKey: CryptoKey): Promise<Uint8Array> {
  if (privateKey.type !== 'private' || !privateKey.extractable) {
    throw new KeyError(
      'unsupported_key',
      `Cannot export a ${privateKey.extractable ? '' : 'non-extractable '}${privateKey.type} key ` +
        'as PKCS#8: give the private key of a pair made by generateKeyPair or importPrivateKeyPkcs8.',
    );
  }
  return new Uint8Array(await subtle.exportKey('pkcs8', privateKey));
}

/**
 * Opens PKCS#8 DER as a key pair of `algorithm`. The key inside must be
 * exactly that algorithm (same curve, same modulus length); anything else
 * is refused with a KeyError that says what the DER holds.
 */
export async function importPrivateKeyPkcs8(
  algorithm: KeyAlgorithm,
  pkcs8: Uint8Array,
): Promise<KeyPair> {
  checkAlgorithm(algorithm);
  checkPkcs8Shape(pkcs8);
  checkPkcs8Algorithm(algorithm, pkcs8);

  const params = webCryptoParams(algorithm);
  let privateKey: CryptoKey;
  try {
    privateKey = await subtle.importKey('pkcs8', pkcs8, params, true, ['sign']);
  } catch (cause) {
    throw new KeyError(
      'invalid_pkcs8',
      `The PKCS#8 key could not be imported as ${algorithm}; ` +
        'it may be damaged: import the key again from its source.',
      { cause },
    );
  }
  const publicKey = await derivePublicKey(privateKey, algorithm);
  return { algorithm, privateKey, publicKey };
}

/**
 * The public JWK of a key (either half of a pair), with only the members
 * RFC 7518 defines for a public key, in canonical (lexicographic) order.
 */
export async function publicJwk(key: CryptoKey): Promise<PublicJwk> {
  let jwk: webcrypto.JsonWebKey;
  try {
    // A private key goes through Node's KeyObject so that only the public
    // members ever become JS strings: a private JWK would leave d (and an
    // RSA key's primes) in the heap as strings that cannot be wiped.
    jwk =
      key.type === 'private'
        ? createPublicKey(KeyObject.from(key)).export({ format: 'jwk' })
        : await subtle.exportKey('jwk', key);
  } catch (cause) {
    throw new KeyError('unsupported_key', `The ${key.type} key has no public JWK.`, { cause });
  }
  return parsePublicJwk(jwk);
}

/** The key algorithm of a CryptoKey made by this module, or a KeyError. */
export function keyAlgorithmOf(key: CryptoKey): KeyAlgorithm {
  const algorithm = key.algorithm as Partial<webcrypto.EcKeyAlgorithm> &
    Partial<webcrypto.RsaHashedKeyAlgorithm>;
  if (algorithm.name === 'ECDSA' && algorithm.namedCurve === 'P-256') return 'ec-p256';
  if (algorithm.name === 'ECDSA' && algorithm.namedCurve === 'P-384') return 'ec-p384';

  const hash = algorithm.hash?.name;
  if (algorithm.name === 'RSASSA-PKCS1-v1_5' && hash === 'SHA-256') {
    const named = `rsa-${algorithm.modulusLength ?? 0}`;
    if (isKeyAlgorithm(named)) return named;
  }
  const parts = [algorithm.name ?? 'of no known algorithm'];
  if (algorithm.namedCurve) parts.push(`on ${algorithm.namedCurve}`);
  if (algorithm.modulusLength) parts.push(`with a ${algorithm.modulusLength}-bit modulus`);
  if (hash) parts.push(`and ${hash}`);
  throw new KeyError(
    'unsupported_key',
    `The key is ${parts.join(' ')}, which the keyvault does not use; ` +
      `its key algorithms are ${KEY_ALGORITHMS.join(', ')}.`,
  );
}

/**
 * Checks a JWK from outside and returns its public members in canonical
 * form. Only the curves and modulus lengths of KEY_ALGORITHMS pass.
 */
export function parsePublicJwk(value: unknown): PublicJwk {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new KeyError('invalid_jwk', 'A JWK must be a JSON object with kty and its key members.');
  }
  const jwk = value as Record<string, unknown>;

  if (jwk.kty === 'EC') {
    const crv = jwk.crv;
    if (crv !== 'P-256' && crv !== 'P-384') {
      throw new KeyError(
        'invalid_jwk',
        'An EC JWK must have crv "P-256" or "P-384", the curves the keyvault uses.',
      );
    }
    const size = crv === 'P-256' ? 32 : 48;
    return {
      crv,
      kty: 'EC',
      x: base64urlMember(jwk, 'x', size, size),
      y: base64urlMember(jwk, 'y', size, size),
    };
  }

  if (jwk.kty === 'RSA') {
    const e = base64urlMember(jwk, 'e', 1, 8);
    const n = base64urlMember(jwk, 'n', 256, 512);
    const modulus = Buffer.from(n, 'base64url');
    const bits = modulus.length * 8;
    if (![2048, 3072, 4096].includes(bits) || (modulus[0] ?? 0) < 0x80) {
      throw new KeyError(
        'invalid_jwk',
        'An RSA JWK must have a modulus n of exactly 2048, 3072 or 4096 bits.',
      );
    }
    return { e, kty: 'RSA', n };
  }

  throw new KeyError(
    'invalid_jwk',
    'A JWK must have kty "EC" or "RSA", the key types the keyvault uses.',
  );
}

/**
 * The RFC 7638 thumbprint: base64url SHA-256 over the JSON of the required
 * members in lexicographic order, with no whitespace. Members other than
 * the required ones (alg, kid, use, ...) do not count.
 */
export function jwkThumbprint(jwk: PublicJwk): string {
  return createHash('sha256').update(canonicalJwkJson(jwk)).digest('base64url');
}

/** The canonical JSON of a public JWK, as RFC 7638 section 3 defines it. */
export function canonicalJwkJson(jwk: PublicJwk): string {
  const canonical = parsePublicJwk(jwk);

  // parsePublicJwk builds the object in lexicographic member order, and the
  // values are base64url or curve names, which JSON needs no escapes for.
  return JSON.stringify(canonical);
}

function checkAlgorithm(algorithm: string): void {
  if (!isKeyAlgorithm(algorithm)) {
    throw new KeyError(
      'unknown_algorithm',
      `Unknown key algorithm; use one of ${KEY_ALGORITHMS.join(', ')}.`,
    );
  }
}

function generateParams(
  algorithm: KeyAlgorithm,
): webcrypto.EcKeyGenParams | webcrypto.RsaHashedKeyGenParams {
  const params = webCryptoParams(algorithm);
  const modulusLength = rsaModulusLength(algorithm);
  if ('namedCurve' in params) return params;
  if (modulusLength === undefined) throw new Error(`no modulus length for ${algorithm}`);

  // 65537 is the exponent everyone uses; RFC 8017 leaves the choice open,
  // and CAs and TLS libraries expect this one.
  return { ...params, modulusLength, publicExponent: new Uint8Array([1, 0, 1]) };
}

/**
 * Bounds the input and checks that it is one whole DER SEQUENCE: OpenSSL
 * would ignore bytes after it, and a key with a tail is damaged or forged.
 */
function checkPkcs8Shape(pkcs8: Uint8Array): void {
  if (!(pkcs8 instanceof Uint8Array) || pkcs8.length === 0) {
    throw new KeyError('invalid_pkcs8', 'The PKCS#8 key is empty or not bytes; give its DER form.');
  }
  if (pkcs8.length > MAX_PKCS8_BYTES) {
    throw new KeyError(
      'invalid_pkcs8',
      `The PKCS#8 key is ${pkcs8.length} bytes, more than the ${MAX_PKCS8_BYTES} any ` +
        'supported key needs; give the DER of one private key.',
    );
  }
  if (derLength(pkcs8) !== pkcs8.length) {
    throw new KeyError(
      'invalid_pkcs8',
      'The bytes are not one DER-encoded PKCS#8 structure (a PEM file, or DER with ' +
        'extra bytes?); convert it with `openssl pkcs8 -topk8 -nocrypt -outform DER`.',
    );
  }
}

/** The total length of the DER SEQUENCE at the start of `der`, or -1. */
function derLength(der: Uint8Array): number {
  const [tag, first] = der;
  if (tag !== 0x30 || first === undefined) return -1;
  if (first < 0x80) return 2 + first;

  const count = first & 0x7f;
  if (count === 0 || count > 2 || der.length < 2 + count) return -1;
  let length = 0;
  for (let i = 0; i < count; i++) length = length * 256 + (der[2 + i] ?? 0);
  return 2 + count + length;
}

/**
 * Says what the DER holds when it is not `algorithm`. WebCrypto's own
 * import checks the curve but not the RSA modulus length, and its errors
 * do not name what it found.
 */
function checkPkcs8Algorithm(algorithm: KeyAlgorithm, pkcs8: Uint8Array): void {
  let key: KeyObject;
  try {
    // A view, not a copy: no second copy of the private key is left to wipe.
    const der = Buffer.from(pkcs8.buffer, pkcs8.byteOffset, pkcs8.byteLength);
    key = createPrivateKey({ key: der, format: 'der', type: 'pkcs8' });
  } catch (cause) {
    throw new KeyError(
      'invalid_pkcs8',
      'The bytes are not an unencrypted PKCS#8 private key; convert the key with ' +
        '`openssl pkcs8 -topk8 -nocrypt -outform DER` and import it again.',
      { cause },
    );
  }
  const found = describeKeyObject(key);
  if (found !== algorithm) {
    throw new KeyError(
      'algorithm_mismatch',
      `The PKCS#8 key is ${found}, but it was given as ${algorithm}; ` +
        'import it under its own algorithm, or give the key that belongs to this record.',
    );
  }
}

/** The KeyAlgorithm name of a KeyObject, or a description of what it is instead. */
export function describeKeyObject(key: KeyObject): string {
  const type = key.asymmetricKeyType ?? 'unknown';
  const details = key.asymmetricKeyDetails ?? {};

  if (type === 'ec') {
    const curves: Record<string, string> = { prime256v1: 'ec-p256', secp384r1: 'ec-p384' };
    const curve = details.namedCurve ?? 'unknown';
    return curves[curve] ?? `an EC key on curve ${curve}`;
  }
  if (type === 'rsa') {
    const named = `rsa-${details.modulusLength ?? 0}`;
    return isKeyAlgorithm(named)
      ? named
      : `an RSA key with a ${details.modulusLength ?? 0}-bit modulus`;
  }
  return `a key of type ${type}`;
}

/** A public CryptoKey for a private one, through its JWK without the private members. */
async function derivePublicKey(privateKey: CryptoKey, algorithm: KeyAlgorithm): Promise<CryptoKey> {
  const jwk = await publicJwk(privateKey);
  return subtle.importKey('jwk', jwk, webCryptoParams(algorithm), true, ['verify']);
}

function base64urlMember(
  jwk: Record<string, unknown>,
  name: string,
  minBytes: number,
  maxBytes: number,
): string {
  const value = jwk[name];
  const bytes = typeof value === 'string' ? base64urlLength(value) : -1;
  if (typeof value !== 'string' || bytes < minBytes || bytes > maxBytes) {
    const size = minBytes === maxBytes ? `${minBytes}` : `${minBytes} to ${maxBytes}`;
    throw new KeyError(
      'invalid_jwk',
      `JWK member ${name} must be base64url (no padding) of ${size} bytes.`,
    );
  }
  return value;
}

/** Bytes encoded by an unpadded base64url string, or -1 if it is not one. */
function base64urlLength(text: string): number {
  if (!/^[A-Za-z0-9_-]*$/.test(text) || text.length % 4 === 1) return -1;
  return Math.floor((text.length * 3) / 4);
}
