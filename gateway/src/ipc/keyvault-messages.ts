/**
 * What other processes may ask of the keyvault, and what it answers. No
 * answer ever holds an ACME account private key; only `keyvault.bundle`
 * returns a private key (a certificate's, to serve it), and only workers
 * may send it.
 */
import { z } from 'zod';

const KEY_ALGORITHMS = ['ec-p256', 'ec-p384', 'rsa-2048', 'rsa-3072', 'rsa-4096'] as const;

/** A keyvault record id: a prefix and random base64url characters. */
export const recordId = z
  .string()
  .min(4)
  .max(80)
  .regex(/^[a-z]+_[A-Za-z0-9_-]+$/, 'must be a keyvault id such as key_3x9...');

/** An ACME identifier (RFC 8555 section 9.7.7, RFC 8738); the keyvault normalizes and checks it. */
export const identifier = z
  .object({ type: z.enum(['dns', 'ip']), value: z.string().min(1).max(253) })
  .strict();

const url = z.url({ protocol: /^https?$/ }).max(2048);
const pem = z.string().max(256 * 1024);
const publicJwk = z.record(z.string().max(16), z.string().max(1024));

/** RFC 7515 flattened JSON serialization. */
export const flattenedJws = z
  .object({
    protected: z.string().max(8192),
    payload: z.string().max(512 * 1024),
    signature: z.string().max(1024),
  })
  .strict();

const certificateSummary = z
  .object({
    certificateId: recordId,
    keyId: recordId,
    identifiers: z.array(identifier).max(100),
    notBefore: z.string().max(40),
    notAfter: z.string().max(40),
    issuer: z.string().max(1024),
    serial: z.string().max(128),
    ariCertId: z.string().max(512).nullable(),
    /** The ACME directory URL of the CA that issued it; null for imported and local-CA ones. */
    directoryUrl: url.nullable(),
    /** When the acme-agent revoked it at its CA (ISO 8601); null when it did not. */
    revokedAt: z.string().max(40).nullable(),
  })
  .strict();

export const KEYVAULT_REQUESTS = {
  'keyvault.account-key': {
    handledBy: 'keyvault',
    senders: ['acme-agent'],
    timeoutMs: 30_000,
    /** Get or create the account key for a CA; calling again returns the same key. */
    payload: z.object({ directoryUrl: url, algorithm: z.enum(KEY_ALGORITHMS).optional() }).strict(),
    result: z.object({ keyId: recordId, jwk: publicJwk, thumbprint: z.string().max(64) }).strict(),
  },
  'keyvault.sign-jws': {
    handledBy: 'keyvault',
    senders: ['acme-agent'],
    timeoutMs: 5_000,
    /**
     * Sign an ACME request (RFC 8555 section 6.2) with an account key.
     * `kid` absent: the header carries the public JWK (newAccount,
     * revokeCert by certificate key). `payload` null: POST-as-GET.
     */
    payload: z
      .object({
        keyId: recordId,
        url,
        nonce: z.string().min(1).max(256),
        kid: url.optional(),
        payload: z.unknown(),
      })
      .strict(),
    result: flattenedJws,
  },
  'keyvault.key-change': {
    handledBy: 'keyvault',
    senders: ['acme-agent'],
    timeoutMs: 30_000,
    /**
     * RFC 8555 section 7.3.5: a new account key (kept, not yet the
     * account's) and the keyChange request, its inner JWS signed by the new
     * key inside an outer JWS signed by the current one. The account moves
     * to the new key with keyvault.key-change-done once the CA accepted it.
     */
    payload: z
      .object({
        directoryUrl: url,
        accountUrl: url,
        url,
        nonce: z.string().min(1).max(256),
        algorithm: z.enum(KEY_ALGORITHMS).optional(),
      })
      .strict(),
    result: z.object({ newKeyId: recordId, jwk: publicJwk, jws: flattenedJws }).strict(),
  },
  'keyvault.key-change-done': {
    handledBy: 'keyvault',
    senders: ['acme-agent'],
    timeoutMs: 5_000,
    /** The CA accepted the key change: the account's key is now `newKeyId`. */
    payload: z.object({ directoryUrl: url, newKeyId: recordId }).strict(),
    result: z.object({ keyId: recordId, jwk: publicJwk, thumbprint: z.string().max(64) }).strict(),
  },
  'keyvault.external-account-binding': {
    handledBy: 'keyvault',
    senders: ['acme-agent'],
    timeoutMs: 5_000,
    /** RFC 8555 section 7.3.4: the MAC key is the operator's, base64url; never logged. */
    payload: z
      .object({
        keyId: recordId,
        url,
        eabKeyId: z.string().min(1).max(256),
        hmacKey: z.string().min(1).max(512),
        algorithm: z.enum(['HS256', 'HS384', 'HS512']).optional(),
      })
      .strict(),
    result: flattenedJws,
  },
  'keyvault.csr': {
    handledBy: 'keyvault',
    senders: ['acme-agent'],
    timeoutMs: 30_000,
    /** A CSR (RFC 2986) for the identifiers, with a new key or one reused. */
    payload: z
      .object({
        identifiers: z.array(identifier).min(1).max(100),
        key: z.union([
          z.object({ reuse: recordId }).strict(),
          z.object({ algorithm: z.enum(KEY_ALGORITHMS) }).strict(),
        ]),
      })
      .strict(),
    result: z.object({ keyId: recordId, csr: z.string().max(64 * 1024) }).strict(),
  },
  'keyvault.challenge-certificate': {
    handledBy: 'keyvault',
    senders: ['acme-agent'],
    timeoutMs: 5_000,
    /** A tls-alpn-01 certificate (RFC 8737 section 3); its key stays in the keyvault. */
    payload: z.object({ identifier, keyAuthorization: z.string().min(1).max(512) }).strict(),
    result: z.object({ challengeId: recordId, certificatePem: pem }).strict(),
  },
  'keyvault.store-chain': {
    handledBy: 'keyvault',
    senders: ['acme-agent'],
    timeoutMs: 5_000,
    /**
     * Keep an issued certificate chain after checking it against its key and
     * identifiers; `directoryUrl` names the CA that issued it.
     */
    payload: z
      .object({
        keyId: recordId,
        identifiers: z.array(identifier).min(1).max(100),
        chainPem: pem,
        directoryUrl: url.optional(),
      })
      .strict(),
    result: certificateSummary,
  },
  'keyvault.certificate-revoked': {
    handledBy: 'keyvault',
    senders: ['acme-agent'],
    timeoutMs: 5_000,
    /** The CA revoked this certificate (RFC 8555 section 7.6): keep that, across restarts. */
    payload: z.object({ certificateId: recordId }).strict(),
    result: certificateSummary,
  },
  'keyvault.certificate-chain': {
    handledBy: 'keyvault',
    senders: ['acme-agent'],
    timeoutMs: 5_000,
    /** A stored certificate's chain (no key), to revoke it (RFC 8555 section 7.6); null when none. */
    payload: z.object({ certificateId: recordId }).strict(),
    result: z.object({ chainPem: pem }).strict().nullable(),
  },
  'keyvault.bundle': {
    handledBy: 'keyvault',
    senders: ['worker'],
    timeoutMs: 5_000,
    /** The newest valid chain and its key for a name, to serve it; null when there is none. */
    payload: z.object({ identifier }).strict(),
    result: z.object({ certificateId: recordId, chainPem: pem, keyPem: pem }).strict().nullable(),
  },
  'keyvault.certificates': {
    handledBy: 'keyvault',
    // The acme-agent reads dates and names (no keys) to plan renewals.
    senders: ['supervisor', 'acme-agent'],
    timeoutMs: 5_000,
    payload: z.object({}).strict(),
    result: z.object({ certificates: z.array(certificateSummary).max(100_000) }).strict(),
  },
  'keyvault.import-certificate': {
    handledBy: 'keyvault',
    senders: ['supervisor'],
    timeoutMs: 10_000,
    /**
     * A certificate chain and its key that the operator uploads (PEM; the
     * key as PKCS#8, SEC1 or PKCS#1, unencrypted), checked as issued chains
     * are: the key matches the leaf, each certificate signs the one before.
     */
    payload: z.object({ chainPem: pem, keyPem: z.string().max(16 * 1024) }).strict(),
    result: certificateSummary,
  },
  'keyvault.delete-certificate': {
    handledBy: 'keyvault',
    senders: ['supervisor'],
    timeoutMs: 5_000,
    /** Delete a certificate (and its key, when nothing else uses it). */
    payload: z.object({ certificateId: recordId }).strict(),
    result: z.object({ deleted: z.boolean() }).strict(),
  },
  'keyvault.rotate-master-key': {
    handledBy: 'keyvault',
    senders: ['supervisor'],
    timeoutMs: 60_000,
    /**
     * Re-seal every key under a new master key in <data>/master.key, in one
     * transaction. Refused when the key comes from GATEHOUSE_MASTER_KEY.
     */
    payload: z.object({}).strict(),
    result: z
      .object({ masterKeyId: z.string().max(64), resealed: z.number().int().min(0) })
      .strict(),
  },
  'keyvault.ca-root': {
    handledBy: 'keyvault',
    senders: ['supervisor'],
    timeoutMs: 5_000,
    /** The local CA's root certificate, for the operator to trust. */
    payload: z.object({}).strict(),
    result: z.object({ certificatePem: pem }).strict(),
  },
} as const;
