import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { loadAcmeIssuers, parseAcmeIssuers } from './acme-issuers.js';
import { OptionError, resolveRunOptions } from './options.js';

const ROOT_PEM = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';
const SECRET = 'c2VjcmV0LWhtYWMta2V5LXRoYXQtbXVzdC1uZXZlci1zaG93';
const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'gatehouse-issuers-test-'));
fs.writeFileSync(path.join(scratch, 'root.pem'), ROOT_PEM);
after(() => {
  fs.rmSync(scratch, { recursive: true, force: true });
});

function refusal(json: unknown): string {
  try {
    parseAcmeIssuers(json, scratch, 'issuers.json');
  } catch (error) {
    assert.ok(error instanceof OptionError, String(error));
    return error.message;
  }
  assert.fail('accepted');
}

describe('--acme-issuers files', () => {
  it('resolves names, trust files relative to the file, and the default caps', () => {
    const file = path.join(scratch, 'issuers.json');
    fs.writeFileSync(
      file,
      JSON.stringify({
        issuers: [
          { directory: 'letsencrypt', email: 'ops@example.com', profile: 'tlsserver' },
          {
            directory: 'https://ca.example/dir',
            trust: 'root.pem',
            externalAccountBinding: { keyId: 'kid-1', hmacKey: SECRET },
            preferredChain: 'Example Root X2',
            maxConcurrentOrders: 2,
            newOrders: { orders: 10, periodSeconds: 60 },
          },
        ],
      }),
    );
    assert.deepEqual(loadAcmeIssuers(file), [
      {
        directoryUrl: 'https://acme-v02.api.letsencrypt.org/directory',
        email: 'ops@example.com',
        profile: 'tlsserver',
        maxConcurrentOrders: 8,
        newOrderLimit: { orders: 300, periodSeconds: 10_800 },
      },
      {
        directoryUrl: 'https://ca.example/dir',
        trustPem: ROOT_PEM,
        externalAccountBinding: { keyId: 'kid-1', hmacKey: SECRET },
        preferredChain: 'Example Root X2',
        maxConcurrentOrders: 2,
        newOrderLimit: { orders: 10, periodSeconds: 60 },
      },
    ]);
  });

  it('names the field and the fix for each mistake', () => {
    assert.match(refusal([]), /\(top level\) must be an object/);
    assert.match(refusal({ issuers: [], extra: 1 }), /extra is not a known field/);
    assert.match(refusal({ issuers: [] }), /issuers must be a list of 1 to 20/);
    assert.match(refusal({ issuers: [{}] }), /issuers\[0\]\.directory is missing; give an https/);
    assert.match(
      refusal({ issuers: [{ directory: 'letsencrypt', directoryUrl: 'x' }] }),
      /issuers\[0\]\.directoryUrl is not a known field; known: directory, email/,
    );
    assert.match(
      refusal({ issuers: [{ directory: 'http://ca.example/dir' }] }),
      /issuers\[0\]\.directory must be an https URL/,
    );
    assert.match(
      refusal({ issuers: [{ directory: 'letsencrypt' }, { directory: 'letsencrypt' }] }),
      /issuers\[1\]\.directory repeats .*list each CA once/,
    );
    assert.match(
      refusal({ issuers: [{ directory: 'letsencrypt', maxConcurrentOrders: 0 }] }),
      /maxConcurrentOrders must be a whole number from 1 to 1000/,
    );
    assert.match(
      refusal({ issuers: [{ directory: 'letsencrypt', newOrders: { orders: 1.5 } }] }),
      /newOrders\.orders must be a whole number/,
    );
    assert.match(
      refusal({ issuers: [{ directory: 'letsencrypt', trust: 'missing.pem' }] }),
      /trust .*missing\.pem cannot be read \(ENOENT\)/,
    );
    assert.match(
      refusal({ issuers: [{ directory: 'letsencrypt', profile: '' }] }),
      /profile must be a profile name the CA lists/,
    );
  });

  it('never shows the HMAC key, whatever is wrong with it', () => {
    const bad = `${SECRET}+/=`;
    const message = refusal({
      issuers: [{ directory: 'letsencrypt', externalAccountBinding: { keyId: 'k', hmacKey: bad } }],
    });
    assert.match(message, /externalAccountBinding\.hmacKey must be the HMAC key .*base64url/);
    assert.ok(!message.includes(SECRET), message);

    const file = path.join(scratch, 'broken.json');
    fs.writeFileSync(file, `{ "issuers": [ { "hmacKey": "${SECRET}" ] }`);
    assert.throws(
      () => loadAcmeIssuers(file),
      (error: Error) =>
        error instanceof OptionError &&
        /is not valid JSON \(.+\); fix the syntax/.test(error.message) &&
        !error.message.includes(SECRET),
    );
  });

  it('refuses trust files too large to hand to the acme-agent', () => {
    const big = ROOT_PEM.repeat(1 + Math.ceil((70 * 1024) / ROOT_PEM.length));
    fs.writeFileSync(path.join(scratch, 'big.pem'), big);
    const file = path.join(scratch, 'big.json');
    fs.writeFileSync(
      file,
      JSON.stringify({
        issuers: [
          { directory: 'https://a.example/dir', trust: 'big.pem' },
          { directory: 'https://b.example/dir', trust: 'big.pem' },
        ],
      }),
    );
    assert.throws(
      () => loadAcmeIssuers(file),
      /the list with its trust files is 1\d\d KiB, more than the 120 KiB .* only the root its CA needs/,
    );
  });

  it('refuses --acme-issuers together with the one-issuer flags', () => {
    const file = path.join(scratch, 'one.json');
    fs.writeFileSync(file, JSON.stringify({ issuers: [{ directory: 'letsencrypt' }] }));
    assert.throws(
      () => resolveRunOptions({ 'acme-issuers': file, 'acme-directory': 'letsencrypt' }, {}),
      /--acme-issuers cannot be combined with --acme-directory: put the CA in the issuers file/,
    );
    assert.throws(
      () =>
        resolveRunOptions({ 'acme-issuers': file }, { GATEHOUSE_ACME_EMAIL: 'ops@example.com' }),
      /cannot be combined with GATEHOUSE_ACME_EMAIL/,
    );
    const options = resolveRunOptions({ 'acme-issuers': file }, {});
    assert.equal(options.acmeIssuers?.length, 1);
    assert.equal(resolveRunOptions({}, {}).acmeIssuers, undefined);
  });
});
