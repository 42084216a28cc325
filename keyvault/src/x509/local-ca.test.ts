import assert from 'node:assert/strict';
import { KeyObject, X509Certificate } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { type AddressInfo } from 'node:net';
import path from 'node:path';
import tls from 'node:tls';
import { after, before, describe, it } from 'node:test';
import { type KeyPair, generateKeyPair } from '../keys.js';
import { IdentifierError } from './identifiers.js';
import {
  LocalCaError,
  type LocalCertificate,
  type LocalLeaf,
  createLocalRoot,
  issueLocalLeaf,
} from './local-ca.js';
import { type TestCa, makeLocalCa, openssl, runOpenssl, temporaryFolder } from './test-support.js';

const DAY_MS = 86_400_000;

describe('local CA', () => {
  let folder = '';
  let remove = async (): Promise<void> => {};
  let ca: TestCa;

  before(async () => {
    ({ folder, remove } = await temporaryFolder());
    ca = await makeLocalCa();
  });
  after(() => remove());

  /** `openssl verify` of a leaf against the root, with the intermediate as untrusted. */
  async function verifyWithOpenssl(
    leaf: LocalLeaf,
    root: LocalCertificate,
    checks: string[],
  ): Promise<{ code: number; output: string }> {
    const files = { root: 'root.pem', intermediate: 'intermediate.pem', leaf: 'leaf.pem' };
    await writeFile(path.join(folder, files.root), root.pem);
    await writeFile(path.join(folder, files.intermediate), ca.intermediate.pem);
    await writeFile(path.join(folder, files.leaf), leaf.pem);
    const result = await runOpenssl([
      'verify',
      '-x509_strict',
      '-purpose',
      'sslserver',
      ...checks,
      '-CAfile',
      path.join(folder, files.root),
      '-untrusted',
      path.join(folder, files.intermediate),
      path.join(folder, files.leaf),
    ]);
    return { code: result.code, output: result.stdout + result.stderr };
  }

  it('makes a root and an intermediate with the constraints a CA needs', async () => {
    const root = await openssl(['x509', '-noout', '-text'], ca.root.pem);
    assert.match(ca.root.commonName ?? '', /^Gatehouse Local Root [0-9a-f]{8}$/);
    assert.match(root, /Basic Constraints: critical\n +CA:TRUE\n/);
    assert.match(root, /Key Usage: critical\n +Certificate Sign, CRL Sign\n/);
    assert.match(root, /Subject Key Identifier/);
    assert.match(root, /Signature Algorithm: ecdsa-with-SHA256/);
    const rootYears = (ca.root.notAfter.getTime() - ca.root.notBefore.getTime()) / DAY_MS / 365.25;
    assert.ok(rootYears > 9.99 && rootYears < 10.01, `root valid ${rootYears} years`);

    const intermediate = await openssl(['x509', '-noout', '-text'], ca.intermediate.pem);
    assert.match(ca.intermediate.commonName ?? '', /^Gatehouse Local Intermediate [0-9a-f]{8}$/);
    assert.match(intermediate, /Basic Constraints: critical\n +CA:TRUE, pathlen:0\n/);
    assert.match(intermediate, /Extended Key Usage: *\n +TLS Web Server Authentication\n/);
    assert.match(intermediate, new RegExp(`Issuer: CN = ${ca.root.commonName ?? '-'}\n`));
    const days =
      (ca.intermediate.notAfter.getTime() - ca.intermediate.notBefore.getTime()) / DAY_MS;
    assert.equal(days, 365);

    const rootFile = path.join(folder, 'root-only.pem');
    await writeFile(rootFile, ca.root.pem);
    const verify = await runOpenssl(['verify', '-x509_strict', '-CAfile', rootFile, rootFile]);
    assert.equal(verify.code, 0, verify.stderr);
  });

  it('issues leaves that openssl verify accepts for their names, and only those', async () => {
    const leafKey = await generateKeyPair('ec-p256');
    const leaf = await issueLocalLeaf(
      ca.issuer,
      [
        { type: 'dns', value: 'localhost' },
        { type: 'dns', value: 'app.localhost' },
        { type: 'dns', value: '*.dev.localhost' },
        { type: 'ip', value: '127.0.0.1' },
        { type: 'ip', value: '::1' },
      ],
      leafKey.publicKey,
    );

    for (const check of [
      ['-verify_hostname', 'localhost'],
      ['-verify_hostname', 'app.localhost'],
      ['-verify_hostname', 'api.dev.localhost'],
      ['-verify_ip', '127.0.0.1'],
      ['-verify_ip', '::1'],
    ]) {
      const result = await verifyWithOpenssl(leaf, ca.root, check);
      assert.equal(result.code, 0, result.output);
      assert.match(result.output, /leaf\.pem: OK/);
    }

    const wrongName = await verifyWithOpenssl(leaf, ca.root, ['-verify_hostname', 'example.com']);
    assert.notEqual(wrongName.code, 0);
    const otherCa = await makeLocalCa();
    const wrongRoot = await verifyWithOpenssl(leaf, otherCa.root, []);
    assert.notEqual(wrongRoot.code, 0);

    const text = await openssl(['x509', '-noout', '-text'], leaf.pem);
    assert.match(text, /Subject: CN = localhost\n/);
    assert.match(text, /Basic Constraints: critical\n +CA:FALSE\n/);
    assert.match(text, /Key Usage: critical\n +Digital Signature\n/);
    assert.match(
      text,
      /Subject Alternative Name: *\n +DNS:localhost, DNS:app\.localhost, DNS:\*\.dev\.localhost, IP Address:127\.0\.0\.1, IP Address:0:0:0:0:0:0:0:1\n/,
    );
    const x509 = new X509Certificate(leaf.pem);
    const intermediate = new X509Certificate(ca.intermediate.pem);
    assert.equal(x509.issuer, intermediate.subject);
    assert.ok(x509.checkIssued(intermediate));
    assert.equal((leaf.notAfter.getTime() - leaf.notBefore.getTime()) / DAY_MS, 7);
    assert.equal(leaf.chainPem, leaf.pem + ca.intermediate.pem);
  });

  it('completes a verified TLS handshake with Node, trusting only the root', async () => {
    const leafKey = await generateKeyPair('ec-p256');
    const leaf = await issueLocalLeaf(
      ca.issuer,
      [{ type: 'dns', value: 'localhost' }],
      leafKey.publicKey,
    );
    const result = await handshake(leaf.chainPem, leafKey, ca.root.pem, 'localhost');
    assert.equal(result.authorized, true, result.error);
    assert.equal(result.chainLength, 3);

    // The same server fails for a client that trusts another root.
    const otherCa = await makeLocalCa();
    const refused = await handshake(leaf.chainPem, leafKey, otherCa.root.pem, 'localhost');
    assert.equal(refused.authorized, false);
    assert.match(refused.error ?? '', /UNABLE_TO_(GET|VERIFY)/);
  });

  it('issues for RSA leaf keys with keyEncipherment, and for long names with an empty subject', async () => {
    const rsa = await generateKeyPair('rsa-2048');
    const long = `${'a'.repeat(60)}.localhost`;
    const leaf = await issueLocalLeaf(ca.issuer, [{ type: 'dns', value: long }], rsa.publicKey, {
      validityDays: 1,
    });
    const text = await openssl(['x509', '-noout', '-text'], leaf.pem);
    assert.match(text, /Key Usage: critical\n +Digital Signature, Key Encipherment\n/);
    assert.match(text, /Subject: *\n/);
    assert.match(text, /Subject Alternative Name: critical/);
    assert.equal((leaf.notAfter.getTime() - leaf.notBefore.getTime()) / DAY_MS, 1);
    const result = await verifyWithOpenssl(leaf, ca.root, ['-verify_hostname', long]);
    assert.equal(result.code, 0, result.output);
  });

  it('never issues past the issuer, and refuses an expired issuer', async () => {
    const leafKey = await generateKeyPair('ec-p256');
    const late = new Date(ca.intermediate.notAfter.getTime() - 2 * DAY_MS);
    const leaf = await issueLocalLeaf(
      ca.issuer,
      [{ type: 'dns', value: 'localhost' }],
      leafKey.publicKey,
      {
        now: late,
      },
    );
    assert.equal(leaf.notAfter.getTime(), ca.intermediate.notAfter.getTime());

    const expired = new Date(ca.intermediate.notAfter.getTime() + 1000);
    await assert.rejects(
      issueLocalLeaf(ca.issuer, [{ type: 'dns', value: 'localhost' }], leafKey.publicKey, {
        now: expired,
      }),
      (error: unknown) =>
        error instanceof LocalCaError &&
        error.code === 'issuer_expired' &&
        /make a new intermediate/.test(error.message),
    );
  });

  it('refuses a wrong issuer key, a non-CA issuer, bad PEM, bad validity and bad names', async () => {
    const leafKey = await generateKeyPair('ec-p256');
    const names = [{ type: 'dns' as const, value: 'localhost' }];
    const code = (expected: string) => (error: unknown) =>
      error instanceof LocalCaError && error.code === expected;

    await assert.rejects(
      issueLocalLeaf(
        { certificatePem: ca.intermediate.pem, privateKey: ca.rootKey.privateKey },
        names,
        leafKey.publicKey,
      ),
      code('issuer_key_mismatch'),
    );
    await assert.rejects(
      createLocalRoot({ publicKey: leafKey.publicKey, privateKey: ca.rootKey.privateKey }),
      code('issuer_key_mismatch'),
    );

    const leaf = await issueLocalLeaf(ca.issuer, names, leafKey.publicKey);
    await assert.rejects(
      issueLocalLeaf(
        { certificatePem: leaf.pem, privateKey: leafKey.privateKey },
        names,
        leafKey.publicKey,
      ),
      code('issuer_not_ca'),
    );
    for (const certificatePem of [
      '',
      'garbage',
      ca.root.pem + ca.intermediate.pem,
      '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n',
    ]) {
      await assert.rejects(
        issueLocalLeaf(
          { certificatePem, privateKey: ca.intermediateKey.privateKey },
          names,
          leafKey.publicKey,
        ),
        code('issuer_invalid'),
      );
    }
    for (const validityDays of [0, 91, 1.5, Number.NaN]) {
      await assert.rejects(
        issueLocalLeaf(ca.issuer, names, leafKey.publicKey, { validityDays }),
        code('validity_invalid'),
      );
    }
    await assert.rejects(
      issueLocalLeaf(ca.issuer, [{ type: 'dns', value: 'bad_name' }], leafKey.publicKey),
      IdentifierError,
    );
    await assert.rejects(
      issueLocalLeaf(ca.issuer, [{ type: 'dns', value: '*.localhost' }], leafKey.publicKey),
      (error: unknown) =>
        code('wildcard_too_broad')(error) && /app\.localhost/.test((error as Error).message),
    );
  });
});

interface HandshakeResult {
  authorized: boolean;
  error: string | undefined;
  chainLength: number;
}

/** A real TLS server on loopback serving `chainPem`, and a client trusting only `rootPem`. */
async function handshake(
  chainPem: string,
  key: KeyPair,
  rootPem: string,
  servername: string,
): Promise<HandshakeResult> {
  const keyPem = KeyObject.from(key.privateKey).export({ type: 'pkcs8', format: 'pem' });
  const server = tls.createServer({ cert: chainPem, key: keyPem }, (socket) => socket.end());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));

  try {
    const { port } = server.address() as AddressInfo;
    const socket = tls.connect({
      host: '127.0.0.1',
      port,
      servername,
      ca: rootPem,
      rejectUnauthorized: false,
    });
    await new Promise<void>((resolve, reject) => {
      socket.once('secureConnect', resolve);
      socket.once('error', reject);
    });
    let chainLength = 0;
    const seen = new Set<string>();
    // The chain as the client built it; a root's issuer is itself.
    let peer: tls.DetailedPeerCertificate | undefined = socket.getPeerCertificate(true);
    while (peer?.fingerprint256 && !seen.has(peer.fingerprint256)) {
      seen.add(peer.fingerprint256);
      chainLength++;
      peer = peer.issuerCertificate;
    }
    const result = {
      authorized: socket.authorized,
      // Node sets a code string here (e.g. UNABLE_TO_GET_ISSUER_CERT), not an Error.
      error: socket.authorizationError ? String(socket.authorizationError) : undefined,
      chainLength,
    };
    socket.destroy();
    return result;
  } finally {
    server.close();
  }
}
