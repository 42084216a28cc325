/**
 * The tls-alpn-01 challenge certificate (RFC 8737 section 3): self-signed
 * with a fresh key, naming the identifier being validated as its only SAN
 * (an iPAddress for ip identifiers, RFC 8738 section 6), and carrying the
 * critical id-pe-acmeIdentifier extension with the SHA-256 digest of the
 * key authorization. Workers serve it to the CA's validator only, on an
 * `acme-tls/1` handshake, so nothing else ever trusts it.
 */
import { type KeyObject, createHash, generateKeyPairSync, sign } from 'node:crypto';
import { KeyError } from '../keys.js';
import { certificatePem, randomSerialNumber } from './certificate-builder.js';
import {
  BOOLEAN_TRUE,
  bitString,
  certificateTime,
  explicit,
  implicitPrimitive,
  integer,
  objectIdentifier,
  octetString,
  sequence,
  set,
  utf8String,
} from './der.js';
import { type Identifier, ipAddressBytes, normalizeIdentifier } from './identifiers.js';
import { SUBJECT_ALT_NAME } from './subject-alt-name.js';

/** id-pe-acmeIdentifier, RFC 8737 section 6.1. */
export const ACME_IDENTIFIER = '1.3.6.1.5.5.7.1.31';

// Validators connect within minutes; an hour back covers clock skew.
const BACKDATE_MS = 60 * 60 * 1000;
const VALIDITY_MS = 7 * 24 * 60 * 60 * 1000;

// RFC 8555 section 8.1: token "." base64url(SHA-256 JWK thumbprint). The
// token needs 128 bits (22 characters); 256 is far more than any CA sends.
const KEY_AUTHORIZATION = /^[A-Za-z0-9_-]{1,256}\.[A-Za-z0-9_-]{43}$/;

// The certificate is built by hand rather than through pkijs: validators
// ask for one per identifier per order, and pkijs spent 1.8 ms on each
// against about 0.1 ms for these bytes plus one signature. Only the serial,
// dates, key, SAN and digest vary; everything else is fixed here once.
const VERSION_3 = explicit(0, integer(Buffer.from([2])));
const ECDSA_WITH_SHA256 = sequence(objectIdentifier('1.2.840.10045.4.3.2'));
// Validators check the SAN and the extension, not the subject; a fixed CN
// keeps the certificate readable and its subject equal to its issuer.
const NAME = sequence(
  set(sequence(objectIdentifier('2.5.4.3'), utf8String('ACME tls-alpn-01 challenge'))),
);
// SubjectPublicKeyInfo for id-ecPublicKey on prime256v1, up to the point's
// 0x04 (uncompressed) octet (RFC 5480 section 2); the 64 point octets follow.
const P256_SPKI_PREFIX = Buffer.from(
  '3059301306072a8648ce3d020106082a8648ce3d03010703420004',
  'hex',
);
const SAN_OID = objectIdentifier(SUBJECT_ALT_NAME);
const ACME_IDENTIFIER_OID = objectIdentifier(ACME_IDENTIFIER);

/** The key pair of one challenge certificate: P-256, made fresh for each. */
export interface ChallengeKeyPair {
  readonly privateKey: KeyObject;
  readonly publicKey: KeyObject;
}

export interface ChallengeCertificate {
  readonly der: Buffer;
  readonly pem: string;
  readonly notAfter: Date;
}

export interface ChallengeCertificateOptions {
  /** The time the validity is counted from (default: now). */
  readonly now?: Date;
}

export type ChallengeCertificateErrorCode = 'key_authorization_invalid' | 'identifier_wildcard';

export class ChallengeCertificateError extends Error {
  constructor(
    readonly code: ChallengeCertificateErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'ChallengeCertificateError';
  }
}

/** A fresh P-256 key pair for one challenge certificate. */
export function newChallengeKeyPair(): ChallengeKeyPair {
  return generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
}

/**
 * Make the challenge certificate for one identifier (as the CA's
 * authorization names it) and key authorization, self-signed with `key`
 * (from newChallengeKeyPair), which is served with the certificate. Throws
 * `IdentifierError`, `ChallengeCertificateError` or `KeyError`.
 */
export function createChallengeCertificate(
  identifier: Identifier,
  keyAuthorization: string,
  key: ChallengeKeyPair,
  options: ChallengeCertificateOptions = {},
): ChallengeCertificate {
  const name = challengeIdentifier(identifier);
  checkKeyAuthorization(keyAuthorization);
  const publicKeyInfo = p256PublicKeyInfo(key);

  const notBefore = new Date((options.now ?? new Date()).getTime() - BACKDATE_MS);
  notBefore.setUTCMilliseconds(0);
  const notAfter = new Date(notBefore.getTime() + VALIDITY_MS);
  const tbs = sequence(
    VERSION_3,
    integer(randomSerialNumber()),
    ECDSA_WITH_SHA256,
    NAME,
    sequence(certificateTime(notBefore), certificateTime(notAfter)),
    NAME,
    publicKeyInfo,
    explicit(3, sequence(subjectAltName(name), acmeIdentifierExtension(keyAuthorization))),
  );
  const signature = sign('sha256', tbs, { key: key.privateKey, dsaEncoding: 'der' });
  const der = sequence(tbs, ECDSA_WITH_SHA256, bitString(signature));
  return { der, pem: certificatePem(der), notAfter };
}

function p256PublicKeyInfo(key: ChallengeKeyPair): Buffer {
  const details = key.privateKey.asymmetricKeyDetails;
  if (
    key.privateKey.type !== 'private' ||
    key.publicKey.type !== 'public' ||
    key.privateKey.asymmetricKeyType !== 'ec' ||
    details?.namedCurve !== 'prime256v1'
  ) {
    throw new KeyError(
      'unsupported_key',
      'A challenge certificate key must be a P-256 key pair; make one with newChallengeKeyPair().',
    );
  }
  const jwk = key.publicKey.export({ format: 'jwk' });
  const x = Buffer.from(jwk.x ?? '', 'base64url');
  const y = Buffer.from(jwk.y ?? '', 'base64url');
  if (x.length !== 32 || y.length !== 32) {
    throw new KeyError('unsupported_key', 'The challenge public key is not a P-256 point.');
  }
  return Buffer.concat([P256_SPKI_PREFIX, x, y]);
}

// Not critical: the subject names nothing, but the validator reads the SAN
// and RFC 8737 asks for nothing more.
function subjectAltName(identifier: Identifier): Buffer {
  const generalName =
    identifier.type === 'dns'
      ? implicitPrimitive(2, Buffer.from(identifier.value, 'ascii'))
      : implicitPrimitive(7, ipAddressBytes(identifier.value));
  return sequence(SAN_OID, octetString(sequence(generalName)));
}

/**
 * The extension's value is the DER of an OCTET STRING holding the 32-byte
 * digest, so its extnValue starts 04 20 (RFC 8737 section 3).
 */
function acmeIdentifierExtension(keyAuthorization: string): Buffer {
  const digest = createHash('sha256').update(keyAuthorization, 'ascii').digest();
  return sequence(ACME_IDENTIFIER_OID, BOOLEAN_TRUE, octetString(octetString(digest)));
}

// A wildcard is validated through its base name, and only by dns-01
// (RFC 8555 section 7.1.3), so a "*." here is a caller's mistake.
function challengeIdentifier(identifier: Identifier): Identifier {
  const name = normalizeIdentifier(identifier);
  if (name.type === 'dns' && name.value.startsWith('*.')) {
    throw new ChallengeCertificateError(
      'identifier_wildcard',
      `tls-alpn-01 cannot validate the wildcard ${name.value}; ` +
        'wildcard authorizations are validated with dns-01.',
    );
  }
  return name;
}

// The key authorization is a secret of the order in flight: never echo it.
function checkKeyAuthorization(keyAuthorization: string): void {
  if (typeof keyAuthorization !== 'string' || !KEY_AUTHORIZATION.test(keyAuthorization)) {
    throw new ChallengeCertificateError(
      'key_authorization_invalid',
      'The key authorization is not "<token>.<thumbprint>" in base64url ' +
        '(RFC 8555 section 8.1, a 43-character SHA-256 thumbprint); ' +
        'build it from the challenge token and the account key thumbprint.',
    );
  }
}
