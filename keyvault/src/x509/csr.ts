/**
 * Certificate signing requests (PKCS#10, RFC 2986) for an ACME finalize
 * (RFC 8555 section 7.4): the certificate key's public half, the
 * identifiers as a requested subjectAltName, signed by the key itself.
 */
import * as pkijs from 'pkijs';
import { commonNameOnly, emptyName } from './distinguished-name.js';
import { type Identifier, normalizeIdentifiers } from './identifiers.js';
import {
  type SigningKeyPair,
  checkKey,
  cryptoEngine,
  publicKeyInfoOf,
  signatureHashOf,
} from './engine.js';
import { toPem } from './pem.js';
import { subjectAltNameExtension } from './subject-alt-name.js';

// PKCS#9 extensionRequest, RFC 2985 section 5.4.2.
const EXTENSION_REQUEST = '1.2.840.113549.1.9.14';

// RFC 5280's upper bound for a CN (ub-common-name).
const MAX_COMMON_NAME = 64;

export interface CsrOptions {
  /**
   * Put the first DNS identifier in the subject's CN when it fits in 64
   * characters (default true). ACME CAs read only the SAN; some still copy
   * the CN into the certificate, where older clients look for it.
   */
  readonly commonName?: boolean;
}

export interface Csr {
  /** DER; an ACME finalize sends it as base64url (`der.toString('base64url')`). */
  readonly der: Buffer;
  readonly pem: string;
}

export type CsrErrorCode = 'csr_self_check_failed';

export class CsrError extends Error {
  constructor(
    readonly code: CsrErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'CsrError';
  }
}

/**
 * Make and sign a CSR for `identifiers` with `key`. The identifiers are
 * normalized again here (throws `IdentifierError`), and the CSR is verified
 * once made, so a private key that is not the public key's partner fails
 * here (`CsrError`) rather than at the CA.
 */
export async function createCsr(
  identifiers: readonly Identifier[],
  key: SigningKeyPair,
  options: CsrOptions = {},
): Promise<Csr> {
  const names = normalizeIdentifiers(identifiers);
  checkKey(key.publicKey, 'public', 'certificate public key');
  checkKey(key.privateKey, 'private', 'certificate private key');

  const commonName = options.commonName === false ? undefined : commonNameFor(names);
  const request = new pkijs.CertificationRequest({
    version: 0,
    subject: commonName === undefined ? emptyName() : commonNameOnly(commonName),
    attributes: [extensionRequest(names, commonName === undefined)],
  });
  request.subjectPublicKeyInfo = await publicKeyInfoOf(key.publicKey);
  await request.sign(key.privateKey, signatureHashOf(key.privateKey), cryptoEngine);

  if (!(await request.verify(cryptoEngine))) {
    throw new CsrError(
      'csr_self_check_failed',
      'The CSR does not verify against its own public key: the private and public keys ' +
        'given are not one pair. Load the public key from the same record as the private key.',
    );
  }

  const der = Buffer.from(request.toSchema().toBER(false));
  return { der, pem: toPem('CERTIFICATE REQUEST', der) };
}

function commonNameFor(identifiers: readonly Identifier[]): string | undefined {
  const first = identifiers.find((identifier) => identifier.type === 'dns');
  return first && first.value.length <= MAX_COMMON_NAME ? first.value : undefined;
}

// With an empty subject the SAN is the only name, so RFC 5280 section
// 4.2.1.6 wants it critical.
function extensionRequest(
  identifiers: readonly Identifier[],
  emptySubject: boolean,
): pkijs.Attribute {
  const extensions = new pkijs.Extensions({
    extensions: [subjectAltNameExtension(identifiers, emptySubject)],
  });
  return new pkijs.Attribute({
    type: EXTENSION_REQUEST,
    values: [extensions.toSchema()],
  });
}
