/**
 * New keyvault records: ids, and key records ready for the store (which
 * seals the PKCS#8 and wipes it).
 */
import { randomBytes } from 'node:crypto';
import { exportPrivateKeyPkcs8, jwkThumbprint, publicJwk, type KeyPair } from './keys.js';
import type { KeyPurpose, NewCertificate, NewKey } from './store.js';
import type { CheckedChain } from './x509/chain.js';

/** A key record ready for the store: sealed there, so the caller wipes nothing else. */
export async function newKeyRecord(
  pair: KeyPair,
  purpose: KeyPurpose,
  prefix: string,
): Promise<NewKey & { publicJwk: Record<string, string> }> {
  const jwk = await publicJwk(pair.publicKey);
  return {
    id: newId(prefix),
    algorithm: pair.algorithm,
    purpose,
    pkcs8: await exportPrivateKeyPkcs8(pair.privateKey),
    publicJwk: { ...jwk },
    thumbprint: jwkThumbprint(jwk),
  };
}

export function newId(prefix: string): string {
  return `${prefix}_${randomBytes(16).toString('base64url')}`;
}

/** A checked chain as a certificate record, with its key when that is new too. */
export function certificateRecord(
  id: string,
  keyId: string,
  chain: CheckedChain,
  key?: NewKey,
): NewCertificate {
  return {
    id,
    keyId,
    ...(key ? { key } : {}),
    chainPem: chain.chainPem,
    identifiers: [...chain.identifiers],
    notBefore: chain.notBefore.getTime(),
    notAfter: chain.notAfter.getTime(),
    issuer: chain.issuer,
    serial: chain.serial,
    ...(chain.ariCertificateId ? { ariCertId: chain.ariCertificateId } : {}),
  };
}
