/**
 * What the keyvault does when asked over IPC, one method per request in
 * gateway/src/ipc/keyvault-messages.ts. Every method finishes its async
 * crypto first and then writes in one synchronous transaction, checking
 * again, just before the write, whether the work is still needed (two
 * requests for the same account key may overlap).
 *
 * No method returns an ACME account private key. `bundle` returns a
 * certificate's key and `challengeBundle` a tls-alpn-01 key, and the
 * supervisor lets only workers ask for them.
 */
import { createHash } from 'node:crypto';
import type { RequestPayload, RequestResult, RequestType } from '@gatehouse/gateway/ipc';
import { DEFAULT_KEY_ALGORITHM } from './algorithms.js';
import { generateKeyPair, importPrivateKeyPkcs8, publicJwk, type KeyPair } from './keys.js';
import {
  signExternalAccountBinding,
  signJws,
  signKeyChangeInner,
  signPostAsGet,
  type JsonObject,
} from './jws.js';
import type {
  Account,
  CertificateInfo,
  ChallengeCertificate,
  KeyPurpose,
  NewChallengeCertificate,
  StoredKey,
  VaultStore,
} from './store.js';
import { checkChain } from './x509/chain.js';
import { createChallengeCertificate, newChallengeKeyPair } from './x509/challenge-certificate.js';
import { createCsr } from './x509/csr.js';
import { normalizeIdentifier, normalizeIdentifiers, type Identifier } from './x509/identifiers.js';
import { leafIdentifiers, readPrivateKeyPem } from './import.js';
import { LocalCa } from './local-ca-service.js';
import { certificateRecord, newId, newKeyRecord } from './records.js';
import { GroupCommit } from './group-commit.js';

type Result<T extends RequestType> = RequestResult<T>;

export type KeyVaultErrorCode =
  'unknown_key' | 'unknown_account' | 'wrong_key_purpose' | 'invalid_payload';

export class KeyVaultError extends Error {
  constructor(
    readonly code: KeyVaultErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'KeyVaultError';
  }
}

/** The keys of one challenge certificate live a week at most; RFC 8737 needs minutes. */
const CHALLENGE_LIFETIME_MS = 7 * 86_400_000;

export class KeyVault {
  /** Imported private keys by id: importing PKCS#8 costs more than a signature. */
  readonly #keys = new Map<string, { pair: KeyPair; purpose: KeyPurpose }>();
  readonly #localCa: LocalCa;
  readonly #challengeWrites: GroupCommit<NewChallengeCertificate, ChallengeCertificate>;

  constructor(private readonly store: VaultStore) {
    this.#localCa = new LocalCa(store, (id, purpose) => this.#keyPair(id, purpose));
    this.#challengeWrites = new GroupCommit((inputs) => store.putChallengeCertificates(inputs));
  }

  /** Get or create the account key for a CA (RFC 8555 section 7.3). */
  async accountKey(
    request: RequestPayload<'keyvault.account-key'>,
  ): Promise<Result<'keyvault.account-key'>> {
    const existing = this.store.getAccountByDirectory(request.directoryUrl);
    if (existing) return this.#describe(existing.keyId, 'account');

    const pair = await generateKeyPair(request.algorithm ?? DEFAULT_KEY_ALGORITHM);
    const key = await newKeyRecord(pair, 'account', 'key');

    // Another request may have made it while this one generated.
    const raced = this.store.getAccountByDirectory(request.directoryUrl);
    if (raced) {
      key.pkcs8.fill(0);
      return this.#describe(raced.keyId, 'account');
    }
    this.store.putAccount({
      id: newId('acct'),
      directoryUrl: request.directoryUrl,
      keyId: key.id,
      key,
    });
    this.#keys.set(key.id, { pair, purpose: 'account' });
    return { keyId: key.id, jwk: { ...key.publicJwk }, thumbprint: key.thumbprint };
  }

  /** An ACME request signed with an account key (RFC 8555 section 6.2). */
  async signJws(
    request: RequestPayload<'keyvault.sign-jws'>,
  ): Promise<Result<'keyvault.sign-jws'>> {
    const pair = await this.#keyPair(request.keyId, 'account');
    const header =
      request.kid === undefined
        ? { url: request.url, nonce: request.nonce, jwk: await publicJwk(pair.publicKey) }
        : { url: request.url, nonce: request.nonce, kid: request.kid };
    if (request.payload === null || request.payload === undefined) {
      return signPostAsGet(pair.privateKey, header);
    }
    if (typeof request.payload !== 'object' || Array.isArray(request.payload)) {
      throw new KeyVaultError(
        'invalid_payload',
        'An ACME request payload must be a JSON object, or null for POST-as-GET',
      );
    }
    return signJws(pair.privateKey, header, request.payload as JsonObject);
  }

  /**
   * A key change (RFC 8555 section 7.3.5): a new account key, stored now so
   * that it is not lost if the CA accepts, and the request to send. The
   * account keeps its key until keyChangeDone.
   */
  async keyChange(
    request: RequestPayload<'keyvault.key-change'>,
  ): Promise<Result<'keyvault.key-change'>> {
    const account = this.#account(request.directoryUrl);
    const old = await this.#keyPair(account.keyId, 'account');
    const pair = await generateKeyPair(request.algorithm ?? DEFAULT_KEY_ALGORITHM);
    const inner = await signKeyChangeInner(pair.privateKey, {
      url: request.url,
      account: request.accountUrl,
      oldKey: await publicJwk(old.publicKey),
    });
    const jws = await signJws(
      old.privateKey,
      { url: request.url, nonce: request.nonce, kid: request.accountUrl },
      inner,
    );
    const key = await newKeyRecord(pair, 'account', 'key');
    this.store.putKey(key);
    this.#keys.set(key.id, { pair, purpose: 'account' });
    return { newKeyId: key.id, jwk: { ...key.publicJwk }, jws };
  }

  /** The CA accepted a key change: the account now signs with `newKeyId`. */
  keyChangeDone(
    request: RequestPayload<'keyvault.key-change-done'>,
  ): Result<'keyvault.key-change-done'> {
    const account = this.#account(request.directoryUrl);
    this.#stored(request.newKeyId, 'account');
    this.store.putAccount({ ...account, keyId: request.newKeyId });
    return this.#describe(request.newKeyId, 'account');
  }

  /** External Account Binding (RFC 8555 section 7.3.4) over the account key's JWK. */
  async externalAccountBinding(
    request: RequestPayload<'keyvault.external-account-binding'>,
  ): Promise<Result<'keyvault.external-account-binding'>> {
    const pair = await this.#keyPair(request.keyId, 'account');
    return signExternalAccountBinding({
      accountKey: await publicJwk(pair.publicKey),
      keyId: request.eabKeyId,
      macKey: request.hmacKey,
      url: request.url,
      ...(request.algorithm ? { algorithm: request.algorithm } : {}),
    });
  }

  /** A CSR (RFC 2986) for the identifiers, with a new certificate key or one reused. */
  async csr(request: RequestPayload<'keyvault.csr'>): Promise<Result<'keyvault.csr'>> {
    const identifiers = normalizeIdentifiers(request.identifiers);
    if ('reuse' in request.key) {
      const pair = await this.#keyPair(request.key.reuse, 'certificate');
      const csr = await createCsr(identifiers, pair);
      return { keyId: request.key.reuse, csr: csr.der.toString('base64url') };
    }

    const pair = await generateKeyPair(request.key.algorithm);
    const csr = await createCsr(identifiers, pair);
    const key = await newKeyRecord(pair, 'certificate', 'key');
    this.store.putKey(key);
    this.#keys.set(key.id, { pair, purpose: 'certificate' });
    return { keyId: key.id, csr: csr.der.toString('base64url') };
  }

  /** A tls-alpn-01 certificate (RFC 8737 section 3) with a fresh key that stays here. */
  async challengeCertificate(
    request: RequestPayload<'keyvault.challenge-certificate'>,
  ): Promise<Result<'keyvault.challenge-certificate'>> {
    const identifier = normalizeIdentifier(request.identifier);
    const pair = newChallengeKeyPair();
    const certificate = createChallengeCertificate(identifier, request.keyAuthorization, pair);
    const digest = createHash('sha256').update(request.keyAuthorization, 'utf8').digest();

    const stored = await this.#challengeWrites.write({
      identifier,
      keyAuthorizationDigest: digest,
      certificatePem: certificate.pem,
      key: { id: newId('key'), purpose: 'challenge', privateKey: pair.privateKey },
      expiresAt: Math.min(certificate.notAfter.getTime(), Date.now() + CHALLENGE_LIFETIME_MS),
    });
    return { challengeId: stored.keyId, certificatePem: stored.certificatePem };
  }

  /**
   * The pending tls-alpn-01 certificate for an identifier and its key, for
   * a worker to serve (the supervisor lets only workers ask); null when
   * there is none or it expired.
   */
  challengeBundle(
    request: RequestPayload<'keyvault.challenge-bundle'>,
  ): Result<'keyvault.challenge-bundle'> {
    const challenge = this.store.getChallengeCertificate(normalizeIdentifier(request.identifier));
    if (!challenge || challenge.expiresAt <= Date.now()) return null;
    this.#stored(challenge.keyId, 'challenge');
    const pkcs8 = this.store.getPrivateKey(challenge.keyId);
    if (!pkcs8) return null;
    const keyPem = pem('PRIVATE KEY', pkcs8);
    pkcs8.fill(0);
    return { certificatePem: challenge.certificatePem, keyPem };
  }

  /** Keep an issued chain once it matches its key and the identifiers ordered. */
  async storeChain(
    request: RequestPayload<'keyvault.store-chain'>,
  ): Promise<Result<'keyvault.store-chain'>> {
    const pair = await this.#keyPair(request.keyId, 'certificate');
    const identifiers = normalizeIdentifiers(request.identifiers);
    const chain = await checkChain(request.chainPem, { publicKey: pair.publicKey, identifiers });
    const id = newId('crt');
    this.store.putCertificate({
      ...certificateRecord(id, request.keyId, chain),
      ...(request.directoryUrl ? { directoryUrl: request.directoryUrl } : {}),
    });
    return summary(this.store, id);
  }

  /**
   * The newest valid chain and key for a name: an exact match, else a
   * wildcard one label up, else, for a name no public CA certifies, a
   * leaf from the local CA, issued now. Null when there is none.
   */
  async bundle(request: RequestPayload<'keyvault.bundle'>): Promise<Result<'keyvault.bundle'>> {
    const identifier = normalizeIdentifier(request.identifier);
    const wildcard = wildcardOf(identifier);
    const found = this.store.getBundle(identifier) ?? (wildcard && this.store.getBundle(wildcard));
    if (found) {
      const keyPem = pem('PRIVATE KEY', found.pkcs8);
      found.pkcs8.fill(0);
      return { certificateId: found.certificate.id, chainPem: found.certificate.chainPem, keyPem };
    }
    if (!LocalCa.covers(identifier)) return null;

    const issued = await this.#localCa.issue(identifier);
    const again = this.store.getBundle(identifier);
    if (!again) return null;
    const keyPem = pem('PRIVATE KEY', again.pkcs8);
    again.pkcs8.fill(0);
    return { certificateId: issued, chainPem: again.certificate.chainPem, keyPem };
  }

  /** A chain and key the operator uploads, checked like an issued chain. */
  async importCertificate(
    request: RequestPayload<'keyvault.import-certificate'>,
  ): Promise<Result<'keyvault.import-certificate'>> {
    const identifiers = leafIdentifiers(request.chainPem);
    const { pair, pkcs8 } = await readPrivateKeyPem(request.keyPem);
    try {
      const chain = await checkChain(request.chainPem, { publicKey: pair.publicKey, identifiers });
      const key = await newKeyRecord(pair, 'certificate', 'key');
      const id = newId('crt');
      this.store.putCertificate(certificateRecord(id, key.id, chain, key));
      return summary(this.store, id);
    } finally {
      pkcs8.fill(0);
    }
  }

  deleteCertificate(
    request: RequestPayload<'keyvault.delete-certificate'>,
  ): Result<'keyvault.delete-certificate'> {
    return { deleted: this.store.deleteCertificate(request.certificateId) };
  }

  /** A certificate's chain without its key, for the acme-agent to revoke it (RFC 8555 section 7.6). */
  certificateChain(
    request: RequestPayload<'keyvault.certificate-chain'>,
  ): Result<'keyvault.certificate-chain'> {
    const stored = this.store.getCertificate(request.certificateId);
    return stored ? { chainPem: stored.chainPem } : null;
  }

  /** Keep that the CA revoked a certificate; the acme-agent then renews from no revoked one. */
  certificateRevoked(
    request: RequestPayload<'keyvault.certificate-revoked'>,
  ): Result<'keyvault.certificate-revoked'> {
    return summaryOf(this.store.markRevoked(request.certificateId));
  }

  certificates(): Result<'keyvault.certificates'> {
    return {
      certificates: this.store.listCertificates().map((info) => summaryOf(info)),
    };
  }

  async caRoot(): Promise<Result<'keyvault.ca-root'>> {
    const ca = await this.#localCa.ensure();
    return { certificatePem: ca.rootPem };
  }

  /** The key `id`, which must be a key for `purpose`: a cached one is checked the same. */
  async #keyPair(id: string, purpose: KeyPurpose): Promise<KeyPair> {
    const cached = this.#keys.get(id);
    if (cached) {
      if (cached.purpose !== purpose) throw wrongPurpose(id, cached.purpose, purpose);
      return cached.pair;
    }

    const stored = this.#stored(id, purpose);
    const pkcs8 = this.store.getPrivateKey(id);
    if (!pkcs8) throw unknownKey(id);
    try {
      const pair = await importPrivateKeyPkcs8(stored.algorithm, pkcs8);
      this.#keys.set(id, { pair, purpose });
      return pair;
    } finally {
      pkcs8.fill(0);
    }
  }

  #stored(id: string, purpose: KeyPurpose): StoredKey {
    const stored = this.store.getPublicKey(id);
    if (!stored) throw unknownKey(id);
    if (stored.purpose !== purpose) throw wrongPurpose(id, stored.purpose, purpose);
    return stored;
  }

  #account(directoryUrl: string): Account {
    const account = this.store.getAccountByDirectory(directoryUrl);
    if (!account) {
      throw new KeyVaultError(
        'unknown_account',
        `The keyvault has no account key for ${directoryUrl}; ask keyvault.account-key first`,
      );
    }
    return account;
  }

  #describe(keyId: string, purpose: KeyPurpose): Result<'keyvault.account-key'> {
    const stored = this.#stored(keyId, purpose);
    return { keyId, jwk: { ...stored.publicJwk }, thumbprint: stored.thumbprint };
  }
}

function wrongPurpose(id: string, is: KeyPurpose, wanted: KeyPurpose): KeyVaultError {
  const article = wanted === 'account' ? 'an' : 'a';
  return new KeyVaultError(
    'wrong_key_purpose',
    `Key ${id} is a ${is} key, not ${article} ${wanted} key; each key serves one purpose`,
  );
}

function unknownKey(id: string): KeyVaultError {
  return new KeyVaultError('unknown_key', `The keyvault has no key ${id}; ask for a new one`);
}

function wildcardOf(identifier: Identifier): Identifier | undefined {
  if (identifier.type !== 'dns') return undefined;
  const dot = identifier.value.indexOf('.');
  if (dot < 0 || identifier.value.startsWith('*.')) return undefined;
  return { type: 'dns', value: `*${identifier.value.slice(dot)}` };
}

function summary(store: VaultStore, id: string): Result<'keyvault.store-chain'> {
  const stored = store.getCertificate(id);
  if (!stored) throw new KeyVaultError('unknown_key', `The certificate ${id} was not kept`);
  return summaryOf(stored);
}

function summaryOf(info: CertificateInfo): Result<'keyvault.store-chain'> {
  return {
    certificateId: info.id,
    keyId: info.keyId,
    identifiers: info.identifiers,
    notBefore: new Date(info.notBefore).toISOString(),
    notAfter: new Date(info.notAfter).toISOString(),
    issuer: info.issuer,
    serial: info.serial,
    ariCertId: info.ariCertId ?? null,
    directoryUrl: info.directoryUrl ?? null,
    revokedAt: info.revokedAt === undefined ? null : new Date(info.revokedAt).toISOString(),
  };
}

function pem(label: string, der: Uint8Array): string {
  const body = Buffer.from(der)
    .toString('base64')
    .replace(/(.{64})/g, '$1\n')
    .replace(/\n$/, '');
  return `-----BEGIN ${label}-----\n${body}\n-----END ${label}-----\n`;
}
