import assert from 'node:assert/strict';
import { X509Certificate, generateKeyPairSync, randomBytes } from 'node:crypto';
import { type AddressInfo } from 'node:net';
import tls from 'node:tls';
import { describe, it } from 'node:test';
import * as asn1js from 'asn1js';
import * as pkijs from 'pkijs';
import { KeyError } from '../keys.js';
import {
  type ChallengeKeyPair,
  ChallengeCertificateError,
  type ChallengeCertificateErrorCode,
  createChallengeCertificate,
  newChallengeKeyPair,
} from './challenge-certificate.js';
import { type Identifier, IdentifierError, reverseDnsName } from './identifiers.js';
import { openssl } from './test-support.js';

function keyAuthorization(): string {
  const thumbprint = randomBytes(32).toString('base64url');
  return `${randomBytes(32).toString('base64url')}.${thumbprint}`;
}

/** The acmeIdentifier extension's bytes, read from openssl's hex dump of the certificate. */
async function acmeExtensionHex(pem: string): Promise<string> {
  const text = await openssl(['x509', '-noout', '-text', '-certopt', 'ext_dump'], pem);
  const block = /1\.3\.6\.1\.5\.5\.7\.1\.31: critical\n((?: +[0-9a-f]{4} - .*\n)+)/.exec(text);
  assert.ok(block?.[1], `no critical 1.3.6.1.5.5.7.1.31 extension in:\n${text}`);
  return block[1]
    .split('\n')
    .map((line) => /^ +[0-9a-f]{4} - ((?:[0-9a-f]{2}[ -]?)+)/.exec(line)?.[1] ?? '')
    .join('')
    .replace(/[^0-9a-f]/g, '');
}

async function sha256WithOpenssl(text: string): Promise<string> {
  const output = await openssl(['dgst', '-sha256', '-r'], text);
  return output.split(' ')[0] ?? '';
}

describe('createChallengeCertificate', () => {
  const cases: { identifier: Identifier; san: string }[] = [
    { identifier: { type: 'dns', value: 'example.com' }, san: 'DNS:example.com' },
    { identifier: { type: 'dns', value: 'Bücher.Example' }, san: 'DNS:xn--bcher-kva.example' },
    { identifier: { type: 'ip', value: '192.0.2.1' }, san: 'IP Address:192.0.2.1' },
    { identifier: { type: 'ip', value: '2001:db8::1' }, san: 'IP Address:2001:DB8:0:0:0:0:0:1' },
  ];

  for (const { identifier, san } of cases) {
    it(`carries the digest and the only SAN ${san}, as openssl reads them`, async () => {
      const key = newChallengeKeyPair();
      const authorization = keyAuthorization();
      const certificate = createChallengeCertificate(identifier, authorization, key);

      const hex = await acmeExtensionHex(certificate.pem);
      assert.equal(hex, `0420${await sha256WithOpenssl(authorization)}`);

      const text = await openssl(['x509', '-noout', '-text'], certificate.pem);
      const sans = /Alternative Name: *\n *(.*)\n/.exec(text)?.[1];
      assert.equal(sans, san);
      assert.equal(text.match(/X509v3 Subject Alternative Name/g)?.length, 1);
      assert.match(text, /Signature Algorithm: ecdsa-with-SHA256/);
    });
  }

  it('is self-signed, short-lived from an hour ago, with a positive random serial', async () => {
    const key = newChallengeKeyPair();
    const now = new Date('2030-05-06T07:08:09.500Z');
    const first = createChallengeCertificate(
      { type: 'dns', value: 'example.com' },
      keyAuthorization(),
      key,
      { now },
    );
    const second = createChallengeCertificate(
      { type: 'dns', value: 'example.com' },
      keyAuthorization(),
      key,
      { now },
    );
    const x509 = new X509Certificate(first.pem);

    assert.ok(x509.verify(x509.publicKey));
    assert.ok(x509.checkIssued(x509));
    assert.equal(new Date(x509.validFrom).toISOString(), '2030-05-06T06:08:09.000Z');
    assert.equal(new Date(x509.validTo).toISOString(), '2030-05-13T06:08:09.000Z');
    assert.notEqual(x509.serialNumber, new X509Certificate(second.pem).serialNumber);

    const serial = await openssl(['x509', '-noout', '-serial'], first.pem);
    assert.match(serial, /^serial=[0-9A-F]{2,34}\n$/);
    const der = await openssl(['asn1parse', '-inform', 'PEM', '-strparse', '4'], first.pem);
    assert.doesNotMatch(der, /INTEGER +:-/, 'the serial must not be negative');
  });

  it('is served by a real Node TLS server on acme-tls/1 to a client sending the reverse-DNS SNI', async () => {
    const key = newChallengeKeyPair();
    const identifier: Identifier = { type: 'ip', value: '127.0.0.1' };
    const certificate = createChallengeCertificate(identifier, keyAuthorization(), key);
    const peer = await fetchServedCertificate(certificate.pem, key, reverseDnsName('127.0.0.1'));

    assert.equal(peer.alpn, 'acme-tls/1');
    assert.equal(peer.servername, '1.0.0.127.in-addr.arpa');
    assert.deepEqual(peer.raw, certificate.der);
  });

  it('refuses a malformed key authorization without echoing it', () => {
    const key = newChallengeKeyPair();
    const secret = 'not-a-key-authorization-SECRET';
    for (const bad of [secret, `${secret}.short`, `${secret}.${'A'.repeat(43)}.x`, '']) {
      assert.throws(
        () => createChallengeCertificate({ type: 'dns', value: 'example.com' }, bad, key),
        (error: unknown) => {
          assert.ok(error instanceof ChallengeCertificateError);
          assert.equal(
            error.code,
            'key_authorization_invalid' satisfies ChallengeCertificateErrorCode,
          );
          assert.ok(!error.message.includes('SECRET'));
          return true;
        },
      );
    }
  });

  it("is DER that pkijs reads back to the same bytes, holding the key's own SPKI", async () => {
    const key = newChallengeKeyPair();
    const certificate = createChallengeCertificate(
      { type: 'dns', value: 'example.com' },
      keyAuthorization(),
      key,
    );
    const parsed = pkijs.Certificate.fromBER(certificate.der);
    assert.deepEqual(Buffer.from(parsed.toSchema(true).toBER(false)), certificate.der);
    assert.equal(parsed.version, 2);
    assert.equal(parsed.signatureAlgorithm.algorithmId, '1.2.840.10045.4.3.2');
    const spki = key.publicKey.export({ type: 'spki', format: 'der' });
    assert.deepEqual(Buffer.from(parsed.subjectPublicKeyInfo.toSchema().toBER(false)), spki);
    const strict = await openssl(['x509', '-noout', '-checkend', '0'], certificate.pem);
    assert.match(strict, /will not expire/);
    assert.ok(asn1js.fromBER(certificate.der).offset === certificate.der.length);
  });

  it('refuses a key that is not a P-256 pair', () => {
    const p384 = generateKeyPairSync('ec', { namedCurve: 'secp384r1' });
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const p256 = newChallengeKeyPair();
    for (const key of [p384, rsa, { privateKey: p256.publicKey, publicKey: p256.publicKey }]) {
      assert.throws(
        () =>
          createChallengeCertificate(
            { type: 'dns', value: 'example.com' },
            keyAuthorization(),
            key,
          ),
        (error: unknown) => error instanceof KeyError && error.code === 'unsupported_key',
      );
    }
  });

  it('refuses wildcards and invalid identifiers', () => {
    const key = newChallengeKeyPair();
    assert.throws(
      () =>
        createChallengeCertificate(
          { type: 'dns', value: '*.example.com' },
          keyAuthorization(),
          key,
        ),
      (error: unknown) =>
        error instanceof ChallengeCertificateError && error.code === 'identifier_wildcard',
    );
    assert.throws(
      () => createChallengeCertificate({ type: 'ip', value: '300.1.1.1' }, keyAuthorization(), key),
      (error: unknown) => error instanceof IdentifierError && error.code === 'ip_address_invalid',
    );
  });
});

/** Serve `pem` with `key` on loopback and return what a client offering acme-tls/1 receives. */
async function fetchServedCertificate(
  pem: string,
  key: ChallengeKeyPair,
  servername: string,
): Promise<{ alpn: string | false | null; servername: string | false; raw: Buffer }> {
  const keyPem = key.privateKey.export({ type: 'pkcs8', format: 'pem' });
  const server = tls.createServer({ cert: pem, key: keyPem, ALPNProtocols: ['acme-tls/1'] });
  const accepted = new Promise<string | false>((resolve) => {
    server.once('secureConnection', (socket: tls.TLSSocket) => {
      resolve((socket as tls.TLSSocket & { servername: string | false }).servername);
      socket.end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));

  try {
    const { port } = server.address() as AddressInfo;
    const socket = tls.connect({
      host: '127.0.0.1',
      port,
      servername,
      ALPNProtocols: ['acme-tls/1'],
      // The validator trusts nothing here either; it checks the extension.
      rejectUnauthorized: false,
    });
    await new Promise<void>((resolve, reject) => {
      socket.once('secureConnect', resolve);
      socket.once('error', reject);
    });
    const result = { alpn: socket.alpnProtocol, raw: socket.getPeerCertificate().raw };
    const seenName = await accepted;
    socket.destroy();
    return { ...result, servername: seenName };
  } finally {
    server.close();
  }
}
