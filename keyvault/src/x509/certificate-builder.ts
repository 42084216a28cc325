/**
 * Assembles and signs X.509 v3 certificates (RFC 5280) for the keyvault's
 * own issuers: the tls-alpn-01 challenge certificate and the local CA.
 * Callers choose names, dates and extensions; this file gets the encoding
 * rules right once (serial numbers, time types, key identifiers, key usage
 * bits) and reads back the extensions it writes (basic constraints, key
 * identifiers) from any certificate.
 */
import { createHash, randomBytes } from 'node:crypto';
import * as asn1js from 'asn1js';
import * as pkijs from 'pkijs';
import { type CryptoKey } from '../keys.js';
import { checkKey, cryptoEngine, publicKeyInfoOf, signatureHashOf } from './engine.js';
import { toPem } from './pem.js';

export const BASIC_CONSTRAINTS = '2.5.29.19';
export const KEY_USAGE = '2.5.29.15';
export const EXTENDED_KEY_USAGE = '2.5.29.37';
export const SUBJECT_KEY_IDENTIFIER = '2.5.29.14';
export const AUTHORITY_KEY_IDENTIFIER = '2.5.29.35';
export const SERVER_AUTH = '1.3.6.1.5.5.7.3.1';

export interface CertificateSpec {
  readonly subject: pkijs.RelativeDistinguishedNames;
  readonly issuer: pkijs.RelativeDistinguishedNames;
  /** The key the certificate certifies. */
  readonly subjectPublicKey: CryptoKey;
  /** The issuer's key; the subject's own for a self-signed certificate. */
  readonly issuerPrivateKey: CryptoKey;
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly extensions: readonly pkijs.Extension[];
  /** DER content octets of a positive INTEGER; random when absent. */
  readonly serialNumber?: Uint8Array;
}

/** Build, sign and return a certificate. Throws `KeyError` for an unusable key. */
export async function signCertificate(spec: CertificateSpec): Promise<pkijs.Certificate> {
  checkKey(spec.subjectPublicKey, 'public', 'certificate public key');
  checkKey(spec.issuerPrivateKey, 'private', 'issuer private key');

  const certificate = new pkijs.Certificate({
    version: 2, // v3, for extensions
    serialNumber: new asn1js.Integer({ valueHex: spec.serialNumber ?? randomSerialNumber() }),
    subject: spec.subject,
    issuer: spec.issuer,
    notBefore: certificateTime(spec.notBefore),
    notAfter: certificateTime(spec.notAfter),
    extensions: [...spec.extensions],
  });
  certificate.subjectPublicKeyInfo = await publicKeyInfoOf(spec.subjectPublicKey);
  await certificate.sign(
    spec.issuerPrivateKey,
    signatureHashOf(spec.issuerPrivateKey),
    cryptoEngine,
  );
  return certificate;
}

/**
 * A signed certificate as DER, joined from the TBS bytes that were signed,
 * the algorithm and the signature. pkijs's toSchema would parse the TBS
 * bytes again first, which is a third of the cost of a challenge
 * certificate.
 */
export function certificateDer(certificate: pkijs.Certificate): Buffer {
  const parts = [
    certificate.tbsView,
    new Uint8Array(certificate.signatureAlgorithm.toSchema().toBER(false)),
    new Uint8Array(certificate.signatureValue.toBER(false)),
  ];
  const length = parts.reduce((sum, part) => sum + part.byteLength, 0);
  return Buffer.concat([derSequenceHeader(length), ...parts]);
}

/** A certificate's DER as one PEM block. */
export function certificatePem(der: Uint8Array): string {
  return toPem('CERTIFICATE', der);
}

/**
 * 128 random bits as the content octets of a positive DER INTEGER: a zero
 * octet is prepended when the top bit is set, so about half of all serials
 * are 17 octets, as at public CAs.
 */
export function randomSerialNumber(): Buffer {
  const bytes = randomBytes(16);
  let start = 0;
  while (start < bytes.length - 1 && bytes[start] === 0) start++;
  const trimmed = bytes.subarray(start);
  if (trimmed.length === 1 && trimmed[0] === 0) return Buffer.from([1]);
  return (trimmed[0] ?? 0) & 0x80 ? Buffer.concat([Buffer.from([0]), trimmed]) : trimmed;
}

/** RFC 5280 section 4.2.1.2, method 1: SHA-1 of the subjectPublicKey bits. */
export function keyIdentifierOf(publicKeyInfo: pkijs.PublicKeyInfo): Buffer {
  const bits = publicKeyInfo.subjectPublicKey.valueBlock.valueHexView;
  return createHash('sha1').update(bits).digest();
}

export function basicConstraintsExtension(ca: boolean, pathLength?: number): pkijs.Extension {
  const value = new pkijs.BasicConstraints(
    pathLength === undefined ? { cA: ca } : { cA: ca, pathLenConstraint: pathLength },
  );
  return extension(BASIC_CONSTRAINTS, true, value.toSchema());
}

export type KeyUsageBit = 'digitalSignature' | 'keyEncipherment' | 'keyCertSign' | 'cRLSign';

const KEY_USAGE_BITS: Record<KeyUsageBit, number> = {
  digitalSignature: 0,
  keyEncipherment: 2,
  keyCertSign: 5,
  cRLSign: 6,
};

/** A critical keyUsage extension; DER drops trailing zero bits, so count the unused ones. */
export function keyUsageExtension(usages: readonly KeyUsageBit[]): pkijs.Extension {
  let byte = 0;
  for (const usage of usages) byte |= 0x80 >> KEY_USAGE_BITS[usage];
  let unusedBits = 0;
  while (unusedBits < 7 && (byte & (1 << unusedBits)) === 0) unusedBits++;
  const bits = new asn1js.BitString({ valueHex: new Uint8Array([byte]), unusedBits });
  return extension(KEY_USAGE, true, bits);
}

export function extendedKeyUsageExtension(purposes: readonly string[]): pkijs.Extension {
  const value = new pkijs.ExtKeyUsage({ keyPurposes: [...purposes] });
  return extension(EXTENDED_KEY_USAGE, false, value.toSchema());
}

export function subjectKeyIdentifierExtension(keyIdentifier: Uint8Array): pkijs.Extension {
  return extension(
    SUBJECT_KEY_IDENTIFIER,
    false,
    new asn1js.OctetString({ valueHex: keyIdentifier }),
  );
}

export function authorityKeyIdentifierExtension(keyIdentifier: Uint8Array): pkijs.Extension {
  const value = new pkijs.AuthorityKeyIdentifier({
    keyIdentifier: new asn1js.OctetString({ valueHex: keyIdentifier }),
  });
  return extension(AUTHORITY_KEY_IDENTIFIER, false, value.toSchema());
}

/** An extension whose extnValue is the DER of `value`. */
export function extension(
  oid: string,
  critical: boolean,
  value: asn1js.BaseBlock,
): pkijs.Extension {
  return new pkijs.Extension({ extnID: oid, critical, extnValue: value.toBER(false) });
}

/** True when the certificate has basicConstraints with cA TRUE (a malformed one counts as no). */
export function isCaCertificate(certificate: pkijs.Certificate): boolean {
  const found = certificate.extensions?.find((item) => item.extnID === BASIC_CONSTRAINTS);
  try {
    return found !== undefined && pkijs.BasicConstraints.fromBER(found.extnValue.getValue()).cA;
  } catch {
    return false;
  }
}

/** The keyIdentifier of a certificate's SKI extension, or null without one. */
export function subjectKeyIdentifierOf(certificate: pkijs.Certificate): Buffer | null {
  const found = certificate.extensions?.find((item) => item.extnID === SUBJECT_KEY_IDENTIFIER);
  if (!found) return null;
  const parsed = asn1js.fromBER(found.extnValue.getValue());
  if (parsed.offset === -1 || !(parsed.result instanceof asn1js.OctetString)) return null;
  return Buffer.from(parsed.result.getValue());
}

/** The keyIdentifier of a certificate's AKI extension, or null without one. */
export function authorityKeyIdentifierOf(certificate: pkijs.Certificate): Buffer | null {
  const found = certificate.extensions?.find((item) => item.extnID === AUTHORITY_KEY_IDENTIFIER);
  if (!found) return null;
  const value = pkijs.AuthorityKeyIdentifier.fromBER(found.extnValue.getValue());
  return value.keyIdentifier ? Buffer.from(value.keyIdentifier.getValue()) : null;
}

// DER: a SEQUENCE tag, then the length in short or long form (X.690 8.1.3).
function derSequenceHeader(length: number): Buffer {
  if (length < 0x80) return Buffer.from([0x30, length]);
  const octets: number[] = [];
  for (let rest = length; rest > 0; rest = Math.floor(rest / 256)) octets.unshift(rest % 256);
  return Buffer.from([0x30, 0x80 | octets.length, ...octets]);
}

// RFC 5280 section 4.1.2.5: UTCTime through 2049, GeneralizedTime after,
// whole seconds in both.
function certificateTime(date: Date): pkijs.Time {
  const seconds = new Date(Math.floor(date.getTime() / 1000) * 1000);
  const type =
    seconds.getUTCFullYear() < 2050 ? pkijs.TimeType.UTCTime : pkijs.TimeType.GeneralizedTime;
  return new pkijs.Time({ type, value: seconds });
}
