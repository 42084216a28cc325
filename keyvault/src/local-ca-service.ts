/**
 * The keyvault's local CA: made once per vault on first use (a root and an
 * intermediate, keys sealed like every other), then issuing short-lived
 * leaves for names no public CA will certify, so that a fresh Gatehouse
 * serves https://localhost with a certificate an operator can trust
 * (`gatehouse ca root`).
 */
import { isIP } from 'node:net';
import { DEFAULT_KEY_ALGORITHM } from './algorithms.js';
import { generateKeyPair, type KeyPair } from './keys.js';
import { certificateRecord, newId, newKeyRecord } from './records.js';
import {
  StoreError,
  type KeyPurpose,
  type LocalCa as StoredLocalCa,
  type VaultStore,
} from './store.js';
import { checkChain } from './x509/chain.js';
import type { Identifier } from './x509/identifiers.js';
import { createLocalIntermediate, createLocalRoot, issueLocalLeaf } from './x509/local-ca.js';

/** Top-level names reserved from public DNS (RFC 6761, RFC 8375) or in common private use. */
const PRIVATE_SUFFIXES = ['localhost', 'local', 'internal', 'test', 'invalid', 'home.arpa', 'lan'];

export class LocalCa {
  #pending: Promise<StoredLocalCa> | undefined;

  constructor(
    private readonly store: VaultStore,
    private readonly keyPair: (id: string, purpose: KeyPurpose) => Promise<KeyPair>,
  ) {}

  /** Names and addresses the local CA issues for: private ones only. */
  static covers(identifier: Identifier): boolean {
    if (identifier.type === 'ip') return isPrivateAddress(identifier.value);
    const name = identifier.value.replace(/^\*\./, '');
    if (!name.includes('.')) return true;
    return PRIVATE_SUFFIXES.some((suffix) => name === suffix || name.endsWith(`.${suffix}`));
  }

  /** The local CA, made now if the vault has none. Concurrent callers share one making. */
  ensure(): Promise<StoredLocalCa> {
    const stored = this.store.getLocalCa();
    if (stored) return Promise.resolve(stored);
    this.#pending ??= this.#make().finally(() => {
      this.#pending = undefined;
    });
    return this.#pending;
  }

  /** Issue and store a leaf for one identifier; returns the certificate id. */
  async issue(identifier: Identifier): Promise<string> {
    const ca = await this.ensure();
    const intermediateKey = await this.keyPair(ca.intermediateKeyId, 'ca');
    const pair = await generateKeyPair(DEFAULT_KEY_ALGORITHM);
    const leaf = await issueLocalLeaf(
      { certificatePem: ca.intermediatePem, privateKey: intermediateKey.privateKey },
      [identifier],
      pair.publicKey,
    );
    const chain = await checkChain(leaf.chainPem, {
      publicKey: pair.publicKey,
      identifiers: [identifier],
    });
    const key = await newKeyRecord(pair, 'certificate', 'key');
    const id = newId('crt');
    this.store.putCertificate(certificateRecord(id, key.id, chain, key));
    return id;
  }

  async #make(): Promise<StoredLocalCa> {
    const rootPair = await generateKeyPair(DEFAULT_KEY_ALGORITHM);
    const intermediatePair = await generateKeyPair(DEFAULT_KEY_ALGORITHM);
    const root = await createLocalRoot(rootPair);
    const intermediate = await createLocalIntermediate(
      { certificatePem: root.pem, privateKey: rootPair.privateKey },
      intermediatePair.publicKey,
    );
    try {
      return this.store.putLocalCa({
        root: { key: await newKeyRecord(rootPair, 'ca', 'key'), certificatePem: root.pem },
        intermediate: {
          key: await newKeyRecord(intermediatePair, 'ca', 'key'),
          certificatePem: intermediate.pem,
        },
      });
    } catch (error) {
      // Made meanwhile by another process on the same vault: use that one.
      const stored = this.store.getLocalCa();
      if (error instanceof StoreError && error.code === 'conflict' && stored) return stored;
      throw error;
    }
  }
}

/** Loopback, private (RFC 1918, RFC 4193), link-local and CGNAT addresses. */
function isPrivateAddress(address: string): boolean {
  if (isIP(address) === 4) {
    const [a = 0, b = 0] = address.split('.').map(Number);
    return (
      a === 127 ||
      a === 10 ||
      (a === 172 && b >= 16 && b <= 31) ||
      (a === 192 && b === 168) ||
      (a === 169 && b === 254) ||
      (a === 100 && b >= 64 && b <= 127)
    );
  }
  const lower = address.toLowerCase();
  return lower === '::1' || /^f[cd]/.test(lower) || /^fe[89ab]/.test(lower);
}
