import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { StateError } from './errors.js';
import { parseDomainName } from './names.js';

function refusal(input: unknown): string {
  try {
    parseDomainName(input);
  } catch (error) {
    assert.ok(error instanceof StateError, `expected a StateError, got ${String(error)}`);
    assert.equal(error.code, 'invalid_domain_name');
    return error.message;
  }
  assert.fail(`${JSON.stringify(input)} was accepted`);
}

describe('parseDomainName', () => {
  it('accepts DNS names, in lowercase', () => {
    assert.deepEqual(parseDomainName('example.com'), {
      name: 'example.com',
      kind: 'dns',
      wildcard: false,
    });
    assert.equal(parseDomainName('WWW.Example.COM').name, 'www.example.com');
    assert.equal(parseDomainName('localhost').name, 'localhost');
    assert.equal(parseDomainName('xn--bcher-kva.example').name, 'xn--bcher-kva.example');
    assert.equal(parseDomainName('a-b.1x.example').name, 'a-b.1x.example');
    assert.equal(parseDomainName(`${'a'.repeat(63)}.example`).name.length, 71);
  });

  it('accepts a wildcard as the whole first label', () => {
    assert.deepEqual(parseDomainName('*.Example.com'), {
      name: '*.example.com',
      kind: 'dns',
      wildcard: true,
    });
  });

  it('accepts IP addresses and keeps IPv6 in its compressed form', () => {
    assert.deepEqual(parseDomainName('192.0.2.1'), {
      name: '192.0.2.1',
      kind: 'ip',
      wildcard: false,
    });
    assert.equal(parseDomainName('2001:DB8:0:0::1').name, '2001:db8::1');
    assert.equal(parseDomainName('0:0:0:0:0:0:0:1').name, '::1');
  });

  it('says what is wrong with each kind of bad name, and the fix', () => {
    const cases: [unknown, RegExp][] = [
      ['', /is empty/],
      [42, /must be a string/],
      [' example.com', /contains whitespace/],
      ['exa mple.com', /contains whitespace/],
      ['example.com.', /ends with a dot; give the name without it/],
      ['a..example', /empty label/],
      ['.example', /empty label/],
      ['a_b.example', /label 1 of "a_b.example" holds "_"; DNS names use only letters/],
      ['-a.example', /starts or ends with "-"/],
      ['a.example-', /label 2 of "a.example-" starts or ends with "-"/],
      ['*.*.example', /label 2 .* holds "\*"; a wildcard may only be the whole first label/],
      ['a*.example', /holds "\*"/],
      ['www.*.example', /holds "\*"/],
      ['*', /wildcard of nothing/],
      ['*.', /ends with a dot/],
      ['*.a_b.example', /label 2 of "\*\.a_b\.example" holds "_"/],
      [`${'a'.repeat(64)}.example`, /is 64 characters long; at most 63 fit/],
      [`${'abcdefghi.'.repeat(25)}example`, /is 257 characters long; at most 253 fit/],
      ['256.1.1.1', /neither a DNS name .* nor a valid IP address/],
      ['1.2.3', /neither a DNS name/],
      ['01.2.3.4', /neither a DNS name/],
      ['[::1]', /IPv6 address in brackets; give it without them/],
      ['fe80::1%eth0', /zone index/],
      ['bücher.example', /not ASCII; give its A-label .*"xn--bcher-kva\.example"/],
      ['example.com/path', /holds "\/"/],
      ['https://example.com', /holds ":"/],
    ];
    for (const [input, pattern] of cases) {
      const message = refusal(input);
      assert.match(message, /^Invalid domain name: /, String(input));
      assert.match(message, pattern, String(input));
    }
  });

  it('quotes at most 80 characters of a long name', () => {
    const message = refusal(`${'x'.repeat(300)} y`);
    assert.ok(message.length < 200, message);
  });
});
