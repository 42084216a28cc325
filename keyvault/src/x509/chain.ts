/**
 * Checks a certificate chain before the keyvault stores it, whether a CA
 * issued it after finalize or an operator uploaded it: every block parses,
 * the leaf certifies our key and exactly the identifiers asked for, and
 * each certificate is signed by the next. Then it reads what storage and
 * renewal need: dates, issuer, serial and the ARI certificate identifier
 * (RFC 9773 section 4.1).
 *
 * Trust is not decided here: the last certificate is not checked against
 * any root store, since the CA that issued it was chosen by the operator.
 */
import * as asn1js from 'asn1js';
import * as pkijs from 'pkijs';
import { type CryptoKey } from '../keys.js';
import {
  authorityKeyIdentifierOf,
  certificatePem,
  isCaCertificate,
} from './certificate-builder.js';
import { commonNameOf, nameToText, sameName } from './distinguished-name.js';
import { cryptoEngine, spkiDer } from './engine.js';
import { type Identifier, identifierKey, normalizeIdentifiers } from './identifiers.js';
import { parsePem } from './pem.js';
import { subjectAltNamesOf } from './subject-alt-name.js';

/** Public CA chains are 2 to 4 certificates; far more is not a chain to serve. */
export const MAX_CHAIN_CERTIFICATES = 8;
export const MAX_CHAIN_PEM_LENGTH = 128 * 1024;

export type ChainErrorCode =
  'chain_too_large' | 'chain_unparsable' | 'key_mismatch' | 'identifiers_mismatch' | 'broken_chain';

export class ChainError extends Error {
  constructor(
    readonly code: ChainErrorCode,
    message: string,
    /** For identifiers_mismatch: asked for but not in the leaf, and in the leaf but not asked for. */
    readonly identifiers: { readonly missing: string[]; readonly extra: string[] } = {
      missing: [],
      extra: [],
    },
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'ChainError';
  }
}

export interface ChainExpectation {
  /** The public half of the certificate key the CSR was made with. */
  readonly publicKey: CryptoKey;
  /** The identifiers of the order (or of the upload); order does not matter. */
  readonly identifiers: readonly Identifier[];
}

/** What a checked chain holds, ready to store. */
export interface CheckedChain {
  /** Each certificate as PEM, leaf first, as given. */
  readonly certificates: readonly string[];
  /** The certificates joined, one PEM block after another: what a server sends. */
  readonly chainPem: string;
  /** The leaf's identifiers, normalized, in the order of its SAN. */
  readonly identifiers: readonly Identifier[];
  readonly notBefore: Date;
  readonly notAfter: Date;
  /** The leaf's issuer name as RFC 4514 text, e.g. "CN=R11,O=Let's Encrypt,C=US". */
  readonly issuer: string;
  readonly issuerCommonName: string | null;
  /** The leaf's serial number in lowercase hex, without a leading zero octet. */
  readonly serial: string;
  /** RFC 9773's "<AKI keyIdentifier>.<serial>" in base64url; null without an AKI keyIdentifier. */
  readonly ariCertificateId: string | null;
}

/**
 * Check `chainPem` (leaf first) against what was asked for, and read it.
 * Throws `ChainError` (messages name certificates by position and never
 * quote the input), `IdentifierError` for invalid expected identifiers and
 * `KeyError` for an unusable public key. Validity dates are returned, not
 * judged: an expired chain passes, and the caller decides what to do.
 */
export async function checkChain(
  chainPem: string,
  expected: ChainExpectation,
): Promise<CheckedChain> {
  const asked = normalizeIdentifiers(expected.identifiers);
  const parsed = parseChain(chainPem);
  const [leaf] = parsed;
  if (leaf === undefined) throw new ChainError('chain_unparsable', 'The chain is empty.');

  await checkKey(leaf.certificate, expected.publicKey);
  const identifiers = checkIdentifiers(leaf.certificate, asked);
  await checkSignatures(parsed.map((item) => item.certificate));

  const serial = Buffer.from(leaf.certificate.serialNumber.valueBlock.valueHexView);
  const keyIdentifier = readAuthorityKeyIdentifier(leaf.certificate);
  return {
    certificates: parsed.map((item) => item.pem),
    chainPem: parsed.map((item) => item.pem).join(''),
    identifiers,
    notBefore: leaf.certificate.notBefore.value,
    notAfter: leaf.certificate.notAfter.value,
    issuer: nameToText(leaf.certificate.issuer),
    issuerCommonName: commonNameOf(leaf.certificate.issuer),
    serial: (serial[0] === 0 && serial.length > 1 ? serial.subarray(1) : serial).toString('hex'),
    ariCertificateId: keyIdentifier
      ? `${keyIdentifier.toString('base64url')}.${serial.toString('base64url')}`
      : null,
  };
}

interface ParsedCertificate {
  readonly certificate: pkijs.Certificate;
  readonly pem: string;
}

function parseChain(chainPem: string): ParsedCertificate[] {
  if (typeof chainPem !== 'string' || chainPem.length > MAX_CHAIN_PEM_LENGTH) {
    throw new ChainError(
      'chain_too_large',
      `The chain must be PEM text of at most ${MAX_CHAIN_PEM_LENGTH} characters.`,
    );
  }

  let blocks;
  try {
    blocks = parsePem(chainPem);
  } catch (cause) {
    throw new ChainError(
      'chain_unparsable',
      'The chain is not valid PEM; send the certificates as the CA returned them.',
      undefined,
      { cause },
    );
  }
  if (blocks.length > MAX_CHAIN_CERTIFICATES) {
    throw new ChainError(
      'chain_too_large',
      `The chain has ${blocks.length} PEM blocks; at most ${MAX_CHAIN_CERTIFICATES} are accepted.`,
    );
  }

  return blocks.map((block, index) => {
    // A stray private key here must not be parsed, kept or echoed.
    if (block.label !== 'CERTIFICATE') {
      throw new ChainError(
        'chain_unparsable',
        `PEM block ${index + 1} is "${block.label.slice(0, 40)}", not "CERTIFICATE"; ` +
          'send certificates only, leaf first.',
      );
    }
    return { certificate: parseCertificate(block.der, index), pem: certificatePem(block.der) };
  });
}

function parseCertificate(der: Buffer, index: number): pkijs.Certificate {
  const problem = `Certificate ${index + 1} of the chain is not a valid X.509 certificate`;
  const asn1 = asn1js.fromBER(der);
  if (asn1.offset !== der.length) {
    throw new ChainError('chain_unparsable', `${problem} (its DER is damaged or has extra bytes).`);
  }
  try {
    return new pkijs.Certificate({ schema: asn1.result });
  } catch (cause) {
    throw new ChainError('chain_unparsable', `${problem}.`, undefined, { cause });
  }
}

async function checkKey(leaf: pkijs.Certificate, publicKey: CryptoKey): Promise<void> {
  const ours = await spkiDer(publicKey);
  const theirs = Buffer.from(leaf.subjectPublicKeyInfo.toSchema().toBER(false));
  if (!ours.equals(theirs)) {
    throw new ChainError(
      'key_mismatch',
      "The leaf certificate's public key is not the certificate key given; " +
        'the chain belongs to another key (or order). Fetch the certificate of this order.',
    );
  }
}

function checkIdentifiers(leaf: pkijs.Certificate, asked: Identifier[]): Identifier[] {
  let names;
  try {
    names = subjectAltNamesOf(leaf);
  } catch (cause) {
    throw new ChainError(
      'chain_unparsable',
      "The leaf's subjectAltName extension cannot be read.",
      undefined,
      { cause },
    );
  }

  const have = new Set(names.identifiers.map(identifierKey));
  const want = new Set(asked.map(identifierKey));
  const missing = [...want].filter((key) => !have.has(key));
  const extra = [...[...have].filter((key) => !want.has(key)), ...names.others];
  if (missing.length > 0 || extra.length > 0) {
    const parts = [];
    if (missing.length > 0) parts.push(`missing ${missing.join(', ')}`);
    if (extra.length > 0) parts.push(`not asked for ${extra.slice(0, 10).join(', ')}`);
    throw new ChainError(
      'identifiers_mismatch',
      `The leaf certificate does not name exactly the identifiers asked for: ` +
        `${parts.join('; ')}.`,
      { missing, extra },
    );
  }
  return names.identifiers;
}

// Each certificate must name the next as its issuer, be signed by its key,
// and the next must be a CA; the last one's issuer is not in the chain.
async function checkSignatures(certificates: pkijs.Certificate[]): Promise<void> {
  for (let index = 0; index + 1 < certificates.length; index++) {
    const subject = certificates[index];
    const issuer = certificates[index + 1];
    if (subject === undefined || issuer === undefined) continue;
    const position = `Certificate ${index + 1}`;
    const next = `certificate ${index + 2}`;

    if (!sameName(subject.issuer, issuer.subject)) {
      throw brokenChain(`${position} names an issuer other than ${next}`);
    }
    if (!isCaCertificate(issuer)) {
      throw brokenChain(`${next} is not a CA certificate but is given as an issuer`);
    }

    let verified: boolean;
    try {
      verified = await subject.verify(issuer, cryptoEngine);
    } catch (cause) {
      throw brokenChain(
        `${position}'s signature cannot be checked (unsupported algorithm?)`,
        cause,
      );
    }
    if (!verified) throw brokenChain(`${position} is not signed by the key of ${next}`);
  }
}

function readAuthorityKeyIdentifier(leaf: pkijs.Certificate): Buffer | null {
  try {
    return authorityKeyIdentifierOf(leaf);
  } catch (cause) {
    throw new ChainError(
      'chain_unparsable',
      "The leaf's authorityKeyIdentifier extension cannot be read.",
      undefined,
      { cause },
    );
  }
}

function brokenChain(problem: string, cause?: unknown): ChainError {
  return new ChainError(
    'broken_chain',
    `${problem}. Send the chain as the CA returned it: leaf first, then each issuer in order.`,
    undefined,
    { cause },
  );
}
