/**
 * The tls-alpn-01 challenge certificate (RFC 8737 section 3): self-signed
 * with a fresh key, naming the identifier being validated as its only SAN
 * (an iPAddress for ip identifiers, RFC 8738 section 6), and carrying the
 * critical id-pe-acmeIdentifier extension with the SHA-256 digest of the
 * key authorization. Workers serve it to the CA's validator only, on an
 * `acme-tls/1` handshake, so nothing else ever trusts it.
 */
import { createHash } from 'node:crypto';
import * as asn1js from 'asn1js';
import type * as pkijs from 'pkijs';
import {
  certificateDer,
  certificatePem,
  extension,
  signCertificate,
} from './certificate-builder.js';
import { commonNameOnly } from './distinguished-name.js';
import { type SigningKeyPair, checkKey } from './engine.js';
import { type Identifier, normalizeIdentifier } from './identifiers.js';
import { subjectAltNameExtension } from './subject-alt-name.js';

/** id-pe-acmeIdentifier, RFC 8737 section 6.1. */
export const ACME_IDENTIFIER = '1.3.6.1.5.5.7.1.31';

// Validators connect within minutes; an hour back covers clock skew.
const BACKDATE_MS = 60 * 60 * 1000;
const VALIDITY_MS = 7 * 24 * 60 * 60 * 1000;

// RFC 8555 section 8.1: token "." base64url(SHA-256 JWK thumbprint). The
// token needs 128 bits (22 characters); 256 is far more than any CA sends.
const KEY_AUTHORIZATION = /^[A-Za-z0-9_-]{1,256}\.[A-Za-z0-9_-]{43}$/;

// Validators check the SAN and the extension, not the subject; a fixed CN
// keeps the certificate readable and its subject equal to its issuer.
const SUBJECT = 'ACME tls-alpn-01 challenge';

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

/**
 * Make the challenge certificate for one identifier (as the CA's
 * authorization names it) and key authorization, self-signed with `key`,
 * which the caller makes fresh (P-256) for each challenge and serves with
 * the certificate. Throws `IdentifierError`, `ChallengeCertificateError` or
 * `KeyError`.
 */
export async function createChallengeCertificate(
  identifier: Identifier,
  keyAuthorization: string,
  key: SigningKeyPair,
  options: ChallengeCertificateOptions = {},
): Promise<ChallengeCertificate> {
  const name = challengeIdentifier(identifier);
  checkKeyAuthorization(keyAuthorization);
  checkKey(key.publicKey, 'public', 'challenge public key');

  const notBefore = new Date((options.now ?? new Date()).getTime() - BACKDATE_MS);
  const notAfter = new Date(notBefore.getTime() + VALIDITY_MS);
  const subject = commonNameOnly(SUBJECT);
  const certificate = await signCertificate({
    subject,
    issuer: subject,
    subjectPublicKey: key.publicKey,
    issuerPrivateKey: key.privateKey,
    notBefore,
    notAfter,
    extensions: [subjectAltNameExtension([name], false), acmeIdentifierExtension(keyAuthorization)],
  });

  const der = certificateDer(certificate);
  return { der, pem: certificatePem(der), notAfter };
}

/**
 * The extension's value is the DER of an OCTET STRING holding the 32-byte
 * digest, so its extnValue starts 04 20 (RFC 8737 section 3).
 */
function acmeIdentifierExtension(keyAuthorization: string): pkijs.Extension {
  const digest = createHash('sha256').update(keyAuthorization, 'ascii').digest();
  return extension(ACME_IDENTIFIER, true, new asn1js.OctetString({ valueHex: digest }));
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
