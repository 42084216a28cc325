import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { childEnvironment } from './child-env.js';
import { OptionError, resolveRunOptions } from './options.js';

const SECRET = 'c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0IQ==';
const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'gatehouse-dns-options-test-'));
after(() => {
  fs.rmSync(scratch, { recursive: true, force: true });
});

let files = 0;
function settingsFile(content: unknown, mode = 0o600): string {
  files += 1;
  const file = path.join(scratch, `dns-${files}.json`);
  fs.writeFileSync(file, typeof content === 'string' ? content : JSON.stringify(content), { mode });
  fs.chmodSync(file, mode);
  return file;
}

const good = {
  server: '127.0.0.1:5353',
  keyName: 'gatehouse-key',
  algorithm: 'hmac-sha256',
  secret: SECRET,
};

describe('--acme-dns-rfc2136', () => {
  it('reads a good file and fills the defaults', () => {
    const options = resolveRunOptions({ 'acme-dns-rfc2136': settingsFile(good) }, {});
    assert.deepEqual(JSON.parse(options.acmeDnsRfc2136 ?? ''), {
      ...good,
      propagationTimeout: 120,
      nameserverPort: 53,
    });
  });

  it('takes dns-01 in --acme-challenge only with a DNS provider', () => {
    const file = settingsFile(good);
    const options = resolveRunOptions(
      { 'acme-dns-rfc2136': file, 'acme-challenge': 'dns-01,http-01' },
      {},
    );
    assert.deepEqual(options.acmeChallenges, ['dns-01', 'http-01']);
    assert.throws(
      () => resolveRunOptions({ 'acme-challenge': 'dns-01' }, {}),
      /dns-01 needs a DNS provider: add --acme-dns-rfc2136 FILE/,
    );
  });

  const refusals: [string, string, RegExp][] = [
    ['a missing file', path.join(scratch, 'none.json'), /cannot be read \(ENOENT\)/],
    ['a file others may read', settingsFile(good, 0o644), /mode is 644.*chmod 600/],
    ['a file the group may read', settingsFile(good, 0o640), /mode is 640.*chmod 600/],
    ['text that is not JSON', settingsFile(`{ "secret": "${SECRET}" `), /is not valid JSON/],
    ['a missing server', settingsFile({ ...good, server: undefined }), /"server" is missing/],
    [
      'a server with a bad port',
      settingsFile({ ...good, server: 'ns1:99999' }),
      /"server" must be "host:port"/,
    ],
    [
      'an unknown algorithm',
      settingsFile({ ...good, algorithm: 'hmac-md5' }),
      /"algorithm" must be one of hmac-sha256/,
    ],
    [
      'a secret that is not base64',
      settingsFile({ ...good, secret: `${SECRET}!` }),
      /"secret" must be base64/,
    ],
    [
      'a short secret',
      settingsFile({ ...good, secret: 'c2hvcnQ=' }),
      /"secret" is shorter than 16 bytes/,
    ],
    ['an unknown field', settingsFile({ ...good, port: 53 }), /unknown field\(s\) "port"/],
    [
      'a timeout of a day',
      settingsFile({ ...good, propagationTimeout: 86400 }),
      /"propagationTimeout" must be at most 3600/,
    ],
    ['an array', settingsFile([good]), /must be a JSON object/],
  ];
  for (const [what, file, message] of refusals) {
    it(`refuses ${what}, naming the field, never quoting the secret`, () => {
      assert.throws(
        () => resolveRunOptions({ 'acme-dns-rfc2136': file }, {}),
        (error: unknown) => {
          assert.ok(error instanceof OptionError);
          assert.match(error.message, message);
          assert.ok(error.message.includes('--acme-dns-rfc2136'), error.message);
          assert.ok(!error.message.includes(SECRET.slice(0, 12)), error.message);
          return true;
        },
      );
    });
  }

  it('gives the settings to the acme-agent only, even when inherited', () => {
    const inherited = { PATH: '/usr/bin', GATEHOUSE_ACME_DNS_RFC2136: '{}' };
    assert.equal(childEnvironment('acme-agent', inherited, {}).GATEHOUSE_ACME_DNS_RFC2136, '{}');
    for (const role of ['keyvault', 'worker'] as const) {
      assert.equal('GATEHOUSE_ACME_DNS_RFC2136' in childEnvironment(role, inherited, {}), false);
    }
  });
});
