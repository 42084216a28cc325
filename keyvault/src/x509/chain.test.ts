import assert from 'node:assert/strict';
import { createPublicKey, webcrypto } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type CryptoKey, type KeyPair, generateKeyPair } from '../keys.js';
import {
  ChainError,
  type ChainErrorCode,
  MAX_CHAIN_CERTIFICATES,
  MAX_CHAIN_PEM_LENGTH,
  checkChain,
} from './chain.js';
import { certificateDer, certificatePem, signCertificate } from './certificate-builder.js';
import { commonNameOnly, emptyName } from './distinguished-name.js';
import { type Identifier } from './identifiers.js';
import { type LocalLeaf, issueLocalLeaf } from './local-ca.js';
import { parsePem, toPem } from './pem.js';
import { subjectAltNameExtension } from './subject-alt-name.js';
import { type TestCa, makeLocalCa, openssl, temporaryFolder } from './test-support.js';

const NAMES: Identifier[] = [
  { type: 'dns', value: 'localhost' },
  { type: 'dns', value: 'app.localhost' },
  { type: 'ip', value: '127.0.0.1' },
];

function failsWith(code: ChainErrorCode, message?: RegExp) {
  return (error: unknown): boolean => {
    assert.ok(error instanceof ChainError, `expected a ChainError, got ${String(error)}`);
    assert.equal(error.code, code, error.message);
    if (message) assert.match(error.message, message);
    return true;
  };
}

/** RFC 9773 section 4.1, computed from what openssl prints, not from our parser. */
async function ariIdFromOpenssl(pem: string): Promise<{ ari: string; serial: string }> {
  const text = await openssl(['x509', '-noout', '-serial', '-ext', 'authorityKeyIdentifier'], pem);
  const serialHex = /^serial=([0-9A-F]+)$/m.exec(text)?.[1];
  const keyIdHex = /Authority Key Identifier: *\n +(?:keyid:)?([0-9A-F:]+)\n/.exec(text)?.[1];
  assert.ok(serialHex && keyIdHex, text);

  let number = Buffer.from(serialHex.length % 2 ? `0${serialHex}` : serialHex, 'hex');
  while (number.length > 1 && number[0] === 0) number = number.subarray(1);
  // DER INTEGER content: a positive number whose top bit is set gets a 0x00.
  const serial = (number[0] ?? 0) & 0x80 ? Buffer.concat([Buffer.from([0]), number]) : number;
  const keyId = Buffer.from(keyIdHex.replace(/:/g, ''), 'hex');
  return {
    ari: `${keyId.toString('base64url')}.${serial.toString('base64url')}`,
    // Whole octets, as the DER holds them, less the sign octet.
    serial: number.toString('hex'),
  };
}

describe('checkChain', () => {
  let ca: TestCa;
  let leafKey: KeyPair;
  let leaf: LocalLeaf;

  before(async () => {
    ca = await makeLocalCa();
    leafKey = await generateKeyPair('ec-p256');
    leaf = await issueLocalLeaf(ca.issuer, NAMES, leafKey.publicKey);
  });

  it('accepts a local-CA chain and reads what storage needs', async () => {
    const checked = await checkChain(leaf.chainPem, {
      publicKey: leafKey.publicKey,
      identifiers: NAMES,
    });

    assert.deepEqual(checked.identifiers, NAMES);
    assert.equal(checked.certificates.length, 2);
    assert.equal(checked.chainPem, leaf.chainPem);
    assert.equal(checked.notBefore.getTime(), leaf.notBefore.getTime());
    assert.equal(checked.notAfter.getTime(), leaf.notAfter.getTime());

    const issuer = await openssl(['x509', '-noout', '-issuer', '-nameopt', 'RFC2253'], leaf.pem);
    assert.equal(`issuer=${checked.issuer}\n`, issuer);
    assert.equal(checked.issuerCommonName, ca.intermediate.commonName);
  });

  it('gives the ARI id and serial openssl implies, with and without a leading zero octet', async () => {
    const seen = new Set<boolean>();
    // Half of all random serials have the top bit set; 64 tries miss one
    // kind with a chance of 2^-63.
    for (let attempt = 0; attempt < 64 && seen.size < 2; attempt++) {
      const other = await issueLocalLeaf(ca.issuer, NAMES, leafKey.publicKey);
      const checked = await checkChain(other.chainPem, {
        publicKey: leafKey.publicKey,
        identifiers: NAMES,
      });
      const expected = await ariIdFromOpenssl(other.pem);
      assert.equal(checked.ariCertificateId, expected.ari);
      assert.equal(checked.serial, expected.serial);
      const serialPart = Buffer.from(checked.ariCertificateId?.split('.')[1] ?? '', 'base64url');
      seen.add(serialPart[0] === 0);
    }
    assert.equal(seen.size, 2);
  });

  it('takes identifiers in any order and spelling', async () => {
    const asked: Identifier[] = [
      { type: 'ip', value: '127.0.0.1' },
      { type: 'dns', value: 'APP.localhost' },
      { type: 'dns', value: 'LocalHost' },
    ];
    const checked = await checkChain(leaf.chainPem, {
      publicKey: leafKey.publicKey,
      identifiers: asked,
    });
    assert.equal(checked.identifiers.length, 3);
  });

  it('refuses a chain for another key', async () => {
    const other = await generateKeyPair('ec-p256');
    await assert.rejects(
      checkChain(leaf.chainPem, { publicKey: other.publicKey, identifiers: NAMES }),
      failsWith('key_mismatch', /public key is not the certificate key/),
    );
    const rsa = await generateKeyPair('rsa-2048');
    await assert.rejects(
      checkChain(leaf.chainPem, { publicKey: rsa.publicKey, identifiers: NAMES }),
      failsWith('key_mismatch'),
    );
  });

  it('refuses missing and extra identifiers and says which', async () => {
    await assert.rejects(
      checkChain(leaf.chainPem, {
        publicKey: leafKey.publicKey,
        identifiers: [...NAMES, { type: 'dns', value: 'www.localhost' }],
      }),
      (error: unknown) => {
        failsWith('identifiers_mismatch', /missing dns:www\.localhost/)(error);
        assert.deepEqual((error as ChainError).identifiers, {
          missing: ['dns:www.localhost'],
          extra: [],
        });
        return true;
      },
    );
    await assert.rejects(
      checkChain(leaf.chainPem, { publicKey: leafKey.publicKey, identifiers: NAMES.slice(0, 2) }),
      (error: unknown) => {
        failsWith('identifiers_mismatch', /not asked for ip:127\.0\.0\.1/)(error);
        assert.deepEqual((error as ChainError).identifiers, {
          missing: [],
          extra: ['ip:127.0.0.1'],
        });
        return true;
      },
    );
  });

  it('refuses a changed signature, a wrong or missing intermediate, and a non-CA issuer', async () => {
    const [leafBlock, intermediateBlock] = parsePem(leaf.chainPem);
    assert.ok(leafBlock && intermediateBlock);
    const broken = Buffer.from(leafBlock.der);
    broken[broken.length - 4] = (broken[broken.length - 4] ?? 0) ^ 0x01;
    const expected = { publicKey: leafKey.publicKey, identifiers: NAMES };

    await assert.rejects(
      checkChain(toPem('CERTIFICATE', broken) + ca.intermediate.pem, expected),
      failsWith('broken_chain', /Certificate 1 is not signed by the key of certificate 2/),
    );

    const otherCa = await makeLocalCa();
    await assert.rejects(
      checkChain(leaf.pem + otherCa.intermediate.pem, expected),
      failsWith('broken_chain', /names an issuer other than certificate 2/),
    );
    await assert.rejects(
      checkChain(leaf.pem + ca.root.pem, expected),
      failsWith('broken_chain', /issuer other than/),
    );
    await assert.rejects(
      checkChain(leaf.chainPem + otherCa.root.pem, expected),
      failsWith('broken_chain', /Certificate 2 names an issuer other than certificate 3/),
    );

    // A leaf given as the issuer of another leaf.
    const second = await issueLocalLeaf(ca.issuer, NAMES, leafKey.publicKey);
    await assert.rejects(checkChain(second.pem + leaf.pem, expected), failsWith('broken_chain'));

    // An issuer with the right name and key that is not a CA.
    const notCaKey = await generateKeyPair('ec-p256');
    const notCaName = commonNameOnly('Not a CA');
    const validity = { notBefore: new Date(), notAfter: new Date(Date.now() + 86_400_000) };
    const notCa = await signCertificate({
      ...validity,
      subject: notCaName,
      issuer: notCaName,
      subjectPublicKey: notCaKey.publicKey,
      issuerPrivateKey: notCaKey.privateKey,
      extensions: [],
    });
    const child = await signCertificate({
      ...validity,
      subject: emptyName(),
      issuer: notCaName,
      subjectPublicKey: leafKey.publicKey,
      issuerPrivateKey: notCaKey.privateKey,
      extensions: [subjectAltNameExtension(NAMES, true)],
    });
    await assert.rejects(
      checkChain(
        certificatePem(certificateDer(child)) + certificatePem(certificateDer(notCa)),
        expected,
      ),
      failsWith('broken_chain', /certificate 2 is not a CA certificate/),
    );

    // The full chain up to the root is accepted too.
    await checkChain(leaf.chainPem + ca.root.pem, expected);
  });

  it('refuses what is not a chain of certificates, without echoing it', async () => {
    const expected = { publicKey: leafKey.publicKey, identifiers: NAMES };
    const secretish = '-----BEGIN PRIVATE KEY-----\nU0VDUkVUU0VDUkVU\n-----END PRIVATE KEY-----\n';
    const cases: [string, ChainErrorCode][] = [
      ['', 'chain_unparsable'],
      ['not pem at all', 'chain_unparsable'],
      [secretish, 'chain_unparsable'],
      [leaf.pem + secretish, 'chain_unparsable'],
      ['-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n', 'chain_unparsable'],
      ['-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n', 'chain_unparsable'],
      [leaf.pem.slice(0, 200), 'chain_unparsable'],
      [
        toPem(
          'CERTIFICATE',
          Buffer.concat([parsePem(leaf.pem)[0]?.der ?? Buffer.alloc(0), Buffer.from([0])]),
        ),
        'chain_unparsable',
      ],
      [leaf.pem.repeat(MAX_CHAIN_CERTIFICATES + 1), 'chain_too_large'],
      ['x'.repeat(MAX_CHAIN_PEM_LENGTH + 1), 'chain_too_large'],
    ];
    for (const [input, code] of cases) {
      await assert.rejects(checkChain(input, expected), (error: unknown) => {
        failsWith(code)(error);
        assert.ok(!(error as Error).message.includes('U0VDUkVU'));
        return true;
      });
    }
  });

  describe('a chain made by openssl, not by us', () => {
    let folder = '';
    let remove = async (): Promise<void> => {};
    before(async () => ({ folder, remove } = await temporaryFolder()));
    after(() => remove());

    it('is accepted, with its RSA signature checked and its issuer read as openssl reads it', async () => {
      const file = (name: string) => path.join(folder, name);
      // prettier-ignore
      await openssl([
        'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', file('ca.key'),
        '-out', file('ca.pem'), '-days', '30',
        '-subj', '/C=US/O=Example CA, Inc./CN=Example Issuer R1',
        '-addext', 'basicConstraints=critical,CA:TRUE',
        '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
      ]);
      // prettier-ignore
      await openssl([
        'req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
        '-keyout', file('leaf.key'), '-out', file('leaf.csr'), '-subj', '/CN=example.com',
      ]);
      await writeFile(
        file('leaf.ext'),
        'subjectAltName=DNS:example.com,IP:192.0.2.1,IP:2001:db8::1\n' +
          'authorityKeyIdentifier=keyid\nbasicConstraints=CA:FALSE\n',
      );
      // prettier-ignore
      await openssl([
        'x509', '-req', '-in', file('leaf.csr'), '-CA', file('ca.pem'), '-CAkey', file('ca.key'),
        '-set_serial', '0x80f1e2d3c4b5a6978800112233445566', '-days', '7',
        '-extfile', file('leaf.ext'), '-out', file('leaf.pem'),
      ]);

      const leafPem = await readFile(file('leaf.pem'), 'utf8');
      const caPem = await readFile(file('ca.pem'), 'utf8');
      const publicKey = await importPublicKey(await readFile(file('leaf.key'), 'utf8'));
      const checked = await checkChain(leafPem + caPem, {
        publicKey,
        identifiers: [
          { type: 'ip', value: '2001:db8::1' },
          { type: 'dns', value: 'example.com' },
          { type: 'ip', value: '192.0.2.1' },
        ],
      });

      const issuer = await openssl(['x509', '-noout', '-issuer', '-nameopt', 'RFC2253'], leafPem);
      assert.equal(issuer, 'issuer=CN=Example Issuer R1,O=Example CA\\, Inc.,C=US\n');
      assert.equal(`issuer=${checked.issuer}\n`, issuer);
      assert.equal(checked.issuerCommonName, 'Example Issuer R1');
      assert.equal(checked.serial, '80f1e2d3c4b5a6978800112233445566');
      assert.equal(checked.ariCertificateId, (await ariIdFromOpenssl(leafPem)).ari);
      assert.match(checked.ariCertificateId ?? '', /\.AIDx4tPEtaaXiAARIjNEVWY$/);

      const dates = await openssl(['x509', '-noout', '-startdate', '-enddate'], leafPem);
      const notAfter = /notAfter=(.*)/.exec(dates)?.[1] ?? '';
      assert.equal(checked.notAfter.getTime(), new Date(notAfter).getTime());
    });
  });
});

async function importPublicKey(privateKeyPem: string): Promise<CryptoKey> {
  const spki = createPublicKey(privateKeyPem).export({ type: 'spki', format: 'der' });
  return webcrypto.subtle.importKey('spki', spki, { name: 'ECDSA', namedCurve: 'P-256' }, true, [
    'verify',
  ]);
}
