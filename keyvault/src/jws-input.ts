/**
 * What a caller may ask the keyvault to sign as a JWS, checked before any
 * signing: the ACME protected header members, URLs, nonces, JWKs, the EAB
 * key id and MAC key, and the payload, each bounded. The errors name the
 * field and the fix, and never hold a key or any part of one.
 */
import { KeyError, parsePublicJwk, type PublicJwk } from './keys.js';

export type MacAlgorithm = 'HS256' | 'HS384' | 'HS512';

export type JwsErrorCode =
  | 'invalid_header'
  | 'alg_not_allowed'
  | 'key_reference'
  | 'invalid_jwk'
  | 'jwk_mismatch'
  | 'invalid_url'
  | 'invalid_nonce'
  | 'invalid_kid'
  | 'invalid_payload'
  | 'payload_too_large'
  | 'unsupported_key'
  | 'same_key'
  | 'invalid_mac_key'
  | 'unsupported_mac_algorithm';

export class JwsError extends Error {
  constructor(
    readonly code: JwsErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'JwsError';
  }
}

/**
 * Bounds on what a caller may ask to sign. ACME nonces are tens of
 * characters and URLs rarely over a few hundred; the largest payload is a
 * finalize request, whose CSR with a hundred names stays far below 64 KiB.
 */
export const JWS_LIMITS = {
  maxUrlLength: 2048,
  maxNonceLength: 512,
  maxKeyIdLength: 512,
  maxPayloadBytes: 64 * 1024,
  maxMacKeyBytes: 1024,
} as const;

const HEADER_MEMBERS = new Set(['nonce', 'url', 'jwk', 'kid']);

/** Refuses `alg` and any member RFC 8555 section 6.2 does not list. */
export function checkMembers(fields: Record<string, unknown>): void {
  if (Object.hasOwn(fields, 'alg')) {
    throw new JwsError(
      'alg_not_allowed',
      'The JWS protected header must not carry alg: the keyvault sets it from the key ' +
        '(ES256, ES384 or RS256). Leave it out.',
    );
  }
  for (const name of Object.keys(fields)) {
    if (!HEADER_MEMBERS.has(name)) {
      throw new JwsError(
        'invalid_header',
        `The JWS protected header has a member ${JSON.stringify(name.slice(0, 40))} that ` +
          'ACME does not use; give only nonce, url and one of jwk / kid.',
      );
    }
  }
}

export function checkNonce(value: unknown): string {
  if (
    typeof value !== 'string' ||
    value.length === 0 ||
    value.length > JWS_LIMITS.maxNonceLength ||
    !/^[A-Za-z0-9_-]+$/.test(value)
  ) {
    throw new JwsError(
      'invalid_nonce',
      'The JWS nonce must be the Replay-Nonce the CA sent: base64url without padding, ' +
        `1 to ${JWS_LIMITS.maxNonceLength} characters (RFC 8555 section 6.5.1).`,
    );
  }
  return value;
}

/**
 * ACME URLs must be https (RFC 8555 section 6.1). Plain http passes only
 * for a loopback host, so that tests can run against a CA on this machine;
 * on loopback nothing can be intercepted on the network.
 */
export function checkUrl(
  value: unknown,
  field: string,
  code: 'invalid_url' | 'invalid_kid',
): string {
  const rule =
    `The JWS ${field} must be an https URL of at most ${JWS_LIMITS.maxUrlLength} ` +
    'characters (http only for a loopback host, for a local test CA)';
  if (typeof value !== 'string' || value.length === 0) {
    throw new JwsError(code, `${rule}; it is missing or not a string.`);
  }
  if (value.length > JWS_LIMITS.maxUrlLength || !/^[\x21-\x7e]+$/.test(value)) {
    throw new JwsError(code, `${rule}; it is too long or holds spaces or non-ASCII characters.`);
  }
  let url: URL;
  try {
    url = new URL(value);
  } catch (cause) {
    throw new JwsError(code, `${rule}; it does not parse as a URL.`, { cause });
  }
  if (url.username !== '' || url.password !== '') {
    throw new JwsError(code, `${rule}; it must not hold a user name or password.`);
  }
  if (url.protocol === 'https:' && url.hostname !== '') return value;
  if (url.protocol === 'http:' && isLoopbackHost(url.hostname)) return value;
  throw new JwsError(
    code,
    `${rule}; it is ${url.protocol}//${url.hostname.slice(0, 100)}. Use the CA's https URL.`,
  );
}

function isLoopbackHost(hostname: string): boolean {
  if (hostname === 'localhost' || hostname === '[::1]') return true;

  // The URL parser has already turned every IPv4 spelling into dotted form.
  return /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(hostname);
}

export function checkJwk(value: unknown, field: string): PublicJwk {
  try {
    return parsePublicJwk(value);
  } catch (cause) {
    const why = cause instanceof KeyError ? cause.message : 'it is not a public JWK.';
    throw new JwsError('invalid_jwk', `The ${field} JWK is not usable: ${why}`, { cause });
  }
}

/** An EAB key identifier: opaque to us, printable ASCII as CAs issue them. */
export function checkKeyId(value: unknown): string {
  if (
    typeof value !== 'string' ||
    value.length === 0 ||
    value.length > JWS_LIMITS.maxKeyIdLength ||
    !/^[\x21-\x7e]+$/.test(value)
  ) {
    throw new JwsError(
      'invalid_kid',
      'The external account binding key id must be the key identifier the CA gave: ' +
        `1 to ${JWS_LIMITS.maxKeyIdLength} printable ASCII characters without spaces.`,
    );
  }
  return value;
}

export function checkMacAlgorithm(value: unknown): MacAlgorithm {
  if (value === undefined) return 'HS256';
  if (value === 'HS256' || value === 'HS384' || value === 'HS512') return value;
  throw new JwsError(
    'unsupported_mac_algorithm',
    'The external account binding algorithm must be HS256, HS384 or HS512 ' +
      '(HS256 unless the CA asks for another).',
  );
}

/**
 * Decodes the operator's MAC key. The messages describe the key's shape
 * only: the key itself, or any part of it, must never reach a log. The
 * caller wipes the returned bytes once the key is imported.
 */
export function decodeMacKey(value: unknown): Buffer {
  const maxChars = Math.ceil((JWS_LIMITS.maxMacKeyBytes * 4) / 3);
  if (typeof value !== 'string' || value.length === 0) {
    throw new JwsError(
      'invalid_mac_key',
      'The external account binding MAC key is missing; give the HMAC key the CA issued.',
    );
  }
  if (value.length > maxChars || !/^[A-Za-z0-9_-]+$/.test(value) || value.length % 4 === 1) {
    throw new JwsError(
      'invalid_mac_key',
      'The external account binding MAC key must be base64url (A-Z a-z 0-9 - _, no ' +
        `padding), at most ${JWS_LIMITS.maxMacKeyBytes} bytes decoded, as the CA gives it; ` +
        'check it was copied whole.',
    );
  }
  return Buffer.from(value, 'base64url');
}

export function encodePayload(payload: unknown): string {
  if (typeof payload !== 'object' || payload === null || Array.isArray(payload)) {
    throw new JwsError(
      'invalid_payload',
      'An ACME JWS payload must be a JSON object (RFC 8555 section 7); ' +
        'for POST-as-GET use the empty payload.',
    );
  }
  let json: string;
  try {
    json = JSON.stringify(payload);
  } catch (cause) {
    throw new JwsError('invalid_payload', 'The JWS payload cannot be written as JSON.', { cause });
  }
  const bytes = Buffer.from(json, 'utf8');
  if (bytes.length > JWS_LIMITS.maxPayloadBytes) {
    throw new JwsError(
      'payload_too_large',
      `The JWS payload is ${bytes.length} bytes of JSON, more than the ` +
        `${JWS_LIMITS.maxPayloadBytes} any ACME request needs.`,
    );
  }
  return bytes.toString('base64url');
}

export function asRecord(value: unknown, what: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new JwsError('invalid_header', `${what} must be an object.`);
  }
  return value as Record<string, unknown>;
}
