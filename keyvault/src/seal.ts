/**
 * Sealing: AES-256-GCM under the master key, for private keys (PKCS#8 DER)
 * and the vault's master key check. A sealed value is
 *
 *   version (1 byte, 0x01) | nonce (12 random bytes) | ciphertext | tag (16 bytes)
 *
 * and its associated data binds the version and a context string that names
 * the record (`keys/<id>`), so a sealed value copied to another row, or to
 * another table, does not open. Opening never puts the bytes, sealed or
 * clear, in an error message.
 *
 * Nonces are random: AES-GCM stays safe for about 2^32 seals under one key,
 * far beyond what a vault seals between two rotations.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import type { MasterKey } from './master-key.js';

export const SEAL_VERSION = 1;
const NONCE_BYTES = 12;
const TAG_BYTES = 16;
const HEADER_BYTES = 1 + NONCE_BYTES;
const AAD_LABEL = 'gatehouse seal';
/** Sealed values are small (an RSA-4096 PKCS#8 is about 2.4 KB). */
export const MAX_SEALED_PLAINTEXT_BYTES = 64 * 1024;

export type SealErrorCode =
  'seal_malformed' | 'seal_unsupported_version' | 'seal_authentication_failed';

export class SealError extends Error {
  constructor(
    readonly code: SealErrorCode,
    /** The record whose sealed value failed, e.g. `keys/acct-1`; never secret. */
    readonly context: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'SealError';
  }
}

/** Seals `plaintext` for the record named by `context`, under `key`. */
export function seal(key: MasterKey, plaintext: Uint8Array, context: string): Buffer {
  checkContext(context);
  if (plaintext.length === 0 || plaintext.length > MAX_SEALED_PLAINTEXT_BYTES) {
    throw new RangeError(
      `seal: plaintext for ${context} has ${plaintext.length} bytes; ` +
        `it must have 1 to ${MAX_SEALED_PLAINTEXT_BYTES}`,
    );
  }

  const nonce = randomBytes(NONCE_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key.secret, nonce, { authTagLength: TAG_BYTES });
  cipher.setAAD(associatedData(SEAL_VERSION, context));
  const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return Buffer.concat([Buffer.of(SEAL_VERSION), nonce, body, cipher.getAuthTag()]);
}

/**
 * Opens a value sealed by `seal` with the same key and context. Throws
 * SealError: `seal_malformed` (too short), `seal_unsupported_version`, or
 * `seal_authentication_failed` (another key, another record, or altered).
 */
export function openSealed(key: MasterKey, sealed: Uint8Array, context: string): Buffer {
  checkContext(context);
  const bytes = Buffer.from(sealed.buffer, sealed.byteOffset, sealed.byteLength);
  if (bytes.length < HEADER_BYTES + 1 + TAG_BYTES) {
    throw new SealError(
      'seal_malformed',
      context,
      `The sealed value of ${context} is ${bytes.length} bytes long, too short to be sealed ` +
        `data; the vault was altered or damaged. Restore it from a backup.`,
    );
  }
  const version = bytes[0] ?? 0;
  if (version !== SEAL_VERSION) {
    throw new SealError(
      'seal_unsupported_version',
      context,
      `The sealed value of ${context} has format version ${version}; this keyvault reads ` +
        `only version ${SEAL_VERSION}. Run the Gatehouse version that wrote it, or restore ` +
        `the vault from a backup.`,
    );
  }

  const nonce = bytes.subarray(1, HEADER_BYTES);
  const body = bytes.subarray(HEADER_BYTES, bytes.length - TAG_BYTES);
  const tag = bytes.subarray(bytes.length - TAG_BYTES);
  const decipher = createDecipheriv('aes-256-gcm', key.secret, nonce, {
    authTagLength: TAG_BYTES,
  });
  decipher.setAAD(associatedData(version, context));
  decipher.setAuthTag(tag);
  const clear = decipher.update(body);
  let tail: Buffer;
  try {
    tail = decipher.final();
  } catch (error) {
    // GCM releases nothing before the tag checks out, but update() has
    // already produced unauthenticated bytes: wipe them.
    clear.fill(0);
    throw new SealError(
      'seal_authentication_failed',
      context,
      `The sealed value of ${context} does not open with master key ${key.id}: it was ` +
        `sealed under another master key, belongs to another record, or was altered. ` +
        `Give the master key this vault was sealed with, or restore the vault from a backup.`,
      { cause: error },
    );
  }
  const result = Buffer.concat([clear, tail]);
  clear.fill(0);
  return result;
}

function associatedData(version: number, context: string): Buffer {
  return Buffer.concat([Buffer.of(version), Buffer.from(`${AAD_LABEL}\0${context}`, 'utf8')]);
}

function checkContext(context: string): void {
  if (context.length === 0 || context.length > 256 || context.includes('\0')) {
    throw new RangeError('seal: the context must be 1 to 256 characters without NUL');
  }
}
