import assert from 'node:assert/strict';
import { webcrypto } from 'node:crypto';
import { describe, it } from 'node:test';
import { type KeyAlgorithm } from '../algorithms.js';
import { CsrError, createCsr } from './csr.js';
import { type Identifier, IdentifierError } from './identifiers.js';
import { KeyError, type KeyPair, generateKeyPair } from '../keys.js';
import { parsePem } from './pem.js';
import { openssl, runOpenssl } from './test-support.js';

const SIGNATURES: Record<string, string> = {
  'ec-p256': 'ecdsa-with-SHA256',
  'ec-p384': 'ecdsa-with-SHA384',
  'rsa-2048': 'sha256WithRSAEncryption',
};

const IDENTIFIER_SETS: { name: string; identifiers: Identifier[]; san: string; subject: RegExp }[] =
  [
    {
      name: 'DNS names',
      identifiers: [
        { type: 'dns', value: 'example.com' },
        { type: 'dns', value: 'www.example.com' },
      ],
      san: 'DNS:example.com, DNS:www.example.com',
      subject: /Subject: CN = example\.com\n/,
    },
    {
      name: 'a wildcard',
      identifiers: [
        { type: 'dns', value: '*.example.com' },
        { type: 'dns', value: 'example.com' },
      ],
      san: 'DNS:*.example.com, DNS:example.com',
      subject: /Subject: CN = \*\.example\.com\n/,
    },
    {
      name: 'IP addresses only',
      identifiers: [
        { type: 'ip', value: '192.0.2.1' },
        { type: 'ip', value: '2001:db8::1' },
      ],
      san: 'IP Address:192.0.2.1, IP Address:2001:DB8:0:0:0:0:0:1',
      subject: /Subject: *\n/,
    },
    {
      name: 'DNS names and IP addresses',
      identifiers: [
        { type: 'ip', value: '198.51.100.7' },
        { type: 'dns', value: 'xn--bcher-kva.example' },
      ],
      san: 'IP Address:198.51.100.7, DNS:xn--bcher-kva.example',
      subject: /Subject: CN = xn--bcher-kva\.example\n/,
    },
  ];

describe('createCsr', () => {
  for (const algorithm of Object.keys(SIGNATURES) as KeyAlgorithm[]) {
    describe(algorithm, () => {
      const key = generateKeyPair(algorithm);

      for (const set of IDENTIFIER_SETS) {
        it(`makes a CSR for ${set.name} that openssl verifies and reads`, async () => {
          const csr = await createCsr(set.identifiers, await key);

          assert.equal(await verifyWithOpenssl(csr.pem), 'OK');

          const text = await openssl(['req', '-noout', '-text'], csr.pem);
          assert.match(text, /Version: 1 \(0x0\)/);
          assert.match(text, set.subject);
          const critical = /Subject: *\n/.test(text) ? 'critical' : '';
          const san = new RegExp(`Alternative Name: ?${critical} *\\n *(.*)\\n`).exec(text);
          assert.equal(san?.[1], set.san, text);
          assert.match(text, new RegExp(`Signature Algorithm: ${SIGNATURES[algorithm]}`));

          // The DER is the PEM's body, and openssl reads it as DER too.
          assert.deepEqual(parsePem(csr.pem)[0]?.der, csr.der);
          assert.equal(await verifyWithOpenssl(csr.der), 'OK');
        });
      }
    });
  }

  it('has openssl refuse a CSR whose signature was changed', async () => {
    const key = await generateKeyPair('ec-p256');
    const csr = await createCsr([{ type: 'dns', value: 'example.com' }], key);
    const broken = Buffer.from(csr.der);
    broken[broken.length - 3] = (broken[broken.length - 3] ?? 0) ^ 0x01;

    assert.equal(await verifyWithOpenssl(csr.der), 'OK');
    assert.equal(await verifyWithOpenssl(broken), 'failure');
  });

  it('leaves the subject empty and the SAN critical for a long first name or on request', async () => {
    const key = await generateKeyPair('ec-p256');
    const long = `${'a'.repeat(60)}.example`;
    for (const csr of [
      await createCsr([{ type: 'dns', value: long }], key),
      await createCsr([{ type: 'dns', value: 'example.com' }], key, { commonName: false }),
    ]) {
      const text = await openssl(['req', '-noout', '-text'], csr.pem);
      assert.match(text, /Subject: *\n/);
      assert.match(text, /X509v3 Subject Alternative Name: critical/);
    }
  });

  it('normalizes identifiers and refuses invalid ones', async () => {
    const key = await generateKeyPair('ec-p256');
    const csr = await createCsr([{ type: 'dns', value: 'WWW.Bücher.Example' }], key);
    const text = await openssl(['req', '-noout', '-text'], csr.pem);
    assert.match(text, /DNS:www\.xn--bcher-kva\.example/);

    await assert.rejects(createCsr([], key), IdentifierError);
    await assert.rejects(
      createCsr([{ type: 'dns', value: 'bad_name.example' }], key),
      (error: unknown) => error instanceof IdentifierError && error.code === 'dns_name_invalid',
    );
  });

  it('refuses keys it cannot use, and a private key from another pair', async () => {
    const names: Identifier[] = [{ type: 'dns', value: 'example.com' }];
    const p256 = await generateKeyPair('ec-p256');
    const other = await generateKeyPair('ec-p256');

    await assert.rejects(
      createCsr(names, { publicKey: p256.publicKey, privateKey: other.privateKey }),
      (error: unknown) => error instanceof CsrError && error.code === 'csr_self_check_failed',
    );
    await assert.rejects(
      createCsr(names, { publicKey: p256.publicKey, privateKey: p256.publicKey }),
      (error: unknown) => error instanceof KeyError && error.code === 'unsupported_key',
    );

    const p521 = (await webcrypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-521' }, true, [
      'sign',
      'verify',
    ])) as Omit<KeyPair, 'algorithm'>;
    await assert.rejects(
      createCsr(names, p521),
      (error: unknown) =>
        error instanceof KeyError &&
        error.code === 'unsupported_key' &&
        /P-521/.test(error.message),
    );
  });
});

// OpenSSL 3.0's `req -verify` exits 0 even when the signature is wrong, so
// read its verdict from the text it prints.
async function verifyWithOpenssl(csr: string | Buffer): Promise<string> {
  const format = typeof csr === 'string' ? 'PEM' : 'DER';
  const result = await runOpenssl(['req', '-verify', '-noout', '-inform', format], csr);
  const verdict = /self-signature verify (OK|failure)/.exec(result.stdout + result.stderr);
  return verdict?.[1] ?? `no verdict (exit ${result.code}): ${result.stderr}`;
}
