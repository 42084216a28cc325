/**
 * A local CA for names no public CA will certify (`localhost`,
 * `*.localhost`, private names and addresses): a long-lived root the
 * operator trusts once, an intermediate that signs, and short-lived leaves.
 * Functions here take keys and return PEM; the caller stores the root and
 * intermediate keys sealed, like every other key, and never serves them.
 *
 * Known gap: the root carries no name constraints, so an operator who
 * trusts it trusts this keyvault for every name, public ones included.
 */
import { randomBytes } from 'node:crypto';
import * as pkijs from 'pkijs';
import { type CryptoKey, keyAlgorithmOf } from '../keys.js';
import {
  type KeyUsageBit,
  SERVER_AUTH,
  authorityKeyIdentifierExtension,
  basicConstraintsExtension,
  certificateDer,
  certificatePem,
  extendedKeyUsageExtension,
  isCaCertificate,
  keyIdentifierOf,
  keyUsageExtension,
  signCertificate,
  subjectKeyIdentifierExtension,
  subjectKeyIdentifierOf,
} from './certificate-builder.js';
import { commonNameOf, commonNameOnly, emptyName } from './distinguished-name.js';
import { type SigningKeyPair, checkKey, cryptoEngine, publicKeyInfoOf } from './engine.js';
import { type Identifier, normalizeIdentifiers } from './identifiers.js';
import { parsePem } from './pem.js';
import { subjectAltNameExtension } from './subject-alt-name.js';

const DAY_MS = 24 * 60 * 60 * 1000;
// Certificates start an hour back, so clients with a slow clock accept them.
const BACKDATE_MS = 60 * 60 * 1000;

export const ROOT_VALIDITY_DAYS = 3652;
export const INTERMEDIATE_VALIDITY_DAYS = 365;
export const LEAF_VALIDITY_DAYS = 7;

/** A certificate the local CA made. */
export interface LocalCertificate {
  readonly pem: string;
  readonly der: Buffer;
  readonly commonName: string | null;
  readonly notBefore: Date;
  readonly notAfter: Date;
}

/** A leaf, with the chain a server sends: the leaf's PEM, then the intermediate's. */
export interface LocalLeaf extends LocalCertificate {
  readonly chainPem: string;
}

/** A CA certificate (PEM) and its private key, to sign with. */
export interface LocalIssuer {
  readonly certificatePem: string;
  readonly privateKey: CryptoKey;
}

export interface LocalCaOptions {
  /** The time validity is counted from (default: now). */
  readonly now?: Date;
}

export interface LocalLeafOptions extends LocalCaOptions {
  /** Days the leaf is valid, 1 to 90 (default 7); never past the issuer's end. */
  readonly validityDays?: number;
}

export type LocalCaErrorCode =
  | 'issuer_invalid'
  | 'issuer_not_ca'
  | 'issuer_expired'
  | 'issuer_key_mismatch'
  | 'validity_invalid'
  | 'wildcard_too_broad';

export class LocalCaError extends Error {
  constructor(
    readonly code: LocalCaErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'LocalCaError';
  }
}

/**
 * A self-signed root, "Gatehouse Local Root <random id>", valid 10 years,
 * that may sign CA certificates and CRLs only.
 */
export async function createLocalRoot(
  key: SigningKeyPair,
  options: LocalCaOptions = {},
): Promise<LocalCertificate> {
  checkKey(key.publicKey, 'public', 'root public key');
  const subject = commonNameOnly(`Gatehouse Local Root ${shortId()}`);
  const notBefore = startTime(options.now);
  const keyIdentifier = await keyIdentifierFor(key.publicKey);

  const certificate = await signCertificate({
    subject,
    issuer: subject,
    subjectPublicKey: key.publicKey,
    issuerPrivateKey: key.privateKey,
    notBefore,
    notAfter: new Date(notBefore.getTime() + ROOT_VALIDITY_DAYS * DAY_MS),
    extensions: [
      basicConstraintsExtension(true),
      keyUsageExtension(['keyCertSign', 'cRLSign']),
      subjectKeyIdentifierExtension(keyIdentifier),
    ],
  });
  await checkSignedBy(certificate, certificate);
  return describe(certificate);
}

/**
 * An intermediate under `root`, valid a year (never past the root), that
 * may sign server certificates only: path length 0 and the serverAuth EKU.
 */
export async function createLocalIntermediate(
  root: LocalIssuer,
  publicKey: CryptoKey,
  options: LocalCaOptions = {},
): Promise<LocalCertificate> {
  checkKey(publicKey, 'public', 'intermediate public key');
  const issuer = readIssuer(root, options.now);
  const notBefore = startTime(options.now);

  const certificate = await signCertificate({
    subject: commonNameOnly(`Gatehouse Local Intermediate ${shortId()}`),
    issuer: issuer.certificate.subject,
    subjectPublicKey: publicKey,
    issuerPrivateKey: root.privateKey,
    notBefore,
    notAfter: endTime(notBefore, INTERMEDIATE_VALIDITY_DAYS, issuer.notAfter),
    extensions: [
      basicConstraintsExtension(true, 0),
      keyUsageExtension(['keyCertSign', 'cRLSign']),
      extendedKeyUsageExtension([SERVER_AUTH]),
      subjectKeyIdentifierExtension(await keyIdentifierFor(publicKey)),
      authorityKeyIdentifierExtension(issuer.keyIdentifier),
    ],
  });
  await checkSignedBy(certificate, issuer.certificate);
  return describe(certificate);
}

/**
 * A TLS server certificate for `identifiers` (dns, wildcard dns with two
 * or more labels after the "*", ip) under
 * `intermediate`, valid 7 days by default. The subject's CN is the first
 * DNS name when it fits in 64 characters; otherwise the subject is empty
 * and the SAN critical (RFC 5280 section 4.2.1.6).
 */
export async function issueLocalLeaf(
  intermediate: LocalIssuer,
  identifiers: readonly Identifier[],
  publicKey: CryptoKey,
  options: LocalLeafOptions = {},
): Promise<LocalLeaf> {
  const names = normalizeIdentifiers(identifiers);
  names.forEach(checkWildcard);
  checkKey(publicKey, 'public', 'leaf public key');
  const days = leafValidityDays(options.validityDays);
  const issuer = readIssuer(intermediate, options.now);
  const notBefore = startTime(options.now);

  const firstDns = names.find((name) => name.type === 'dns')?.value;
  const commonName = firstDns !== undefined && firstDns.length <= 64 ? firstDns : undefined;
  // RSA keys may also decrypt a TLS 1.2 RSA key exchange; EC keys only sign.
  const usages: KeyUsageBit[] = keyAlgorithmOf(publicKey).startsWith('rsa-')
    ? ['digitalSignature', 'keyEncipherment']
    : ['digitalSignature'];

  const certificate = await signCertificate({
    subject: commonName === undefined ? emptyName() : commonNameOnly(commonName),
    issuer: issuer.certificate.subject,
    subjectPublicKey: publicKey,
    issuerPrivateKey: intermediate.privateKey,
    notBefore,
    notAfter: endTime(notBefore, days, issuer.notAfter),
    extensions: [
      basicConstraintsExtension(false),
      keyUsageExtension(usages),
      extendedKeyUsageExtension([SERVER_AUTH]),
      subjectAltNameExtension(names, commonName === undefined),
      subjectKeyIdentifierExtension(await keyIdentifierFor(publicKey)),
      authorityKeyIdentifierExtension(issuer.keyIdentifier),
    ],
  });
  await checkSignedBy(certificate, issuer.certificate);

  const leaf = describe(certificate);
  return { ...leaf, chainPem: leaf.pem + intermediate.certificatePem.trim() + '\n' };
}

interface ReadIssuer {
  readonly certificate: pkijs.Certificate;
  readonly keyIdentifier: Buffer;
  readonly notAfter: Date;
}

function readIssuer(issuer: LocalIssuer, now: Date | undefined): ReadIssuer {
  checkKey(issuer.privateKey, 'private', 'issuer private key');

  let certificate: pkijs.Certificate;
  try {
    const blocks = parsePem(issuer.certificatePem);
    if (blocks.length !== 1 || blocks[0]?.label !== 'CERTIFICATE') {
      throw new Error(`expected one CERTIFICATE block, found ${blocks.length} PEM blocks`);
    }
    certificate = pkijs.Certificate.fromBER(blocks[0].der);
  } catch (cause) {
    throw new LocalCaError(
      'issuer_invalid',
      'The issuer certificate is not one PEM certificate; pass the stored root or ' +
        'intermediate PEM as it was created.',
      { cause },
    );
  }

  if (!isCaCertificate(certificate)) {
    throw new LocalCaError(
      'issuer_not_ca',
      'The issuer certificate is not a CA certificate (no basicConstraints CA:TRUE); ' +
        'sign with the local root or intermediate.',
    );
  }

  const notAfter = certificate.notAfter.value;
  if ((now ?? new Date()).getTime() >= notAfter.getTime()) {
    throw new LocalCaError(
      'issuer_expired',
      `The issuer "${commonNameOf(certificate.subject) ?? '?'}" expired on ` +
        `${notAfter.toISOString()}; make a new intermediate (or root) before issuing.`,
    );
  }

  const keyIdentifier =
    subjectKeyIdentifierOf(certificate) ?? keyIdentifierOf(certificate.subjectPublicKeyInfo);
  return { certificate, keyIdentifier, notAfter };
}

// A certificate the issuer's certificate does not verify was signed with a
// key that is not the issuer's: refuse it rather than hand it out.
async function checkSignedBy(
  certificate: pkijs.Certificate,
  issuer: pkijs.Certificate,
): Promise<void> {
  if (!(await certificate.verify(issuer, cryptoEngine))) {
    throw new LocalCaError(
      'issuer_key_mismatch',
      `The private key given for "${commonNameOf(issuer.subject) ?? '?'}" is not the key ` +
        'of that certificate; load the key stored with it.',
    );
  }
}

async function keyIdentifierFor(publicKey: CryptoKey): Promise<Buffer> {
  return keyIdentifierOf(await publicKeyInfoOf(publicKey));
}

function describe(certificate: pkijs.Certificate): LocalCertificate {
  const der = certificateDer(certificate);
  return {
    pem: certificatePem(der),
    der,
    commonName: commonNameOf(certificate.subject),
    notBefore: certificate.notBefore.value,
    notAfter: certificate.notAfter.value,
  };
}

// OpenSSL and Node's tls (and so most clients) match a wildcard only with
// two or more labels after it: "*.localhost" would never match app.localhost.
function checkWildcard(identifier: Identifier): void {
  if (identifier.type !== 'dns' || !identifier.value.startsWith('*.')) return;
  if (identifier.value.split('.').length >= 3) return;
  throw new LocalCaError(
    'wildcard_too_broad',
    `TLS clients do not match the wildcard ${identifier.value} (one label after "*."); ` +
      `issue a leaf for each name under it, e.g. app${identifier.value.slice(1)}.`,
  );
}

function leafValidityDays(days: number | undefined): number {
  if (days === undefined) return LEAF_VALIDITY_DAYS;
  if (!Number.isInteger(days) || days < 1 || days > 90) {
    throw new LocalCaError(
      'validity_invalid',
      `A local leaf is valid 1 to 90 whole days, not ${String(days)}; short lives make up ` +
        'for having no revocation.',
    );
  }
  return days;
}

function startTime(now: Date | undefined): Date {
  return new Date((now ?? new Date()).getTime() - BACKDATE_MS);
}

function endTime(notBefore: Date, days: number, issuerNotAfter: Date): Date {
  return new Date(Math.min(notBefore.getTime() + days * DAY_MS, issuerNotAfter.getTime()));
}

// Eight hex digits tell one installation's root from another's in a trust store.
function shortId(): string {
  return randomBytes(4).toString('hex');
}
