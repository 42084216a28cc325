/**
 * Keys: every algorithm generates, survives a PKCS#8 round trip, and gives
 * a public JWK and thumbprint that the `jose` library and Node's own
 * KeyObject agree with; PKCS#8 of the wrong kind is refused by name.
 */
import assert from 'node:assert/strict';
import {
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  webcrypto,
  type KeyObject,
} from 'node:crypto';
import { describe, it } from 'node:test';
import * as jose from 'jose';
import { KEY_ALGORITHMS, type KeyAlgorithm } from './algorithms.js';
import {
  KeyError,
  MAX_PKCS8_BYTES,
  canonicalJwkJson,
  exportPrivateKeyPkcs8,
  generateKeyPair,
  importPrivateKeyPkcs8,
  jwkThumbprint,
  keyAlgorithmOf,
  parsePublicJwk,
  publicJwk,
  type KeyErrorCode,
  type KeyPair,
  type PublicJwk,
} from './keys.js';

const JOSE_ALG: Record<KeyAlgorithm, string> = {
  'ec-p256': 'ES256',
  'ec-p384': 'ES384',
  'rsa-2048': 'RS256',
  'rsa-3072': 'RS256',
  'rsa-4096': 'RS256',
};

describe('generateKeyPair and PKCS#8', () => {
  for (const algorithm of KEY_ALGORITHMS) {
    it(`${algorithm}: generates, round-trips PKCS#8 and agrees with jose`, async () => {
      const pair = await generateKeyPair(algorithm);
      assert.equal(pair.algorithm, algorithm);
      assert.equal(pair.privateKey.type, 'private');
      assert.equal(pair.privateKey.extractable, true);
      assert.equal(pair.publicKey.type, 'public');
      assert.equal(keyAlgorithmOf(pair.privateKey), algorithm);
      assert.equal(keyAlgorithmOf(pair.publicKey), algorithm);

      const der = await exportPrivateKeyPkcs8(pair.privateKey);
      const opened = await importPrivateKeyPkcs8(algorithm, der);
      assert.equal(opened.algorithm, algorithm);
      assert.equal(opened.privateKey.extractable, true);
      assert.ok(equalBytes(await exportPrivateKeyPkcs8(opened.privateKey), der));

      const jwk = await publicJwk(pair.publicKey);
      assert.deepEqual(await publicJwk(pair.privateKey), jwk);
      assert.deepEqual(await publicJwk(opened.publicKey), jwk);
      assert.deepEqual(
        Object.keys(jwk),
        jwk.kty === 'EC' ? ['crv', 'kty', 'x', 'y'] : ['e', 'kty', 'n'],
      );
      assert.deepEqual(jwk, nodePublicJwk(createPrivateKey(derInput(der))));

      assert.equal(jwkThumbprint(jwk), await jose.calculateJwkThumbprint(jwk, 'sha256'));
      await assertJoseVerifies(opened, jwk, JOSE_ALG[algorithm]);
      await assertJoseVerifies(pair, await publicJwk(opened.publicKey), JOSE_ALG[algorithm]);
    });
  }
});

describe('jwkThumbprint', () => {
  it("gives RFC 7638's own example its thumbprint", () => {
    // RFC 7638 section 3.1; alg and kid are not required members and must not count.
    const example = {
      kty: 'RSA',
      n:
        '0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJ' +
        'ECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_F' +
        'DW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4v' +
        'MQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw',
      e: 'AQAB',
      alg: 'RS256',
      kid: '2011-04-29',
    };
    const jwk = parsePublicJwk(example);
    assert.equal(jwkThumbprint(jwk), 'NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs');
    assert.equal(jwkThumbprint(example as unknown as PublicJwk), jwkThumbprint(jwk));
    assert.equal(canonicalJwkJson(jwk), `{"e":"AQAB","kty":"RSA","n":"${example.n}"}`);
  });

  it('uses only the required members, in order, whatever order they came in', async () => {
    const jwk = await publicJwk((await generateKeyPair('ec-p256')).publicKey);
    if (jwk.kty !== 'EC') throw new Error('expected an EC JWK');
    const shuffled = { y: jwk.y, x: jwk.x, use: 'sig', kty: 'EC', crv: 'P-256' } as const;
    assert.equal(
      canonicalJwkJson(shuffled),
      `{"crv":"P-256","kty":"EC","x":"${jwk.x}","y":"${jwk.y}"}`,
    );
    assert.equal(jwkThumbprint(shuffled), jwkThumbprint(jwk));
  });
});

describe('importPrivateKeyPkcs8 refuses keys that are not what they claim', () => {
  const cases: [string, KeyAlgorithm, () => Uint8Array, KeyErrorCode, RegExp][] = [
    [
      'a P-384 key as ec-p256',
      'ec-p256',
      () => nodeDer('ec', 'P-384'),
      'algorithm_mismatch',
      /is ec-p384, but it was given as ec-p256/,
    ],
    [
      'a P-256 key as ec-p384',
      'ec-p384',
      () => nodeDer('ec', 'P-256'),
      'algorithm_mismatch',
      /is ec-p256, but it was given as ec-p384/,
    ],
    [
      'a secp256k1 key as ec-p256',
      'ec-p256',
      () => nodeDer('ec', 'secp256k1'),
      'algorithm_mismatch',
      /an EC key on curve secp256k1/,
    ],
    [
      'an RSA-2048 key as rsa-3072',
      'rsa-3072',
      () => nodeDer('rsa', 2048),
      'algorithm_mismatch',
      /is rsa-2048, but it was given as rsa-3072/,
    ],
    [
      'an RSA-1024 key as rsa-2048',
      'rsa-2048',
      () => nodeDer('rsa', 1024),
      'algorithm_mismatch',
      /an RSA key with a 1024-bit modulus/,
    ],
    [
      'an RSA key as ec-p256',
      'ec-p256',
      () => nodeDer('rsa', 2048),
      'algorithm_mismatch',
      /is rsa-2048, but it was given as ec-p256/,
    ],
    [
      'a P-256 key as rsa-2048',
      'rsa-2048',
      () => nodeDer('ec', 'P-256'),
      'algorithm_mismatch',
      /is ec-p256, but it was given as rsa-2048/,
    ],
    [
      'an Ed25519 key',
      'ec-p256',
      () => nodeDer('ed25519'),
      'algorithm_mismatch',
      /a key of type ed25519/,
    ],
    [
      'DER with a byte after it',
      'ec-p256',
      () => withTail(nodeDer('ec', 'P-256')),
      'invalid_pkcs8',
      /extra bytes/,
    ],
    [
      'a PEM text',
      'ec-p256',
      () => pemBytes(nodeDer('ec', 'P-256')),
      'invalid_pkcs8',
      /not one DER-encoded PKCS#8/,
    ],
    [
      'SEC1 DER instead of PKCS#8',
      'ec-p256',
      () => sec1Der(),
      'invalid_pkcs8',
      /not an unencrypted PKCS#8/,
    ],
    ['no bytes', 'ec-p256', () => new Uint8Array(0), 'invalid_pkcs8', /empty/],
    [
      'too many bytes',
      'rsa-4096',
      () => new Uint8Array(MAX_PKCS8_BYTES + 1).fill(0x30),
      'invalid_pkcs8',
      /more than the 8192/,
    ],
  ];
  for (const [name, algorithm, make, code, message] of cases) {
    it(name, async () => {
      const der = make();
      await assert.rejects(importPrivateKeyPkcs8(algorithm, der), (error: unknown) => {
        assertKeyError(error, code, message);
        assertNoKeyBytes(error, der);
        return true;
      });
    });
  }

  it('refuses an algorithm name it does not know', async () => {
    const der = nodeDer('ec', 'P-256');
    await assert.rejects(importPrivateKeyPkcs8('ec-p521' as KeyAlgorithm, der), (error: unknown) =>
      assertKeyError(error, 'unknown_algorithm', /use one of ec-p256, ec-p384, rsa-2048/),
    );
    await assert.rejects(generateKeyPair('dsa' as KeyAlgorithm), (error: unknown) =>
      assertKeyError(error, 'unknown_algorithm', /Unknown key algorithm/),
    );
  });

  it('imports a PKCS#8 key made by Node (not by this module) under its algorithm', async () => {
    const der = nodeDer('ec', 'P-384');
    const pair = await importPrivateKeyPkcs8('ec-p384', der);
    assert.deepEqual(
      await publicJwk(pair.publicKey),
      nodePublicJwk(createPrivateKey(derInput(der))),
    );
  });
});

describe('keys refuse what they cannot use', () => {
  it('will not export a public or non-extractable key as PKCS#8, reads either JWK', async () => {
    const pair = await generateKeyPair('ec-p256');
    await assert.rejects(exportPrivateKeyPkcs8(pair.publicKey), (error: unknown) =>
      assertKeyError(error, 'unsupported_key', /Cannot export a public key/),
    );
    const der = await exportPrivateKeyPkcs8(pair.privateKey);
    const locked = await webcrypto.subtle.importKey(
      'pkcs8',
      der,
      { name: 'ECDSA', namedCurve: 'P-256' },
      false,
      ['sign'],
    );
    await assert.rejects(exportPrivateKeyPkcs8(locked), (error: unknown) =>
      assertKeyError(error, 'unsupported_key', /non-extractable private key/),
    );

    // Its public half is no secret, and reading it needs no export of the private key.
    assert.deepEqual(await publicJwk(locked), await publicJwk(pair.publicKey));
  });

  it('names a key algorithm it does not use', async () => {
    const { privateKey } = await webcrypto.subtle.generateKey(
      { name: 'ECDSA', namedCurve: 'P-521' },
      true,
      ['sign'],
    );
    assert.throws(
      () => keyAlgorithmOf(privateKey),
      (error: unknown) => assertKeyError(error, 'unsupported_key', /ECDSA on P-521/),
    );
  });

  const badJwks: [string, unknown, RegExp][] = [
    ['not an object', 'EC', /must be a JSON object/],
    ['an oct key', { kty: 'oct', k: 'AAAA' }, /kty "EC" or "RSA"/],
    ['a P-521 key', { kty: 'EC', crv: 'P-521', x: 'AA', y: 'AA' }, /crv "P-256" or "P-384"/],
    [
      'a short x',
      { kty: 'EC', crv: 'P-256', x: 'AAAA', y: 'A'.repeat(43) },
      /member x must be base64url .* of 32 bytes/,
    ],
    [
      'a padded y',
      { kty: 'EC', crv: 'P-256', x: 'A'.repeat(43), y: `${'A'.repeat(43)}=` },
      /member y/,
    ],
    ['a missing e', { kty: 'RSA', n: 'A'.repeat(342) }, /member e/],
    [
      'a 2040-bit n',
      { kty: 'RSA', e: 'AQAB', n: `w${'A'.repeat(339)}` },
      /member n must be base64url \(no padding\) of 256 to 512 bytes/,
    ],
    [
      'an n with a leading zero',
      { kty: 'RSA', e: 'AQAB', n: 'A'.repeat(342) },
      /exactly 2048, 3072 or 4096 bits/,
    ],
  ];
  for (const [name, jwk, message] of badJwks) {
    it(`refuses a JWK: ${name}`, () => {
      assert.throws(
        () => parsePublicJwk(jwk),
        (error: unknown) => assertKeyError(error, 'invalid_jwk', message),
      );
    });
  }
});

async function assertJoseVerifies(pair: KeyPair, jwk: PublicJwk, alg: string): Promise<void> {
  const payload = new TextEncoder().encode('keys.test');
  const jws = await new jose.FlattenedSign(payload)
    .setProtectedHeader({ alg })
    .sign(pair.privateKey);
  const verifyKey = await jose.importJWK({ ...jwk }, alg);
  const result = await jose.flattenedVerify(jws, verifyKey);
  assert.deepEqual(result.payload, payload);
}

function assertKeyError(error: unknown, code: KeyErrorCode, message: RegExp): true {
  assert.ok(error instanceof KeyError, `expected a KeyError, got ${String(error)}`);
  assert.equal(error.name, 'KeyError');
  assert.equal(error.code, code);
  assert.match(error.message, message);
  return true;
}

/** The message names no encoding of the key: not its DER, nor any long base64 run. */
function assertNoKeyBytes(error: unknown, der: Uint8Array): void {
  const message = error instanceof Error ? error.message : String(error);
  const bytes = Buffer.from(der);
  for (const encoding of ['hex', 'base64', 'base64url'] as const) {
    const text = bytes.toString(encoding);
    if (text.length >= 16)
      assert.ok(!message.includes(text.slice(0, 16)), 'message holds key bytes');
  }
  assert.doesNotMatch(message, /[A-Za-z0-9+/_-]{40,}/, 'message holds a long encoded run');
}

type NodeKey = ['ec', string] | ['rsa', number] | ['ed25519'];

function nodeDer(...spec: NodeKey): Uint8Array {
  const { privateKey } =
    spec[0] === 'ec'
      ? generateKeyPairSync('ec', { namedCurve: spec[1] })
      : spec[0] === 'rsa'
        ? generateKeyPairSync('rsa', { modulusLength: spec[1] })
        : generateKeyPairSync('ed25519');
  return new Uint8Array(privateKey.export({ format: 'der', type: 'pkcs8' }));
}

function sec1Der(): Uint8Array {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return new Uint8Array(privateKey.export({ format: 'der', type: 'sec1' }));
}

function withTail(der: Uint8Array): Uint8Array {
  return Uint8Array.from([...der, 0]);
}

function pemBytes(der: Uint8Array): Uint8Array {
  const pem = createPrivateKey(derInput(der)).export({ format: 'pem', type: 'pkcs8' });
  return new TextEncoder().encode(String(pem));
}

function derInput(der: Uint8Array) {
  return { key: Buffer.from(der), format: 'der', type: 'pkcs8' } as const;
}

/** Node's own view of the public JWK, reduced to the required members. */
function nodePublicJwk(privateKey: KeyObject): PublicJwk {
  const jwk = createPublicKey(privateKey).export({ format: 'jwk' });
  return jwk.kty === 'EC'
    ? { crv: jwk.crv as 'P-256', kty: 'EC', x: String(jwk.x), y: String(jwk.y) }
    : { e: String(jwk.e), kty: 'RSA', n: String(jwk.n) };
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.from(a).equals(Buffer.from(b));
}
