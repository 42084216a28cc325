import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { NameError, challengeServerName, checkIdentifier, serverNameOf } from './names.js';

describe('serverNameOf', () => {
  it('lowercases DNS names and refuses what no certificate could be looked up by', () => {
    assert.equal(serverNameOf('Shop.Example.COM'), 'shop.example.com');
    assert.equal(serverNameOf('localhost'), 'localhost');
    assert.equal(serverNameOf('xn--bcher-kva.example'), 'xn--bcher-kva.example');
    for (const bad of [
      undefined,
      '',
      'a..b',
      'trailing.dot.',
      'under_score.example',
      '-lead.example',
      '127.0.0.1',
      'a'.repeat(64) + '.example',
      `${'a.'.repeat(127)}b`,
      'sp ace.example',
    ]) {
      assert.equal(serverNameOf(bad), undefined, String(bad));
    }
  });
});

describe('challengeServerName', () => {
  it('is the DNS name, or the reverse-DNS name of an IP address (RFC 8738 section 6)', () => {
    assert.equal(
      challengeServerName({ type: 'dns', value: 'WWW.Example.test' }),
      'www.example.test',
    );
    assert.equal(challengeServerName({ type: 'ip', value: '127.0.0.1' }), '1.0.0.127.in-addr.arpa');
    assert.equal(
      challengeServerName({ type: 'ip', value: '2001:db8::1' }),
      '1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa',
    );
    // Two spellings of one address are one name.
    assert.equal(
      challengeServerName({ type: 'ip', value: '::ffff:192.0.2.1' }),
      challengeServerName({ type: 'ip', value: '0:0:0:0:0:ffff:c000:0201' }),
    );
  });

  it('refuses wildcards, malformed names and addresses with the reason', () => {
    const cases: [{ type: 'dns' | 'ip'; value: string }, RegExp][] = [
      [{ type: 'dns', value: '*.example.test' }, /wildcard.*RFC 8737/],
      [{ type: 'dns', value: 'bad..name' }, /not a DNS name/],
      [{ type: 'dns', value: 'a%41.example' }, /not a DNS name/],
      [{ type: 'ip', value: '300.1.1.1' }, /not an IPv4 or IPv6 address/],
      [{ type: 'ip', value: 'fe80::1%eth0' }, /zone index/],
    ];
    for (const [identifier, message] of cases) {
      assert.throws(
        () => challengeServerName(identifier),
        (error: unknown) => {
          assert.ok(error instanceof NameError);
          assert.match(error.message, message);
          return true;
        },
      );
    }
  });
});

describe('checkIdentifier', () => {
  it('spells names as the keyvault does: lowercase A-labels, wildcards only when allowed', () => {
    assert.deepEqual(
      checkIdentifier({ type: 'dns', value: 'Bücher.Example' }, { wildcard: false }),
      {
        type: 'dns',
        value: 'xn--bcher-kva.example',
      },
    );
    assert.deepEqual(
      checkIdentifier({ type: 'dns', value: '*.Example.test' }, { wildcard: true }),
      {
        type: 'dns',
        value: '*.example.test',
      },
    );
    assert.throws(() => checkIdentifier({ type: 'dns', value: 'a.*.test' }, { wildcard: true }));
  });
});
