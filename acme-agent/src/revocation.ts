/**
 * Revocation of a stored certificate at the operator's request (RFC 8555
 * section 7.6), signed by the account key, with a reason code a subscriber
 * may give (RFC 5280 section 5.3.1). The certificate's chain comes from the
 * keyvault without its key; the agent then replaces the certificate.
 */
import type { RequestPayload, RequestResult } from '@gatehouse/gateway/ipc';
import { X509Certificate } from 'node:crypto';
import { type AcmeAccounts, AccountError, errorCode, errorText } from './account.js';
import { AcmeProblemError } from './acme/problem.js';
import type { AccountsOptions } from './account.js';

export type RevokeResult = RequestResult<'acme.certificate-revoke'>;

/**
 * Revoke one certificate. Emits certificate_revoked either way (with the
 * CA's problem on failure); throws AccountError when it was not revoked.
 */
export async function revokeCertificate(
  accounts: AcmeAccounts,
  options: Pick<AccountsOptions, 'ask' | 'emit' | 'directoryUrl'>,
  request: RequestPayload<'acme.certificate-revoke'>,
): Promise<RevokeResult> {
  const { certificates } = await options.ask('keyvault.certificates', {});
  const summary = certificates.find((c) => c.certificateId === request.certificateId);
  // At the CA the operator names, else the one that issued it, else the first.
  const issuer = request.directoryUrl ?? summary?.directoryUrl ?? options.directoryUrl;
  const chain = summary
    ? await options.ask('keyvault.certificate-chain', { certificateId: request.certificateId })
    : null;
  if (!summary || !chain) {
    throw new AccountError(
      'unknown_certificate',
      `No certificate ${request.certificateId} in the vault; see gatehouse certificates list`,
    );
  }
  const base = {
    type: 'certificate_revoked' as const,
    identifiers: summary.identifiers,
    issuer,
    certificateId: summary.certificateId,
    reason: request.reason,
  };
  try {
    const account = await accounts.ensure(issuer);
    await account.api.revokeCert(account.url, {
      certificate: leafDer(chain.chainPem).toString('base64url'),
      reason: request.reason,
    });
    options.emit({ ...base, accountUrl: account.url });
  } catch (error) {
    const problem =
      error instanceof AcmeProblemError
        ? error.problem
        : error instanceof AccountError && error.problem
          ? error.problem
          : { type: `gatehouse:${errorCode(error)}`, detail: errorText(error) };
    options.emit({ ...base, problem });
    if (error instanceof AcmeProblemError) {
      throw new AccountError(
        'ca_refused',
        `The CA at ${issuer} did not revoke ${summary.certificateId}: ${error.message}`,
        error.problem,
      );
    }
    throw error;
  }
  return {
    certificateId: summary.certificateId,
    serial: summary.serial,
    reason: request.reason,
    identifiers: summary.identifiers,
    issuer,
  };
}

/** The leaf (first certificate) of a PEM chain, as DER. */
function leafDer(chainPem: string): Buffer {
  const leaf = /-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/.exec(chainPem)?.[0];
  return new X509Certificate(leaf ?? chainPem).raw;
}
