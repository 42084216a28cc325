/**
 * The ACME account at each issuer (RFC 8555 section 7.3): found by its key
 * or created on first use, and the operator's operations on it: read,
 * update the contacts, change the key, deactivate. The keyvault holds every
 * key and makes every signature; this file decides what to send and keeps
 * what the CA answered about the account.
 */
import type { AccountView, AcmeEvent, RequestPayload, RequestResult } from '@gatehouse/gateway/ipc';
import type { Logger } from '@gatehouse/gateway/log';
import { AcmeApi } from './acme/api.js';
import { AcmeProblemError } from './acme/problem.js';
import { AcmeWire, type Signer } from './acme/wire.js';
import { explainAccountRefusal, externalAccountBinding } from './external-account-binding.js';
import type { IssuerState } from './issuers.js';
import type { Ask } from './order.js';

/** An account ready to sign requests at one issuer. */
export interface Account {
  readonly url: string;
  readonly thumbprint: string;
  readonly api: AcmeApi;
}

export type AccountErrorCode =
  'account_deactivated' | 'ca_refused' | 'unknown_certificate' | 'unknown_issuer';

/** An account operation that could not be done; `problem` is the CA's, when it answered one. */
export class AccountError extends Error {
  constructor(
    readonly code: AccountErrorCode,
    message: string,
    readonly problem?: AcmeProblemError['problem'],
  ) {
    super(message);
    this.name = 'AccountError';
  }
}

export interface AccountsOptions {
  /** The issuer used when a call names none: the first configured CA. */
  readonly directoryUrl: string;
  /** A configured CA by directory URL (its HTTPS client, contact and EAB); undefined if none. */
  readonly issuer: (directoryUrl: string) => IssuerState | undefined;
  readonly ask: Ask;
  readonly emit: (event: AcmeEvent) => void;
  readonly log: Logger;
}

/** What the operator must do once an account is deactivated. */
export function deactivatedAction(issuer: string): string {
  return (
    `The ACME account at ${issuer} is deactivated and cannot be used again (RFC 8555 section ` +
    '7.3.6). Start Gatehouse with another --acme-directory, or with a new data directory to ' +
    'get a new account at this issuer.'
  );
}

/** The accounts of this agent, one per issuer directory URL. */
export class AcmeAccounts {
  readonly #accounts = new Map<string, Promise<Account>>();
  /** Issuers whose account this agent deactivated: no more orders there. */
  readonly #deactivated = new Set<string>();

  constructor(private readonly options: AccountsOptions) {}

  /**
   * The account for an issuer, made ready once: found by its key with
   * `onlyReturnExisting` (section 7.3.1) when the keyvault already holds
   * one, else created with the contact and the terms agreed (section 7.3).
   */
  ensure(directoryUrl = this.options.directoryUrl): Promise<Account> {
    if (this.#deactivated.has(directoryUrl)) {
      return Promise.reject(
        new AccountError('account_deactivated', deactivatedAction(directoryUrl)),
      );
    }
    let account = this.#accounts.get(directoryUrl);
    if (!account) {
      account = this.#open(directoryUrl);
      this.#accounts.set(directoryUrl, account);
      account.catch(() => {
        if (this.#accounts.get(directoryUrl) === account) this.#accounts.delete(directoryUrl);
      });
    }
    return account;
  }

  /** Look the account up again next time (the CA may have dropped or changed it). */
  forget(directoryUrl = this.options.directoryUrl): void {
    this.#accounts.delete(directoryUrl);
  }

  async #open(directoryUrl: string): Promise<Account> {
    const { ask } = this.options;
    const issuer = this.options.issuer(directoryUrl);
    if (!issuer) {
      throw new AccountError(
        'unknown_issuer',
        `${directoryUrl} is not one of the CAs Gatehouse was started with; ` +
          'name one from --acme-directory or --acme-issuers',
      );
    }
    const key = await ask('keyvault.account-key', { directoryUrl });
    const sign: Signer = ({ url, nonce, kid, payload }) =>
      ask('keyvault.sign-jws', {
        keyId: key.keyId,
        url,
        nonce,
        ...(kid === undefined ? {} : { kid }),
        payload,
      });
    const api = new AcmeApi(new AcmeWire(directoryUrl, issuer.http), sign);
    let found: { url: string } | undefined;
    try {
      found = await api.newAccount({
        contact: [],
        termsOfServiceAgreed: true,
        onlyReturnExisting: true,
      });
    } catch (error) {
      // Section 7.3.6: a deactivated (or CA-revoked) account's key is refused with unauthorized.
      if (error instanceof AcmeProblemError && error.kind === 'unauthorized') {
        throw new AccountError(
          'account_deactivated',
          `${deactivatedAction(directoryUrl)} The CA said: ${error.message}`,
          error.problem,
        );
      }
      if (!(error instanceof AcmeProblemError && error.kind === 'accountDoesNotExist')) throw error;
    }
    const url = found?.url ?? (await this.#create(api, issuer, key.keyId));
    this.options.log.info(found ? 'ACME account found' : 'ACME account created', {
      account_url: url,
      issuer: directoryUrl,
    });
    return { url, thumbprint: key.thumbprint, api };
  }

  /** Section 7.3: a new account, with External Account Binding when the CA gave a key. */
  async #create(api: AcmeApi, issuer: IssuerState, accountKeyId: string): Promise<string> {
    const { email } = issuer.config;
    const binding = await externalAccountBinding(
      api,
      issuer.config,
      accountKeyId,
      this.options.ask,
    );
    const created = await api
      .newAccount({
        contact: email ? [`mailto:${email}`] : [],
        termsOfServiceAgreed: true,
        ...(binding ? { externalAccountBinding: binding } : {}),
      })
      .catch((error: unknown) => {
        throw explainAccountRefusal(error, issuer.config);
      });
    return created.url;
  }

  /** The account as the CA shows it now (POST-as-GET, section 7.3). */
  async describe(request: RequestPayload<'acme.account'>): Promise<AccountView> {
    const issuer = request.directoryUrl ?? this.options.directoryUrl;
    const account = await this.ensure(issuer);
    const resource = await this.#caCall(issuer, () => account.api.updateAccount(account.url, null));
    return view(issuer, account, resource);
  }

  /** Section 7.3.2: replace the contacts; the CA's answer is what is reported. */
  async updateContact(request: RequestPayload<'acme.account-update'>): Promise<AccountView> {
    const issuer = request.directoryUrl ?? this.options.directoryUrl;
    const account = await this.ensure(issuer);
    const resource = await this.#reported('account_updated', issuer, account.url, () =>
      account.api.updateAccount(account.url, { contact: request.contact }),
    );
    return view(issuer, account, resource);
  }

  /**
   * Section 7.3.5. The keyvault keeps the new key aside and signs both
   * JWS; only once the CA accepted does the account move to the new key
   * (keyvault.key-change-done), so a refusal leaves the old key in use.
   */
  async changeKey(request: RequestPayload<'acme.account-key-change'>): Promise<AccountView> {
    const issuer = request.directoryUrl ?? this.options.directoryUrl;
    const account = await this.ensure(issuer);
    let newKeyId: string | undefined;
    const signKeyChange: Signer = async ({ url, nonce }) => {
      const made = await this.options.ask('keyvault.key-change', {
        directoryUrl: issuer,
        accountUrl: account.url,
        url,
        nonce,
      });
      newKeyId = made.newKeyId;
      return made.jws;
    };
    // Known gap: a key made for a refused change, or for a badNonce retry, stays unused in the vault.
    await this.#reported('account_key_changed', issuer, account.url, () =>
      account.api.keyChange(account.url, signKeyChange),
    );
    if (newKeyId === undefined) throw new Error('the keyvault made no new key');
    await this.options.ask('keyvault.key-change-done', { directoryUrl: issuer, newKeyId });
    this.#accounts.delete(issuer);
    const changed = await this.ensure(issuer);
    const resource = await this.#caCall(issuer, () => changed.api.updateAccount(changed.url, null));
    return view(issuer, changed, resource);
  }

  /** Section 7.3.6: deactivate for good; no order is placed at this issuer afterwards. */
  async deactivate(request: RequestPayload<'acme.account-deactivate'>): Promise<AccountView> {
    const issuer = request.directoryUrl ?? this.options.directoryUrl;
    const account = await this.ensure(issuer);
    const resource = await this.#reported('account_deactivated', issuer, account.url, () =>
      account.api.updateAccount(account.url, { status: 'deactivated' }),
    );
    this.#deactivated.add(issuer);
    this.#accounts.delete(issuer);
    return view(issuer, account, resource);
  }

  /** A CA call whose outcome is an event either way, with the CA's problem on failure. */
  async #reported<T>(
    type: 'account_updated' | 'account_key_changed' | 'account_deactivated',
    issuer: string,
    accountUrl: string,
    call: () => Promise<T>,
  ): Promise<T> {
    try {
      const result = await this.#caCall(issuer, call);
      this.options.emit({ type, identifiers: [], issuer, accountUrl });
      return result;
    } catch (error) {
      const problem =
        error instanceof AccountError && error.problem
          ? error.problem
          : { type: `gatehouse:${errorCode(error)}`, detail: errorText(error) };
      this.options.emit({ type, identifiers: [], issuer, accountUrl, problem });
      throw error;
    }
  }

  /** A CA refusal becomes an AccountError saying what the CA said, for the operator. */
  async #caCall<T>(issuer: string, call: () => Promise<T>): Promise<T> {
    try {
      return await call();
    } catch (error) {
      if (!(error instanceof AcmeProblemError)) throw error;
      if (['unauthorized', 'accountDoesNotExist'].includes(error.kind)) this.forget(issuer);
      throw new AccountError(
        'ca_refused',
        `The CA at ${issuer} refused: ${error.message}`,
        error.problem,
      );
    }
  }
}

function view(
  issuer: string,
  account: Account,
  resource: { status: AccountView['status']; contact?: string[] | undefined },
): AccountView {
  return {
    issuer,
    accountUrl: account.url,
    status: resource.status,
    contact: resource.contact ?? [],
    thumbprint: account.thumbprint,
  };
}

/** A stable error code for an event's problem type: the error's own `code`, else internal. */
export function errorCode(error: unknown): string {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^[a-z][a-z0-9_]{0,63}$/.test(code) ? code : 'internal';
}

export function errorText(error: unknown): string {
  return (error instanceof Error ? error.message : String(error)).slice(0, 4000);
}

export type AccountResult = RequestResult<'acme.account'>;
