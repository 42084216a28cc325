/**
 * What the vault store accepts, and the checks every write passes before
 * it touches the database: ids, identifiers, sizes, URLs, times, and that a
 * private key is what its row says (algorithm, public JWK, RFC 7638
 * thumbprint). A failed check throws StoreError `invalid_input` naming the
 * field; no message ever quotes key material.
 */
import { KeyObject, createPrivateKey, createPublicKey } from 'node:crypto';
import { isIP } from 'node:net';
import { isKeyAlgorithm, type KeyAlgorithm } from './algorithms.js';
import { describeKeyObject, jwkThumbprint, parsePublicJwk, type PublicJwk } from './keys.js';

export type StoreErrorCode =
  | 'invalid_input'
  | 'conflict'
  | 'unknown_key'
  | 'unknown_certificate'
  | 'wrong_key_purpose'
  | 'key_in_use'
  | 'closed'
  | 'schema_too_new'
  | 'vault_unreadable'
  | 'vault_inconsistent';

export class StoreError extends Error {
  constructor(
    readonly code: StoreErrorCode,
    message: string,
    options?: { cause?: unknown; field?: string },
  ) {
    super(message, options);
    this.name = 'StoreError';
    this.field = options?.field;
  }

  /** For `invalid_input`: the field that was refused, e.g. `identifiers[2].value`. */
  readonly field: string | undefined;
}

export const KEY_PURPOSES = ['account', 'certificate', 'challenge', 'ca'] as const;
export type KeyPurpose = (typeof KEY_PURPOSES)[number];

/** An ACME identifier (RFC 8555 §9.7.7; `ip` per RFC 8738). Compared exactly as given. */
export interface Identifier {
  type: 'dns' | 'ip';
  value: string;
}

export type { PublicJwk };

/** A private key to store, as the caller's WebCrypto export gave it. */
export interface NewKey {
  id: string;
  algorithm: KeyAlgorithm;
  purpose: KeyPurpose;
  /** PKCS#8 DER of the private key; sealed before it is written. */
  pkcs8: Uint8Array;
  /** The public JWK; members other than the public ones are dropped, private ones refused. */
  publicJwk: Readonly<Record<string, unknown>>;
  /** RFC 7638 thumbprint (SHA-256, base64url) of the public JWK. */
  thumbprint: string;
}

/**
 * A private key the keyvault has just generated, handed over as the key
 * itself: the store derives the PKCS#8, the public JWK and the thumbprint
 * from it, so there is nothing to cross-check and no PKCS#8 to parse again
 * (parsing costs more than generating a P-256 key).
 */
export interface NewKeyObject {
  id: string;
  purpose: KeyPurpose;
  privateKey: KeyObject;
}

export interface CheckedKey {
  id: string;
  algorithm: KeyAlgorithm;
  purpose: KeyPurpose;
  pkcs8: Buffer;
  publicJwk: PublicJwk;
  thumbprint: string;
}

export const LIMITS = {
  idLength: 64,
  pkcs8Bytes: 8 * 1024,
  urlLength: 2048,
  chainPemLength: 256 * 1024,
  certificatePemLength: 16 * 1024,
  identifiers: 100,
  replaces: 100,
  issuerLength: 1024,
  serialHexLength: 64,
  ariCertIdLength: 512,
} as const;

const ID = /^[A-Za-z0-9_-]+$/;
const DNS_LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;
const PRIVATE_JWK_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'];

export function invalid(field: string, message: string, cause?: unknown): StoreError {
  return new StoreError('invalid_input', `${field}: ${message}`, { field, cause });
}

/** Record ids: 1 to 64 of A-Z a-z 0-9 _ -, chosen by the caller (see newRecordId). */
export function checkId(value: unknown, field: string): string {
  if (typeof value !== 'string' || value.length === 0 || value.length > LIMITS.idLength) {
    throw invalid(field, `must be a string of 1 to ${LIMITS.idLength} characters`);
  }
  if (!ID.test(value)) throw invalid(field, 'may hold only A-Z, a-z, 0-9, "_" and "-"');
  return value;
}

export function checkTime(value: unknown, field: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw invalid(field, 'must be a whole number of milliseconds since the Unix epoch');
  }
  return value;
}

export function checkText(value: unknown, field: string, maxLength: number): string {
  if (typeof value !== 'string' || value.length === 0 || value.length > maxLength) {
    throw invalid(field, `must be a string of 1 to ${maxLength} characters`);
  }
  return value;
}

export function checkUrl(value: unknown, field: string): string {
  const text = checkText(value, field, LIMITS.urlLength);
  let url: URL;
  try {
    url = new URL(text);
  } catch (error) {
    throw invalid(field, 'is not a URL', error);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw invalid(field, `must be an https or http URL (got ${url.protocol})`);
  }
  return text;
}

/** PEM text of certificates only: a private key block in it would be stored in clear. */
export function checkCertificatePem(value: unknown, field: string, maxLength: number): string {
  const text = checkText(value, field, maxLength);
  if (/PRIVATE KEY/.test(text)) {
    throw invalid(field, 'holds a private key; give certificates only (the key goes apart)');
  }
  if (!text.includes('-----BEGIN CERTIFICATE-----')) {
    throw invalid(field, 'holds no PEM certificate (-----BEGIN CERTIFICATE-----)');
  }
  return text;
}

export function checkIdentifier(value: unknown, field: string): Identifier {
  if (typeof value !== 'object' || value === null) {
    throw invalid(field, 'must be an identifier { type, value }');
  }
  const { type, value: name } = value as Record<string, unknown>;
  if (type !== 'dns' && type !== 'ip') throw invalid(`${field}.type`, 'must be "dns" or "ip"');
  if (typeof name !== 'string' || name.length === 0 || name.length > 253) {
    throw invalid(`${field}.value`, 'must be a string of 1 to 253 characters');
  }
  if (type === 'ip') {
    if (isIP(name) === 0) throw invalid(`${field}.value`, 'is not an IPv4 or IPv6 address');
    return { type, value: name };
  }

  const labels = (name.startsWith('*.') ? name.slice(2) : name).split('.');
  if (!labels.every((label) => DNS_LABEL.test(label))) {
    throw invalid(
      `${field}.value`,
      'is not a lowercase DNS name (labels of a-z, 0-9 and inner "-"; ' +
        'a wildcard only as "*." first)',
    );
  }
  return { type, value: name };
}

export function checkIdentifiers(value: unknown, field: string, min: number): Identifier[] {
  if (!Array.isArray(value) || value.length < min || value.length > LIMITS.identifiers) {
    throw invalid(field, `must be an array of ${min} to ${LIMITS.identifiers} identifiers`);
  }
  const seen = new Set<string>();
  return value.map((item, index) => {
    const identifier = checkIdentifier(item, `${field}[${index}]`);
    const key = `${identifier.type}:${identifier.value}`;
    if (seen.has(key)) throw invalid(`${field}[${index}]`, 'repeats an earlier identifier');
    seen.add(key);
    return identifier;
  });
}

export function checkBytes(value: unknown, field: string, min: number, max: number): Buffer {
  if (!(value instanceof Uint8Array) || value.length < min || value.length > max) {
    throw invalid(field, `must be ${min === max ? min : `${min} to ${max}`} bytes`);
  }
  return Buffer.from(value);
}

export function checkPurpose(value: unknown, field: string): KeyPurpose {
  if (typeof value !== 'string' || !(KEY_PURPOSES as readonly string[]).includes(value)) {
    throw invalid(field, `must be one of ${KEY_PURPOSES.join(', ')}`);
  }
  return value as KeyPurpose;
}

/**
 * Checks a key completely. Given as PKCS#8: it parses, is of the named
 * algorithm, and matches the public JWK, whose thumbprint is the one given.
 * Given as a KeyObject: it is a private key of an algorithm the keyvault
 * knows, and everything else is derived from it.
 */
export function checkNewKey(input: NewKey | NewKeyObject, field = 'key'): CheckedKey {
  if (typeof input !== 'object' || input === null) throw invalid(field, 'must be an object');
  if ('privateKey' in input) return checkNewKeyObject(input, field);
  const id = checkId(input.id, `${field}.id`);
  if (typeof input.algorithm !== 'string' || !isKeyAlgorithm(input.algorithm)) {
    throw invalid(`${field}.algorithm`, 'is not a key algorithm this keyvault knows');
  }
  const algorithm = input.algorithm;
  const purpose = checkPurpose(input.purpose, `${field}.purpose`);
  const pkcs8 = checkBytes(input.pkcs8, `${field}.pkcs8`, 1, LIMITS.pkcs8Bytes);

  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey({ key: pkcs8, format: 'der', type: 'pkcs8' });
  } catch (error) {
    pkcs8.fill(0);
    throw invalid(`${field}.pkcs8`, 'is not a PKCS#8 private key', error);
  }
  try {
    checkAlgorithm(privateKey, algorithm, `${field}.pkcs8`);
    const publicJwk = checkPublicJwk(input.publicJwk, privateKey, `${field}.publicJwk`);
    const thumbprint = checkText(input.thumbprint, `${field}.thumbprint`, 64);
    if (thumbprint !== jwkThumbprint(publicJwk)) {
      throw invalid(`${field}.thumbprint`, 'is not the RFC 7638 thumbprint of the public JWK');
    }
    return { id, algorithm, purpose, pkcs8, publicJwk, thumbprint };
  } catch (error) {
    pkcs8.fill(0);
    throw error;
  }
}

function checkNewKeyObject(input: NewKeyObject, field: string): CheckedKey {
  const id = checkId(input.id, `${field}.id`);
  const purpose = checkPurpose(input.purpose, `${field}.purpose`);
  const { privateKey } = input;
  if (!(privateKey instanceof KeyObject) || privateKey.type !== 'private') {
    throw invalid(`${field}.privateKey`, 'must be a private KeyObject');
  }
  const algorithm = describeKeyObject(privateKey);
  if (!isKeyAlgorithm(algorithm)) {
    throw invalid(
      `${field}.privateKey`,
      `is ${algorithm}, not a key algorithm this keyvault knows`,
    );
  }
  const publicJwk = parsePublicJwk(createPublicKey(privateKey).export({ format: 'jwk' }));
  const pkcs8 = privateKey.export({ type: 'pkcs8', format: 'der' });
  return { id, algorithm, purpose, pkcs8, publicJwk, thumbprint: jwkThumbprint(publicJwk) };
}

function checkAlgorithm(key: KeyObject, algorithm: KeyAlgorithm, field: string): void {
  const actual = describeKeyObject(key);
  if (actual !== algorithm) throw invalid(field, `is ${actual}, not ${algorithm}`);
}

function checkPublicJwk(value: unknown, privateKey: KeyObject, field: string): PublicJwk {
  if (typeof value !== 'object' || value === null) throw invalid(field, 'must be a JWK object');
  const given = value as Record<string, unknown>;
  const secret = PRIVATE_JWK_MEMBERS.filter((member) => member in given);
  if (secret.length > 0) {
    throw invalid(field, `holds private members (${secret.join(', ')}); give the public JWK only`);
  }

  const jwk = parsePublicJwk(createPublicKey(privateKey).export({ format: 'jwk' }));
  for (const [member, expected] of Object.entries(jwk)) {
    if (given[member] !== expected) {
      throw invalid(field, `member "${member}" does not match the private key`);
    }
  }
  return jwk;
}
