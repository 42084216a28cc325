/**
 * ACME JWS: every signature made here is verified by the `jose` library
 * (ES256, ES384, RS256, with jwk and with kid, POST-as-GET, the inner JWS
 * of a key change, External Account Binding with HMAC), and every bad
 * field is refused with its code and a message that holds no key.
 */
import assert from 'node:assert/strict';
import { webcrypto } from 'node:crypto';
import { before, describe, it } from 'node:test';
import * as jose from 'jose';
import type { KeyAlgorithm } from './algorithms.js';
import {
  JWS_LIMITS,
  JwsError,
  jwsAlgorithm,
  signExternalAccountBinding,
  signJws,
  signKeyChangeInner,
  signPostAsGet,
  type AcmeHeader,
  type ExternalAccountBindingRequest,
  type FlattenedJws,
  type JsonObject,
  type JwsErrorCode,
  type MacAlgorithm,
} from './jws.js';
import {
  canonicalJwkJson,
  exportPrivateKeyPkcs8,
  generateKeyPair,
  publicJwk,
  type KeyPair,
  type PublicJwk,
} from './keys.js';

const CA = 'https://ca.example/acme';
const ACCOUNT = `${CA}/acct/1234`;
const NONCE = 'oFvnlFP1wIhRlYS2jTaXbA';

interface Signer {
  pair: KeyPair;
  jwk: PublicJwk;
  secrets: string[];
}

async function makeSigner(algorithm: KeyAlgorithm): Promise<Signer> {
  const pair = await generateKeyPair(algorithm);
  const der = Buffer.from(await exportPrivateKeyPkcs8(pair.privateKey));
  const privateJwk = await webcrypto.subtle.exportKey('jwk', pair.privateKey);
  const secrets = [der.toString('base64'), der.toString('base64url'), der.toString('hex')];
  for (const member of ['d', 'p', 'q', 'dp', 'dq', 'qi'] as const) {
    const value = privateJwk[member];
    if (value !== undefined) secrets.push(value);
  }
  return { pair, jwk: await publicJwk(pair.publicKey), secrets };
}

const cases: [KeyAlgorithm, string, number][] = [
  ['ec-p256', 'ES256', 64],
  ['ec-p384', 'ES384', 96],
  ['rsa-2048', 'RS256', 256],
];

describe('signJws and signPostAsGet', () => {
  for (const [algorithm, alg, signatureBytes] of cases) {
    describe(algorithm, () => {
      let signer: Signer;
      before(async () => {
        signer = await makeSigner(algorithm);
      });

      it(`signs with kid as ${alg}, and jose verifies it`, async () => {
        const payload = { identifiers: [{ type: 'dns', value: 'example.org' }] };
        const jws = await signJws(
          signer.pair.privateKey,
          { nonce: NONCE, url: `${CA}/new-order`, kid: ACCOUNT },
          payload,
        );

        const result = await verifyWith(jws, await jose.importJWK({ ...signer.jwk }, alg), alg);
        assert.deepEqual(result.protectedHeader, {
          alg,
          kid: ACCOUNT,
          nonce: NONCE,
          url: `${CA}/new-order`,
        });
        assert.deepEqual(JSON.parse(new TextDecoder().decode(result.payload)), payload);
        assert.deepEqual(Object.keys(jws), ['protected', 'payload', 'signature']);
        assert.equal(Buffer.from(jws.signature, 'base64url').length, signatureBytes);
      });

      it(`signs with jwk as ${alg}, and jose verifies it with the embedded key`, async () => {
        const payload = { termsOfServiceAgreed: true, contact: ['mailto:ops@example.org'] };
        const header = { nonce: NONCE, url: `${CA}/new-account`, jwk: signer.jwk };
        const jws = await signJws(signer.pair.privateKey, header, payload);

        const result = await verifyWith(jws, jose.EmbeddedJWK, alg);
        assert.deepEqual(result.protectedHeader, {
          alg,
          jwk: signer.jwk,
          nonce: NONCE,
          url: `${CA}/new-account`,
        });
        assert.deepEqual(JSON.parse(new TextDecoder().decode(result.payload)), payload);
      });

      it(`signs POST-as-GET as ${alg} with the empty payload`, async () => {
        const jws = await signPostAsGet(signer.pair.privateKey, {
          nonce: NONCE,
          url: `${CA}/order/7`,
          kid: ACCOUNT,
        });
        assert.equal(jws.payload, '');

        const result = await verifyWith(jws, await jose.importJWK({ ...signer.jwk }, alg), alg);
        assert.equal(result.payload.length, 0);
        assert.deepEqual(result.protectedHeader, {
          alg,
          kid: ACCOUNT,
          nonce: NONCE,
          url: `${CA}/order/7`,
        });
      });

      it('makes a signature that does not verify once the payload changes', async () => {
        const jws = await signJws(
          signer.pair.privateKey,
          { nonce: NONCE, url: CA, kid: ACCOUNT },
          { status: 'deactivated' },
        );
        const forged = { ...jws, payload: Buffer.from('{"status":"valid"}').toString('base64url') };
        const key = await jose.importJWK({ ...signer.jwk }, alg);
        await assert.rejects(
          verifyWith(forged, key, alg),
          jose.errors.JWSSignatureVerificationFailed,
        );
      });
    });
  }

  it('accepts http only for loopback hosts', async () => {
    const { pair } = await makeSigner('ec-p256');
    for (const url of [
      'http://127.0.0.1:14000/dir',
      'http://localhost:14000/x',
      'http://[::1]:14000/x',
      'http://127.1.2.3/x',
    ]) {
      const jws = await signPostAsGet(pair.privateKey, { nonce: NONCE, url, kid: ACCOUNT });
      assert.equal(decodeHeader(jws).url, url);
    }
  });
});

describe('signKeyChangeInner', () => {
  it('is signed by the new key, with alg, jwk and url only, over {account, oldKey}', async () => {
    const oldSigner = await makeSigner('ec-p256');
    const newSigner = await makeSigner('ec-p384');
    const url = `${CA}/key-change`;
    const inner = await signKeyChangeInner(newSigner.pair.privateKey, {
      url,
      account: ACCOUNT,
      oldKey: oldSigner.jwk,
    });

    const result = await verifyWith(inner, jose.EmbeddedJWK, 'ES384');
    assert.deepEqual(result.protectedHeader, { alg: 'ES384', jwk: newSigner.jwk, url });
    assert.deepEqual(JSON.parse(new TextDecoder().decode(result.payload)), {
      account: ACCOUNT,
      oldKey: oldSigner.jwk,
    });
    await verifyWith(inner, await jose.importJWK({ ...newSigner.jwk }, 'ES384'), 'ES384');
    await assert.rejects(
      verifyWith(inner, await jose.importJWK({ ...oldSigner.jwk }, 'ES256'), 'ES384'),
      'the old key must not verify the inner JWS',
    );

    // The outer JWS, as the agent would have it signed: old key, kid, same url.
    const outer = await signJws(
      oldSigner.pair.privateKey,
      { nonce: NONCE, url, kid: ACCOUNT },
      inner,
    );
    const outerResult = await verifyWith(
      outer,
      await jose.importJWK({ ...oldSigner.jwk }, 'ES256'),
      'ES256',
    );
    assert.deepEqual(JSON.parse(new TextDecoder().decode(outerResult.payload)), inner);
  });

  it('refuses to change to the key already in use', async () => {
    const signer = await makeSigner('ec-p256');
    const request = { url: `${CA}/key-change`, account: ACCOUNT, oldKey: signer.jwk };
    await expectJwsError(
      signKeyChangeInner(signer.pair.privateKey, request),
      'same_key',
      /needs a new key/,
      signer.secrets,
    );
  });

  it('checks its url, account and old key', async () => {
    const signer = await makeSigner('ec-p256');
    const old = (await makeSigner('ec-p256')).jwk;
    const url = `${CA}/key-change`;
    const key = signer.pair.privateKey;
    await expectJwsError(
      signKeyChangeInner(key, { url: 'http://ca.example/kc', account: ACCOUNT, oldKey: old }),
      'invalid_url',
      /JWS url must be an https URL/,
      signer.secrets,
    );
    await expectJwsError(
      signKeyChangeInner(key, { url, account: 'acct-1234', oldKey: old }),
      'invalid_url',
      /JWS account must be an https URL/,
      signer.secrets,
    );
    await expectJwsError(
      signKeyChangeInner(key, {
        url,
        account: ACCOUNT,
        oldKey: { kty: 'EC' } as unknown as PublicJwk,
      }),
      'invalid_jwk',
      /oldKey JWK is not usable/,
      signer.secrets,
    );
  });
});

describe('signExternalAccountBinding', () => {
  const macAlgorithms: [MacAlgorithm, number][] = [
    ['HS256', 32],
    ['HS384', 48],
    ['HS512', 64],
  ];
  for (const [alg, size] of macAlgorithms) {
    it(`makes a ${alg} binding over the account JWK that jose verifies`, async () => {
      const account = await makeSigner('ec-p256');
      const secret = webcrypto.getRandomValues(new Uint8Array(size));
      const url = `${CA}/new-account`;
      const request: ExternalAccountBindingRequest = {
        accountKey: account.jwk,
        keyId: 'kid-0K8rX_eab',
        macKey: Buffer.from(secret).toString('base64url'),
        url,
        ...(alg === 'HS256' ? {} : { algorithm: alg }),
      };
      const eab = await signExternalAccountBinding(request);

      const result = await verifyWith(eab, secret, alg);
      assert.deepEqual(result.protectedHeader, { alg, kid: 'kid-0K8rX_eab', url });
      assert.equal(new TextDecoder().decode(result.payload), canonicalJwkJson(account.jwk));

      const wrongSecret = Uint8Array.from(secret, (byte) => byte ^ 1);
      await assert.rejects(
        verifyWith(eab, wrongSecret, alg),
        jose.errors.JWSSignatureVerificationFailed,
      );

      // RFC 8555 section 7.3.4: it rides in the newAccount payload, signed by the account key.
      const outer = await signJws(
        account.pair.privateKey,
        { nonce: NONCE, url, jwk: account.jwk },
        { termsOfServiceAgreed: true, externalAccountBinding: eab },
      );
      await verifyWith(outer, jose.EmbeddedJWK, 'ES256');
    });
  }

  const macKey = Buffer.from('eab-secret-that-must-never-leak!').toString('base64url');
  const refusals: [
    string,
    Partial<ExternalAccountBindingRequest> & Record<string, unknown>,
    JwsErrorCode,
    RegExp,
  ][] = [
    ['a padded MAC key', { macKey: `${macKey}=` }, 'invalid_mac_key', /must be base64url/],
    [
      'a standard-base64 MAC key',
      { macKey: `${macKey.slice(0, -2)}+/` },
      'invalid_mac_key',
      /must be base64url/,
    ],
    [
      'a MAC key with a space',
      { macKey: `${macKey.slice(0, 20)} ${macKey.slice(20)}` },
      'invalid_mac_key',
      /must be base64url/,
    ],
    ['an empty MAC key', { macKey: '' }, 'invalid_mac_key', /MAC key is missing/],
    [
      'an oversized MAC key',
      { macKey: macKey.repeat(40) },
      'invalid_mac_key',
      /at most 1024 bytes/,
    ],
    [
      'an unknown MAC algorithm',
      { algorithm: 'HS1' as MacAlgorithm },
      'unsupported_mac_algorithm',
      /HS256, HS384 or HS512/,
    ],
    [
      'a key id with a space',
      { keyId: 'kid 1' },
      'invalid_kid',
      /printable ASCII characters without spaces/,
    ],
    [
      'an oversized key id',
      { keyId: 'k'.repeat(JWS_LIMITS.maxKeyIdLength + 1) },
      'invalid_kid',
      /1 to 512/,
    ],
    ['an http url', { url: 'http://ca.example/new-account' }, 'invalid_url', /https URL/],
    [
      'a private JWK as the account key',
      { accountKey: { kty: 'oct', k: macKey } as unknown as PublicJwk },
      'invalid_jwk',
      /kty "EC" or "RSA"/,
    ],
  ];
  for (const [name, change, code, message] of refusals) {
    it(`refuses ${name}, and no message holds the MAC key`, async () => {
      const account = await makeSigner('ec-p256');
      const request = {
        accountKey: account.jwk,
        keyId: 'kid-1',
        macKey,
        url: `${CA}/new-account`,
        ...change,
      };
      const macKeys = [macKey, Buffer.from(macKey, 'base64url').toString('utf8'), request.macKey];
      await expectJwsError(signExternalAccountBinding(request), code, message, macKeys);
    });
  }
});

describe('bad requests are refused by name', () => {
  let signer: Signer;
  before(async () => {
    signer = await makeSigner('ec-p256');
  });
  const ok: AcmeHeader = { nonce: NONCE, url: `${CA}/new-order`, kid: ACCOUNT };

  const headerCases: [string, () => unknown, JwsErrorCode, RegExp][] = [
    [
      'a caller-supplied alg',
      () => ({ ...ok, alg: 'none' }),
      'alg_not_allowed',
      /must not carry alg/,
    ],
    [
      'a caller-supplied alg equal to the right one',
      () => ({ ...ok, alg: 'ES256' }),
      'alg_not_allowed',
      /Leave it out/,
    ],
    [
      'both jwk and kid',
      () => ({ ...ok, jwk: signer.jwk }),
      'key_reference',
      /exactly one of jwk .* it has both/,
    ],
    [
      'neither jwk nor kid',
      () => ({ nonce: NONCE, url: ok.url }),
      'key_reference',
      /it has neither/,
    ],
    [
      'an http url off loopback',
      () => ({ ...ok, url: 'http://ca.example/new-order' }),
      'invalid_url',
      /it is http:\/\/ca\.example/,
    ],
    [
      'an http url to a name ending in localhost',
      () => ({ ...ok, url: 'http://evil.localhost.example/x' }),
      'invalid_url',
      /https URL/,
    ],
    ['an ftp url', () => ({ ...ok, url: 'ftp://ca.example/x' }), 'invalid_url', /it is ftp:/],
    ['a relative url', () => ({ ...ok, url: '/new-order' }), 'invalid_url', /does not parse/],
    [
      'a url with credentials',
      () => ({ ...ok, url: 'https://user:pw@ca.example/x' }),
      'invalid_url',
      /user name or password/,
    ],
    [
      'a url with a space',
      () => ({ ...ok, url: 'https://ca.example/a b' }),
      'invalid_url',
      /holds spaces/,
    ],
    [
      'an oversized url',
      () => ({ ...ok, url: `${CA}/${'a'.repeat(JWS_LIMITS.maxUrlLength)}` }),
      'invalid_url',
      /too long/,
    ],
    [
      'a url that is not a string',
      () => ({ ...ok, url: 42 }),
      'invalid_url',
      /missing or not a string/,
    ],
    [
      'a kid that is not a URL',
      () => ({ ...ok, kid: '1234' }),
      'invalid_kid',
      /JWS kid must be an https URL/,
    ],
    [
      'a padded nonce',
      () => ({ ...ok, nonce: `${NONCE}==` }),
      'invalid_nonce',
      /base64url without padding/,
    ],
    ['a nonce with +', () => ({ ...ok, nonce: 'a+b' }), 'invalid_nonce', /Replay-Nonce/],
    ['an empty nonce', () => ({ ...ok, nonce: '' }), 'invalid_nonce', /Replay-Nonce/],
    [
      'an oversized nonce',
      () => ({ ...ok, nonce: 'n'.repeat(JWS_LIMITS.maxNonceLength + 1) }),
      'invalid_nonce',
      /1 to 512 characters/,
    ],
    [
      'an unknown member',
      () => ({ ...ok, crit: ['b64'] }),
      'invalid_header',
      /member "crit" that ACME does not use/,
    ],
    ['a header that is not an object', () => 'nonce', 'invalid_header', /must be an object/],
    [
      'a jwk of another key',
      () => ({ nonce: NONCE, url: ok.url, jwk: otherJwk }),
      'jwk_mismatch',
      /not the public key of the signing key/,
    ],
    [
      'a jwk with private members only',
      () => ({ nonce: NONCE, url: ok.url, jwk: { kty: 'EC', crv: 'P-256', d: 'AAAA' } }),
      'invalid_jwk',
      /member x/,
    ],
  ];
  let otherJwk: PublicJwk;
  before(async () => {
    otherJwk = (await makeSigner('ec-p256')).jwk;
  });
  for (const [name, header, code, message] of headerCases) {
    it(`refuses ${name}`, async () => {
      await expectJwsError(
        signJws(signer.pair.privateKey, header() as AcmeHeader, {}),
        code,
        message,
        signer.secrets,
      );
      await expectJwsError(
        signPostAsGet(signer.pair.privateKey, header() as AcmeHeader),
        code,
        message,
        signer.secrets,
      );
    });
  }

  it('refuses a payload over the bound, and one just under it signs', async () => {
    const room = JWS_LIMITS.maxPayloadBytes - '{"csr":""}'.length;
    const fits = await signJws(signer.pair.privateKey, ok, { csr: 'A'.repeat(room) });
    await verifyWith(fits, await jose.importJWK({ ...signer.jwk }, 'ES256'), 'ES256');
    await expectJwsError(
      signJws(signer.pair.privateKey, ok, { csr: 'A'.repeat(room + 1) }),
      'payload_too_large',
      /65537 bytes of JSON, more than the 65536/,
      signer.secrets,
    );
  });

  const payloadCases: [string, unknown, RegExp][] = [
    ['an array payload', [1, 2], /must be a JSON object/],
    ['a string payload', '', /for POST-as-GET use the empty payload/],
    ['a null payload', null, /must be a JSON object/],
    ['a payload with a BigInt', { n: 1n }, /cannot be written as JSON/],
  ];
  for (const [name, payload, message] of payloadCases) {
    it(`refuses ${name}`, async () => {
      await expectJwsError(
        signJws(signer.pair.privateKey, ok, payload as JsonObject),
        'invalid_payload',
        message,
        signer.secrets,
      );
    });
  }

  it('refuses keys that cannot sign a JWS here', async () => {
    await expectJwsError(
      signJws(signer.pair.publicKey, ok, {}),
      'unsupported_key',
      /this is a public key/,
      signer.secrets,
    );

    const p521 = await webcrypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-521' }, true, [
      'sign',
    ]);
    assert.throws(
      () => jwsAlgorithm(p521.privateKey),
      (error: unknown) => {
        assertJwsError(
          error,
          'unsupported_key',
          /ECDSA on P-521, which the keyvault does not use/,
          signer.secrets,
        );
        return true;
      },
    );
  });
});

async function verifyWith(
  jws: FlattenedJws,
  key: webcrypto.CryptoKey | Uint8Array | typeof jose.EmbeddedJWK,
  alg: string,
): Promise<jose.FlattenedVerifyResult> {
  if (typeof key === 'function') return jose.flattenedVerify(jws, key, { algorithms: [alg] });
  return jose.flattenedVerify(jws, key, { algorithms: [alg] });
}

function decodeHeader(jws: FlattenedJws): JsonObject {
  return JSON.parse(Buffer.from(jws.protected, 'base64url').toString('utf8')) as JsonObject;
}

async function expectJwsError(
  promise: Promise<unknown>,
  code: JwsErrorCode,
  message: RegExp,
  secrets: string[],
): Promise<void> {
  await assert.rejects(promise, (error: unknown) => {
    assertJwsError(error, code, message, secrets);
    return true;
  });
}

/** Checks name, code and message, and that no secret (nor a slice of one) is in the message. */
function assertJwsError(
  error: unknown,
  code: JwsErrorCode,
  message: RegExp,
  secrets: string[],
): void {
  assert.ok(
    error instanceof JwsError,
    `expected a JwsError, got ${error instanceof Error ? error.name : typeof error}`,
  );
  assert.equal(error.name, 'JwsError');
  assert.equal(error.code, code);
  assert.match(error.message, message);
  for (const secret of secrets) {
    for (let start = 0; start + 12 <= secret.length; start += 12) {
      assert.ok(
        !error.message.includes(secret.slice(start, start + 12)),
        'the message holds key material',
      );
    }
  }
  assert.doesNotMatch(
    error.message,
    /[A-Za-z0-9+/_-]{40,}/,
    'the message holds a long encoded run',
  );
}
