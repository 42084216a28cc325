import assert from 'node:assert/strict';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import fs from 'node:fs';
import os from 'node:os';
import { OptionError, resolveRunOptions } from './options.js';

const TRUST_PEM = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';
const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'gatehouse-options-test-'));
const trustFile = path.join(scratch, 'root.pem');
fs.writeFileSync(trustFile, TRUST_PEM);
const notPemFile = path.join(scratch, 'notes.txt');
fs.writeFileSync(notPemFile, 'not a certificate\n');
after(() => {
  fs.rmSync(scratch, { recursive: true, force: true });
});

describe('resolveRunOptions', () => {
  it('takes the data directory from the environment when no flag is given', () => {
    const options = resolveRunOptions({}, { GATEHOUSE_DATA: '/srv/gatehouse' });
    assert.equal(options.dataDir, '/srv/gatehouse');
    assert.deepEqual(options.bind, ['0.0.0.0', '::']);
    assert.equal(options.controlMode, 0o600);
    assert.equal(options.helloTimeoutMs, 10_000);
    assert.equal(resolveRunOptions({}, {}).dataDir, path.resolve('data'));
  });

  it('reads every flag', () => {
    const options = resolveRunOptions(
      {
        data: 'x',
        'https-port': '9443',
        'http-port': '9080',
        bind: ['127.0.0.1', '::1'],
        workers: '3',
        'log-level': 'debug',
        'control-mode': '660',
        'hello-timeout': '5',
        'acme-directory': 'letsencrypt-staging',
        'acme-trust': trustFile,
        'acme-email': 'ops@example.com',
        'acme-challenge': 'http-01,tls-alpn-01',
      },
      {},
    );
    assert.deepEqual(
      { ...options, dataDir: path.basename(options.dataDir) },
      {
        dataDir: 'x',
        httpsPort: 9443,
        httpPort: 9080,
        bind: ['127.0.0.1', '::1'],
        workers: 3,
        logLevel: 'debug',
        controlMode: 0o660,
        helloTimeoutMs: 5_000,
        acmeDirectory: 'https://acme-staging-v02.api.letsencrypt.org/directory',
        acmeTrust: TRUST_PEM,
        acmeEmail: 'ops@example.com',
        acmeChallenges: ['http-01', 'tls-alpn-01'],
      },
    );
  });

  it("defaults to Let's Encrypt production and both challenge types", () => {
    const options = resolveRunOptions({}, {});
    assert.equal(options.acmeDirectory, 'https://acme-v02.api.letsencrypt.org/directory');
    assert.deepEqual(options.acmeChallenges, ['tls-alpn-01', 'http-01']);
    assert.equal(options.acmeTrust, undefined);
  });

  const refusals: [string, Parameters<typeof resolveRunOptions>[0], RegExp][] = [
    [
      'a port out of range',
      { 'https-port': '0' },
      /--https-port must be a whole number from 1 to 65535 \(got "0"\)/,
    ],
    ['a port that is not a number', { 'http-port': '80a' }, /--http-port must be a whole number/],
    [
      'the same port twice',
      { 'https-port': '9000', 'http-port': '9000' },
      /must differ \(both are 9000\)/,
    ],
    ['zero workers', { workers: '0' }, /--workers must be a whole number from 1 to 64/],
    [
      'an unknown log level',
      { 'log-level': 'loud' },
      /--log-level must be one of debug, info, warn, error \(got "loud"\)/,
    ],
    ['a host name to bind', { bind: ['localhost'] }, /--bind takes an IP address/],
    [
      'a mode that is not octal',
      { 'control-mode': '999' },
      /--control-mode must be an octal file mode/,
    ],
    [
      'a hello timeout of zero',
      { 'hello-timeout': '0' },
      /--hello-timeout must be a whole number from 1 to 300/,
    ],
    [
      'a plain-HTTP directory',
      { 'acme-directory': 'http://ca.test/dir' },
      /--acme-directory takes an https URL .* \(got "http:\/\/ca.test\/dir"\)/,
    ],
    ['an unknown CA name', { 'acme-directory': 'letsencrypt-prod' }, /--acme-directory takes/],
    [
      'a trust file that does not exist',
      { 'acme-trust': '/nonexistent/root.pem' },
      /--acme-trust \/nonexistent\/root.pem cannot be read \(ENOENT\)/,
    ],
    ['a trust file that is not PEM', { 'acme-trust': notPemFile }, /holds no PEM certificate/],
    ['two addresses', { 'acme-email': 'a@x.test,b@x.test' }, /--acme-email takes one address/],
    ['an unknown challenge', { 'acme-challenge': 'dns-02' }, /--acme-challenge takes tls-alpn-01/],
    ['a repeated challenge', { 'acme-challenge': 'http-01,http-01' }, /--acme-challenge takes/],
  ];
  for (const [what, raw, message] of refusals) {
    it(`refuses ${what} with a message that names the flag`, () => {
      assert.throws(
        () => resolveRunOptions(raw, {}),
        (error: unknown) => {
          assert.ok(error instanceof OptionError);
          assert.match(error.message, message);
          return true;
        },
      );
    });
  }
});
