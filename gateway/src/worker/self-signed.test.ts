import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { makeSelfSigned } from './self-signed.js';

describe('makeSelfSigned', () => {
  const { certPem, keyPem } = makeSelfSigned();
  const cert = new crypto.X509Certificate(certPem);

  it('is signed by its own key and matches it', () => {
    assert.ok(cert.verify(cert.publicKey));
    assert.ok(cert.checkPrivateKey(crypto.createPrivateKey(keyPem)));
    assert.equal(cert.publicKey.asymmetricKeyDetails?.namedCurve, 'prime256v1');
  });

  it('names localhost and the loopback addresses', () => {
    assert.equal(
      cert.subjectAltName,
      'DNS:localhost, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1',
    );
    assert.equal(cert.checkHost('localhost'), 'localhost');
    assert.equal(cert.checkIP('::1'), '::1');
  });

  it('is valid now and for about 30 days', () => {
    const from = Date.parse(cert.validFrom);
    const to = Date.parse(cert.validTo);
    assert.ok(from <= Date.now() && Date.now() < to);
    assert.ok(Math.abs(to - from - 30 * 86_400_000 - 3_600_000) < 5_000);
  });

  it('is a leaf for TLS servers, as openssl reads it', () => {
    const text = execFileSync('openssl', ['x509', '-noout', '-text'], {
      input: certPem,
    }).toString();
    assert.match(text, /X509v3 Basic Constraints: critical\s+CA:FALSE/);
    assert.match(text, /X509v3 Key Usage: critical\s+Digital Signature/);
    assert.match(text, /X509v3 Extended Key Usage:\s+TLS Web Server Authentication/);
  });

  it('encodes long IPv6 forms and more names', () => {
    const other = new crypto.X509Certificate(
      makeSelfSigned({ dns: ['a.test', 'b.test'], ips: ['2001:db8::8:800:200c:417a'] }, 1).certPem,
    );
    assert.equal(
      other.subjectAltName,
      'DNS:a.test, DNS:b.test, IP Address:2001:DB8:0:0:8:800:200C:417A',
    );
  });
});
