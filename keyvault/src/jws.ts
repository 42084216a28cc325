/**
 * JWS for ACME: RFC 7515 flattened JSON serialization as RFC 8555 section
 * 6.2 uses it, signed with an account key, and the two JWS that ride inside
 * another: the inner JWS of a key change (section 7.3.5) and External
 * Account Binding (section 7.3.4, HMAC with a key the operator gives).
 *
 * The keyvault is a signing oracle for whoever may call it, so it signs
 * only ACME-shaped messages: the caller gives nonce, url and exactly one of
 * jwk / kid, never `alg` (it follows from the key) and no other member, and
 * a payload that is a JSON object or empty (POST-as-GET). Every field is
 * checked and bounded before any signing; errors name the field and never
 * hold key material or the MAC key.
 */
import { webcrypto } from 'node:crypto';
import {
  KeyError,
  jwkThumbprint,
  keyAlgorithmOf,
  publicJwk,
  type CryptoKey,
  type PublicJwk,
} from './keys.js';
import {
  asRecord,
  checkJwk,
  checkKeyId,
  checkMacAlgorithm,
  checkMembers,
  checkNonce,
  checkUrl,
  decodeMacKey,
  encodePayload,
  JwsError,
  type MacAlgorithm,
} from './jws-input.js';

export { JWS_LIMITS, JwsError, type JwsErrorCode, type MacAlgorithm } from './jws-input.js';

const { subtle } = webcrypto;

export type JwsAlgorithm = 'ES256' | 'ES384' | 'RS256';

export type JsonValue = string | number | boolean | null | JsonValue[] | JsonObject;
export type JsonObject = { [member: string]: JsonValue };

/** RFC 7515 section 7.2.2, without the unprotected header ACME forbids. */
export type FlattenedJws = { protected: string; payload: string; signature: string };

/** The protected header members a caller gives; RFC 8555 section 6.2. */
export interface AcmeHeader {
  nonce: string;
  url: string;
  /** The signing key's public JWK: for newAccount and revocation by certificate key. */
  jwk?: PublicJwk;
  /** The account URL: for every other request. */
  kid?: string;
}

export interface KeyChangeRequest {
  /** The keyChange URL from the directory; the outer JWS carries the same url. */
  url: string;
  /** The account URL. */
  account: string;
  /** The public JWK of the account's current key, which signs the outer JWS. */
  oldKey: PublicJwk;
}

export interface ExternalAccountBindingRequest {
  /** The public JWK of the new account key: the outer JWS's jwk. */
  accountKey: PublicJwk;
  /** The key identifier the CA gave with the MAC key. */
  keyId: string;
  /** The MAC key the CA gave, base64url. It never appears in an error. */
  macKey: string;
  /** The newAccount URL. */
  url: string;
  /** HS256 unless the CA asks for another. */
  algorithm?: MacAlgorithm;
}

/** The JWS `alg` a private key signs with; a JwsError for any other key. */
export function jwsAlgorithm(privateKey: CryptoKey): JwsAlgorithm {
  if (privateKey.type !== 'private' || !privateKey.usages.includes('sign')) {
    throw new JwsError(
      'unsupported_key',
      `A JWS is signed with a private key that may sign; this is a ${privateKey.type} key.`,
    );
  }
  let algorithm;
  try {
    algorithm = keyAlgorithmOf(privateKey);
  } catch (cause) {
    const why = cause instanceof KeyError ? cause.message : 'The key is of no known algorithm.';
    throw new JwsError('unsupported_key', `Cannot sign a JWS: ${why}`, { cause });
  }
  if (algorithm === 'ec-p256') return 'ES256';
  if (algorithm === 'ec-p384') return 'ES384';
  return 'RS256';
}

/** A JWS over a JSON object payload, for every ACME POST that has a body. */
export async function signJws(
  privateKey: CryptoKey,
  header: AcmeHeader,
  payload: JsonObject,
): Promise<FlattenedJws> {
  const payloadB64 = encodePayload(payload);
  return signAcme(privateKey, header, payloadB64);
}

/** A JWS with the empty payload: POST-as-GET, RFC 8555 section 6.3. */
export async function signPostAsGet(
  privateKey: CryptoKey,
  header: AcmeHeader,
): Promise<FlattenedJws> {
  return signAcme(privateKey, header, '');
}

/**
 * The inner JWS of a key change (RFC 8555 section 7.3.5), signed by the
 * new key. The caller sends it as the payload of an outer JWS to the same
 * url, signed by the old key with the account URL as kid.
 */
export async function signKeyChangeInner(
  newPrivateKey: CryptoKey,
  request: KeyChangeRequest,
): Promise<FlattenedJws> {
  const alg = jwsAlgorithm(newPrivateKey);
  const fields = asRecord(request, 'The key change request');
  const url = checkUrl(fields.url, 'url', 'invalid_url');
  const account = checkUrl(fields.account, 'account', 'invalid_url');
  const oldKey = checkJwk(fields.oldKey, 'oldKey');

  const newKey = await signerJwk(newPrivateKey);
  if (jwkThumbprint(newKey) === jwkThumbprint(oldKey)) {
    throw new JwsError(
      'same_key',
      'A key change needs a new key: the one given is the account key already. ' +
        'Make a new key pair and sign with it.',
    );
  }

  // The inner header has no nonce: RFC 8555 section 7.3.5 forbids one.
  const header = { alg, jwk: newKey, url };
  return sign(newPrivateKey, alg, header, encodePayload({ account, oldKey }));
}

/**
 * The externalAccountBinding member of a newAccount payload (RFC 8555
 * section 7.3.4): a MAC over the account's public JWK with the key the CA
 * gave the operator.
 */
export async function signExternalAccountBinding(
  request: ExternalAccountBindingRequest,
): Promise<FlattenedJws> {
  const fields = asRecord(request, 'The external account binding request');
  const alg = checkMacAlgorithm(fields.algorithm);
  const accountKey = checkJwk(fields.accountKey, 'accountKey');
  const kid = checkKeyId(fields.keyId);
  const url = checkUrl(fields.url, 'url', 'invalid_url');
  const macKey = await importMacKey(fields.macKey, alg);

  const protectedB64 = encodeJson({ alg, kid, url });
  const payloadB64 = encodeJson(accountKey);
  const input = Buffer.from(`${protectedB64}.${payloadB64}`, 'ascii');
  const mac = await subtle.sign('HMAC', macKey, input);
  return { protected: protectedB64, payload: payloadB64, signature: base64url(mac) };
}

async function signAcme(
  privateKey: CryptoKey,
  header: AcmeHeader,
  payloadB64: string,
): Promise<FlattenedJws> {
  const alg = jwsAlgorithm(privateKey);
  const fields = asRecord(header, 'The JWS protected header');
  checkMembers(fields);

  const nonce = checkNonce(fields.nonce);
  const url = checkUrl(fields.url, 'url', 'invalid_url');
  if ((fields.jwk === undefined) === (fields.kid === undefined)) {
    throw new JwsError(
      'key_reference',
      'The JWS protected header must have exactly one of jwk (newAccount, or revocation by ' +
        `certificate key) and kid (the account URL, for everything else); it has ` +
        `${fields.jwk === undefined ? 'neither' : 'both'}.`,
    );
  }

  if (fields.kid !== undefined) {
    const kid = checkUrl(fields.kid, 'kid', 'invalid_kid');
    return sign(privateKey, alg, { alg, kid, nonce, url }, payloadB64);
  }

  const jwk = checkJwk(fields.jwk, 'jwk');
  if (jwkThumbprint(jwk) !== jwkThumbprint(await signerJwk(privateKey))) {
    throw new JwsError(
      'jwk_mismatch',
      'The jwk in the JWS protected header is not the public key of the signing key; ' +
        'give the public JWK of the same account key, or use kid.',
    );
  }
  return sign(privateKey, alg, { alg, jwk, nonce, url }, payloadB64);
}

/** Signs the JWS signing input (RFC 7515 section 5.1) and assembles the result. */
async function sign(
  privateKey: CryptoKey,
  alg: JwsAlgorithm,
  header: object,
  payloadB64: string,
): Promise<FlattenedJws> {
  const protectedB64 = encodeJson(header);
  const input = Buffer.from(`${protectedB64}.${payloadB64}`, 'ascii');

  // WebCrypto's ECDSA gives r||s, each as long as the curve's order: the
  // form RFC 7518 section 3.4 asks for, not the DER of X.509 signatures.
  const signature = await subtle.sign(SIGN_PARAMS[alg], privateKey, input);
  return { protected: protectedB64, payload: payloadB64, signature: base64url(signature) };
}

const SIGN_PARAMS: Record<JwsAlgorithm, webcrypto.AlgorithmIdentifier | webcrypto.EcdsaParams> = {
  ES256: { name: 'ECDSA', hash: 'SHA-256' },
  ES384: { name: 'ECDSA', hash: 'SHA-384' },
  RS256: { name: 'RSASSA-PKCS1-v1_5' },
};

async function signerJwk(privateKey: CryptoKey): Promise<PublicJwk> {
  try {
    return await publicJwk(privateKey);
  } catch (cause) {
    throw new JwsError('unsupported_key', 'The signing key has no public JWK.', { cause });
  }
}

/** The operator's MAC key as a WebCrypto key; the decoded bytes are wiped after import. */
async function importMacKey(value: unknown, alg: MacAlgorithm): Promise<webcrypto.CryptoKey> {
  const bytes = decodeMacKey(value);
  try {
    return await subtle.importKey(
      'raw',
      bytes,
      { name: 'HMAC', hash: `SHA-${alg.slice(2)}` },
      false,
      ['sign'],
    );
  } finally {
    bytes.fill(0);
  }
}

function encodeJson(value: object): string {
  return Buffer.from(JSON.stringify(value), 'utf8').toString('base64url');
}

function base64url(bytes: ArrayBuffer): string {
  return Buffer.from(bytes).toString('base64url');
}
