/**
 * External Account Binding (RFC 8555 section 7.3.4): a CA that knows its
 * customers asks the new account to carry a MAC, made with a key the CA
 * gave the operator, over the account's public key. The keyvault makes
 * the MAC; the HMAC key passes through here and is never logged, nor put
 * in an error or an event.
 */
import type { AcmeApi } from './acme/api.js';
import { AcmeProblemError } from './acme/problem.js';
import type { FlattenedJws } from './acme/wire.js';
import { type AcmeIssuer, IssuerError } from './issuers.js';
import type { Ask } from './order.js';

/**
 * The `externalAccountBinding` member for newAccount, or undefined when
 * the issuer has none configured. A CA whose directory says it requires one
 * (meta.externalAccountRequired) while none is configured is refused here,
 * with the fix, before any account request is sent.
 */
export async function externalAccountBinding(
  api: AcmeApi,
  issuer: AcmeIssuer,
  accountKeyId: string,
  ask: Ask,
): Promise<FlattenedJws | undefined> {
  const directory = await api.wire.directory();
  const binding = issuer.externalAccountBinding;
  if (binding === undefined) {
    if (directory.meta?.externalAccountRequired === true) {
      throw new IssuerError(
        'external_account_required',
        `${issuer.directoryUrl} requires External Account Binding (RFC 8555 section 7.3.4)`,
        {
          action:
            'Add "externalAccountBinding": { "keyId": ..., "hmacKey": ... } with the values ' +
            'the CA gave you to this issuer in the --acme-issuers file.',
        },
      );
    }
    return undefined;
  }
  return ask('keyvault.external-account-binding', {
    keyId: accountKeyId,
    url: directory.newAccount,
    eabKeyId: binding.keyId,
    hmacKey: binding.hmacKey,
  });
}

/**
 * A newAccount refusal from a CA that binds accounts, said as the operator
 * can act on it: the CA did not accept the key id or HMAC key. Transient
 * problems (rate limits, the CA's own trouble) pass through unchanged.
 */
export function explainAccountRefusal(error: unknown, issuer: AcmeIssuer): unknown {
  if (!(error instanceof AcmeProblemError) || error.transient) return error;
  const binding = issuer.externalAccountBinding;
  if (binding === undefined && error.kind !== 'externalAccountRequired') return error;
  return new IssuerError(
    'account_refused',
    `${issuer.directoryUrl} refused the account: ${error.message}`,
    {
      problem: error.problem,
      action:
        binding === undefined
          ? 'The CA requires External Account Binding: add "externalAccountBinding" with the ' +
            'key id and HMAC key it gave you to this issuer in the --acme-issuers file.'
          : `The CA did not accept the External Account Binding (key id "${binding.keyId}"): ` +
            'check keyId and hmacKey for this issuer in the --acme-issuers file.',
      cause: error,
    },
  );
}
