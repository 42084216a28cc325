/**
 * The records of the vault store: what callers give and get back, the rows
 * as SQLite returns them, and the conversions and checks between the two.
 * Times are milliseconds since the Unix epoch.
 */
import type { KeyAlgorithm } from './algorithms.js';
import {
  LIMITS,
  checkCertificatePem,
  checkId,
  checkIdentifiers,
  checkNewKey,
  checkText,
  checkTime,
  checkUrl,
  invalid,
  type CheckedKey,
  type Identifier,
  type KeyPurpose,
  type NewKey,
  type NewKeyObject,
  type PublicJwk,
} from './store-input.js';

/** The sealing context of a key: binds the sealed value to its row. */
export function keyContext(id: string): string {
  return `keys/${id}`;
}

export interface StoredKey {
  id: string;
  algorithm: KeyAlgorithm;
  purpose: KeyPurpose;
  publicJwk: PublicJwk;
  thumbprint: string;
  createdAt: number;
}

export interface NewAccount {
  id: string;
  /** The CA's directory URL; one account per directory. */
  directoryUrl: string;
  /** An `account` key, stored already or given as `key` (then `key.id` must equal it). */
  keyId: string;
  key?: NewKey;
  /** The account URL the CA returned (RFC 8555 §7.3), once known. */
  accountUrl?: string;
}

export interface Account {
  id: string;
  directoryUrl: string;
  keyId: string;
  accountUrl: string | undefined;
  createdAt: number;
}

export interface NewCertificate {
  id: string;
  /** A `certificate` or `ca` key, stored already or given as `key` (`key.id` equal to it). */
  keyId: string;
  key?: NewKey;
  chainPem: string;
  /** At least one, except for a certificate whose key is a `ca` key. */
  identifiers: Identifier[];
  notBefore: number;
  notAfter: number;
  issuer: string;
  /** Hex of the certificate serial number. */
  serial: string;
  /** RFC 9773 certificate id (base64url AKI keyIdentifier "." base64url serial). */
  ariCertId?: string;
  /** Certificates this one replaces; they are kept, marked, until pruned after they expire. */
  replaces?: string[];
  /** The ACME directory URL of the CA that issued it; absent for imported and local-CA ones. */
  directoryUrl?: string;
}

export interface CertificateInfo {
  id: string;
  keyId: string;
  identifiers: Identifier[];
  notBefore: number;
  notAfter: number;
  issuer: string;
  serial: string;
  ariCertId: string | undefined;
  createdAt: number;
  /** The certificate that replaced this one (which may since have been deleted). */
  replacedBy: string | undefined;
  /** The ACME directory URL of the CA that issued it, when known. */
  directoryUrl: string | undefined;
  /** When it was revoked at the CA. */
  revokedAt: number | undefined;
}

export interface StoredCertificate extends CertificateInfo {
  chainPem: string;
}

/** What a worker serves for an identifier: the chain and its private key (PKCS#8 DER). */
export interface Bundle {
  certificate: StoredCertificate;
  pkcs8: Buffer;
}

export interface NewChallengeCertificate {
  identifier: Identifier;
  /** SHA-256 of the key authorization (RFC 8737 §3), 32 bytes. */
  keyAuthorizationDigest: Uint8Array;
  certificatePem: string;
  /** A fresh `challenge` key, stored with the certificate. */
  key: NewKey | NewKeyObject;
  expiresAt: number;
}

export interface ChallengeCertificate {
  identifier: Identifier;
  keyAuthorizationDigest: Buffer;
  certificatePem: string;
  keyId: string;
  expiresAt: number;
  createdAt: number;
}

export interface VaultStats {
  path: string;
  masterKeyId: string;
  schemaVersion: number;
  journalMode: string;
  synchronous: number;
  keys: number;
  accounts: number;
  certificates: number;
  challengeCertificates: number;
}

export interface KeyRow {
  id: string;
  algorithm: KeyAlgorithm;
  purpose: KeyPurpose;
  sealed: Buffer;
  public_jwk: string;
  thumbprint: string;
  created_at: number;
}

export interface AccountRow {
  id: string;
  directory_url: string;
  key_id: string;
  account_url: string | null;
  created_at: number;
}

export interface CertificateRow {
  id: string;
  key_id: string;
  chain_pem: string;
  identifiers: string;
  not_before: number;
  not_after: number;
  issuer: string;
  serial: string;
  ari_cert_id: string | null;
  created_at: number;
  replaced_by: string | null;
  directory_url: string | null;
  revoked_at: number | null;
}

export interface ChallengeRow {
  identifier_type: 'dns' | 'ip';
  identifier_value: string;
  key_authorization_digest: Buffer;
  certificate_pem: string;
  key_id: string;
  expires_at: number;
  created_at: number;
}

export function checkNewKeyFor(key: NewKey, keyId: string): CheckedKey {
  const checked = checkNewKey(key, 'key');
  if (checked.id !== keyId) {
    checked.pkcs8.fill(0);
    throw invalid('key.id', `must equal keyId (${keyId})`);
  }
  return checked;
}

export function checkNewCertificate(input: NewCertificate): Required<
  Omit<NewCertificate, 'key' | 'ariCertId' | 'directoryUrl'>
> & {
  ariCertId: string | undefined;
  directoryUrl: string | undefined;
} {
  const notBefore = checkTime(input.notBefore, 'notBefore');
  const notAfter = checkTime(input.notAfter, 'notAfter');
  if (notAfter <= notBefore) throw invalid('notAfter', 'must be later than notBefore');
  const serial = checkText(input.serial, 'serial', LIMITS.serialHexLength);
  if (!/^[0-9a-fA-F]+$/.test(serial)) throw invalid('serial', 'must be hexadecimal');
  const ariCertId =
    input.ariCertId === undefined
      ? undefined
      : checkText(input.ariCertId, 'ariCertId', LIMITS.ariCertIdLength);
  if (ariCertId !== undefined && !/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/.test(ariCertId)) {
    throw invalid('ariCertId', 'must be base64url "." base64url (RFC 9773 §4.1)');
  }
  const replaces = input.replaces ?? [];
  if (!Array.isArray(replaces) || replaces.length > LIMITS.replaces) {
    throw invalid('replaces', `must be an array of at most ${LIMITS.replaces} certificate ids`);
  }
  return {
    id: checkId(input.id, 'id'),
    keyId: checkId(input.keyId, 'keyId'),
    chainPem: checkCertificatePem(input.chainPem, 'chainPem', LIMITS.chainPemLength),
    identifiers: checkIdentifiers(input.identifiers, 'identifiers', 0),
    notBefore,
    notAfter,
    issuer: checkText(input.issuer, 'issuer', LIMITS.issuerLength),
    serial,
    ariCertId,
    replaces: replaces.map((id, index) => checkId(id, `replaces[${index}]`)),
    directoryUrl:
      input.directoryUrl === undefined ? undefined : checkUrl(input.directoryUrl, 'directoryUrl'),
  };
}

export function identifierParams(identifier: Identifier): [string, string] {
  return [identifier.type, identifier.value];
}

export function toStoredKey(row: KeyRow): StoredKey {
  return {
    id: row.id,
    algorithm: row.algorithm,
    purpose: row.purpose,
    publicJwk: JSON.parse(row.public_jwk) as PublicJwk,
    thumbprint: row.thumbprint,
    createdAt: row.created_at,
  };
}

export function toAccount(row: AccountRow): Account {
  return {
    id: row.id,
    directoryUrl: row.directory_url,
    keyId: row.key_id,
    accountUrl: row.account_url ?? undefined,
    createdAt: row.created_at,
  };
}

export function toCertificateInfo(row: CertificateRow): CertificateInfo {
  return {
    id: row.id,
    keyId: row.key_id,
    identifiers: JSON.parse(row.identifiers) as Identifier[],
    notBefore: row.not_before,
    notAfter: row.not_after,
    issuer: row.issuer,
    serial: row.serial,
    ariCertId: row.ari_cert_id ?? undefined,
    createdAt: row.created_at,
    replacedBy: row.replaced_by ?? undefined,
    directoryUrl: row.directory_url ?? undefined,
    revokedAt: row.revoked_at ?? undefined,
  };
}

export function toStoredCertificate(row: CertificateRow): StoredCertificate {
  return { ...toCertificateInfo(row), chainPem: row.chain_pem };
}

export function toChallengeCertificate(row: ChallengeRow): ChallengeCertificate {
  return {
    identifier: { type: row.identifier_type, value: row.identifier_value },
    keyAuthorizationDigest: row.key_authorization_digest,
    certificatePem: row.certificate_pem,
    keyId: row.key_id,
    expiresAt: row.expires_at,
    createdAt: row.created_at,
  };
}
