import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  IdentifierError,
  type IdentifierErrorCode,
  MAX_IDENTIFIERS,
  formatIpAddress,
  identifierKey,
  ipAddressBytes,
  normalizeDnsName,
  normalizeIdentifier,
  normalizeIdentifiers,
  normalizeIpAddress,
  reverseDnsName,
} from './identifiers.js';

function rejects(action: () => unknown, code: IdentifierErrorCode, message: RegExp): void {
  assert.throws(action, (error: unknown) => {
    assert.ok(
      error instanceof IdentifierError,
      `expected an IdentifierError, got ${String(error)}`,
    );
    assert.equal(error.code, code);
    assert.match(error.message, message);
    return true;
  });
}

describe('DNS identifiers', () => {
  it('lowercase ASCII names and keep a leading wildcard', () => {
    assert.equal(normalizeDnsName('WWW.Example.COM'), 'www.example.com');
    assert.equal(normalizeDnsName('*.Example.com'), '*.example.com');
    assert.equal(normalizeDnsName('localhost'), 'localhost');
    assert.equal(normalizeDnsName('*.localhost'), '*.localhost');
    assert.equal(normalizeDnsName('a-1.b2.example'), 'a-1.b2.example');
  });

  it('turn Unicode names into A-labels, and keep valid A-labels', () => {
    assert.equal(normalizeDnsName('Bücher.Example'), 'xn--bcher-kva.example');
    assert.equal(normalizeDnsName('*.bücher.example'), '*.xn--bcher-kva.example');
    assert.equal(normalizeDnsName('xn--bcher-kva.example'), 'xn--bcher-kva.example');
    assert.equal(normalizeDnsName('faß.de'), 'xn--fa-hia.de');
  });

  it('accept 63-octet labels and 253-octet names, and nothing longer', () => {
    const label63 = 'a'.repeat(63);
    assert.equal(normalizeDnsName(`${label63}.example`), `${label63}.example`);
    rejects(() => normalizeDnsName(`${label63}b.example`), 'dns_name_invalid', /64 octets long/);

    // 3 labels of 63 plus one of 61, with dots: 253 octets.
    const name253 = [label63, label63, label63, 'c'.repeat(61)].join('.');
    assert.equal(name253.length, 253);
    assert.equal(normalizeDnsName(name253), name253);
    rejects(() => normalizeDnsName(`${name253}d`), 'dns_name_invalid', /254 octets long/);
    rejects(() => normalizeDnsName(`*.${name253}`), 'dns_name_invalid', /255 octets long/);

    // Unicode that grows past 63 octets once encoded is measured as encoded.
    rejects(() => normalizeDnsName(`${'ü'.repeat(60)}.example`), 'dns_name_invalid', /octets long/);
  });

  it('refuse anything but letters, digits and inner hyphens, with the reason', () => {
    const cases: [string, RegExp][] = [
      ['', /empty/],
      ['a..example', /empty label/],
      ['.example', /empty label/],
      ['example.com.', /trailing dot/],
      ['-a.example', /starts or ends with a hyphen/],
      ['a-.example', /starts or ends with a hyphen/],
      ['under_score.example', /other than a letter/],
      ['sp ace.example', /other than a letter/],
      ['a%41.example', /other than a letter/],
      ['a/b.example', /other than a letter/],
      ['bü%41.example', /other than a letter/],
      ['a.*.example', /whole first label/],
      ['*a.example', /whole first label/],
      ['**.example', /whole first label/],
      ['*.', /empty/],
      ['192.0.2.1', /type "ip"/],
      ['::1', /type "ip"/],
      ['1.2.3', /all digits/],
      ['example.123', /all digits/],
      ['１２７.０.０.１', /all digits/],
      ['xn--zz.example', /Punycode/],
      ['a\u0000b.example', /other than a letter/],
      ['x'.repeat(5000), /5000 characters/],
    ];
    for (const [name, reason] of cases)
      rejects(() => normalizeDnsName(name), 'dns_name_invalid', reason);
  });

  it('refuse a wildcard where the caller forbids it', () => {
    rejects(
      () => normalizeDnsName('*.example.com', { wildcard: false }),
      'dns_name_invalid',
      /wildcard is not allowed/,
    );
  });
});

describe('IP identifiers', () => {
  it('write IPv4 in dotted decimal and IPv6 as RFC 5952 section 4 asks', () => {
    const cases: [string, string][] = [
      ['192.0.2.1', '192.0.2.1'],
      ['2001:DB8::1', '2001:db8::1'],
      ['2001:0db8:0000:0000:0000:0000:0000:0001', '2001:db8::1'],
      ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'],
      ['2001:db8:0:1:0:0:0:1', '2001:db8:0:1::1'],
      ['2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1'],
      ['0:0:0:0:0:0:0:0', '::'],
      ['0::0:1', '::1'],
      ['fe80::', 'fe80::'],
      ['::ffff:192.0.2.1', '::ffff:192.0.2.1'],
      ['::FFFF:c000:0201', '::ffff:192.0.2.1'],
      ['64:ff9b::192.0.2.1', '64:ff9b::c000:201'],
    ];
    for (const [input, canonical] of cases)
      assert.equal(normalizeIpAddress(input), canonical, input);
  });

  it('round-trip through the octets a SAN holds', () => {
    assert.deepEqual([...ipAddressBytes('192.0.2.1')], [192, 0, 2, 1]);
    const v6 = ipAddressBytes('2001:db8::8:800:200c:417a');
    assert.equal(v6.toString('hex'), '20010db80000000000080800200c417a');
    assert.equal(formatIpAddress(v6), '2001:db8::8:800:200c:417a');
  });

  it('refuse what is not an address, with the reason', () => {
    const cases: [string, RegExp][] = [
      ['', /empty/],
      ['192.0.2', /not an IPv4 or IPv6/],
      ['192.0.2.01', /no leading zeros/],
      ['192.0.2.256', /not an IPv4 or IPv6/],
      [' 192.0.2.1', /not an IPv4 or IPv6/],
      ['example.com', /not an IPv4 or IPv6/],
      ['fe80::1%eth0', /zone index/],
      ['2001:db8:::1', /not an IPv4 or IPv6/],
      ['[::1]', /not an IPv4 or IPv6/],
    ];
    for (const [text, reason] of cases)
      rejects(() => normalizeIpAddress(text), 'ip_address_invalid', reason);
    rejects(() => formatIpAddress(new Uint8Array(5)), 'ip_address_invalid', /not 5/);
  });

  it('map to the reverse-DNS names RFC 8738 section 6 sends as SNI', () => {
    assert.equal(reverseDnsName('192.0.2.1'), '1.2.0.192.in-addr.arpa');
    assert.equal(
      reverseDnsName('2001:db8::567:89ab'),
      'b.a.9.8.7.6.5.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa',
    );
  });
});

describe('identifier objects and lists', () => {
  it('normalize each by its type', () => {
    assert.deepEqual(normalizeIdentifier({ type: 'dns', value: 'A.Example' }), {
      type: 'dns',
      value: 'a.example',
    });
    assert.deepEqual(normalizeIdentifier({ type: 'ip', value: '2001:DB8::1' }), {
      type: 'ip',
      value: '2001:db8::1',
    });
    assert.equal(identifierKey({ type: 'ip', value: '192.0.2.1' }), 'ip:192.0.2.1');
  });

  it('refuse bad shapes, types and lists with stable codes', () => {
    rejects(() => normalizeIdentifier(null), 'identifier_malformed', /must be an object/);
    rejects(() => normalizeIdentifier('example.com'), 'identifier_malformed', /must be an object/);
    rejects(() => normalizeIdentifier({ type: 'dns' }), 'identifier_malformed', /string "value"/);
    rejects(() => normalizeIdentifier({ type: 'dns', value: 7 }), 'identifier_malformed', /string/);
    rejects(
      () => normalizeIdentifier({ type: 'email', value: 'a@example.com' }),
      'identifier_type_unsupported',
      /"email" is not supported/,
    );
    rejects(
      () => normalizeIdentifier({ type: 'ip', value: '*.example' }),
      'ip_address_invalid',
      /IPv4/,
    );
    rejects(() => normalizeIdentifiers([]), 'identifiers_empty', /At least one/);
    rejects(() => normalizeIdentifiers('a.example'), 'identifiers_empty', /non-empty array/);

    const many = Array.from({ length: MAX_IDENTIFIERS + 1 }, (_, i) => ({
      type: 'dns',
      value: `n${i}.example`,
    }));
    rejects(() => normalizeIdentifiers(many), 'identifiers_too_many', /101 identifiers/);
    assert.equal(normalizeIdentifiers(many.slice(1)).length, MAX_IDENTIFIERS);

    rejects(
      () =>
        normalizeIdentifiers([
          { type: 'dns', value: 'a.example' },
          { type: 'dns', value: 'A.EXAMPLE' },
        ]),
      'identifier_duplicate',
      /dns:a\.example is given twice/,
    );
    rejects(
      () =>
        normalizeIdentifiers([
          { type: 'ip', value: '2001:db8::1' },
          { type: 'ip', value: '2001:DB8:0::1' },
        ]),
      'identifier_duplicate',
      /ip:2001:db8::1/,
    );
  });

  it('keep the order given', () => {
    const list = normalizeIdentifiers([
      { type: 'ip', value: '192.0.2.1' },
      { type: 'dns', value: 'b.example' },
      { type: 'dns', value: '*.a.example' },
    ]);
    assert.deepEqual(list.map(identifierKey), ['ip:192.0.2.1', 'dns:b.example', 'dns:*.a.example']);
  });

  it('keep error messages short for huge input', () => {
    assert.throws(
      () => normalizeIdentifier({ type: 'x'.repeat(10_000), value: 'a' }),
      (error: unknown) => error instanceof IdentifierError && error.message.length < 200,
    );
  });
});
