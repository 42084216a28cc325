import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { MASTER_KEY_ENV, MasterKey } from './master-key.js';
import { SEAL_VERSION, SealError, openSealed, seal } from './seal.js';

const source = { kind: 'env', variable: MASTER_KEY_ENV } as const;
const key = MasterKey.generate(source);
const other = MasterKey.generate(source);
const plaintext = randomBytes(138);

function isSealError(code: SealError['code'], context: string) {
  return (error: unknown): boolean => {
    assert.ok(error instanceof SealError, `expected SealError, got ${String(error)}`);
    assert.equal(error.code, code);
    assert.equal(error.context, context);
    for (const form of [plaintext.toString('hex'), plaintext.toString('base64')]) {
      assert.ok(!error.message.includes(form.slice(0, 16)), 'the message holds no key bytes');
    }
    return true;
  };
}

describe('seal', () => {
  it('opens what it sealed, with the same key and context', () => {
    const sealed = seal(key, plaintext, 'keys/a');
    assert.equal(sealed[0], SEAL_VERSION);
    assert.equal(sealed.length, 1 + 12 + plaintext.length + 16);
    assert.ok(!sealed.includes(plaintext.subarray(0, 16)), 'the plaintext does not show');
    assert.ok(openSealed(key, sealed, 'keys/a').equals(plaintext));
  });

  it('uses a new nonce each time', () => {
    const one = seal(key, plaintext, 'keys/a');
    const two = seal(key, plaintext, 'keys/a');
    assert.ok(!one.subarray(1, 13).equals(two.subarray(1, 13)));
    assert.ok(!one.equals(two));
  });

  it('does not open for another record, under another key, or altered anywhere', () => {
    const sealed = seal(key, plaintext, 'keys/a');
    assert.throws(
      () => openSealed(key, sealed, 'keys/b'),
      isSealError('seal_authentication_failed', 'keys/b'),
    );
    assert.throws(
      () => openSealed(other, sealed, 'keys/a'),
      isSealError('seal_authentication_failed', 'keys/a'),
    );
    assert.throws(
      () => openSealed(key, sealed, 'meta/master_key_check'),
      isSealError('seal_authentication_failed', 'meta/master_key_check'),
    );

    for (const offset of [1, 12, 13, 13 + 70, sealed.length - 16, sealed.length - 1]) {
      const altered = Buffer.from(sealed);
      altered[offset] = (altered[offset] ?? 0) ^ 0x01;
      assert.throws(
        () => openSealed(key, altered, 'keys/a'),
        isSealError('seal_authentication_failed', 'keys/a'),
        `a flipped bit at byte ${offset}`,
      );
    }
  });

  it('names the key id that failed, and the fix', () => {
    const sealed = seal(key, plaintext, 'keys/a');
    assert.throws(
      () => openSealed(other, sealed, 'keys/a'),
      new RegExp(`keys/a does not open with master key ${other.id}: .*Give the master key`),
    );
  });

  it('refuses a value too short to be sealed, and an unknown version', () => {
    const sealed = seal(key, plaintext, 'keys/a');
    assert.throws(
      () => openSealed(key, sealed.subarray(0, 29), 'keys/a'),
      isSealError('seal_malformed', 'keys/a'),
    );
    assert.throws(
      () => openSealed(key, Buffer.alloc(0), 'keys/a'),
      isSealError('seal_malformed', 'keys/a'),
    );
    const future = Buffer.from(sealed);
    future[0] = 2;
    assert.throws(
      () => openSealed(key, future, 'keys/a'),
      isSealError('seal_unsupported_version', 'keys/a'),
    );
  });

  it('refuses an empty plaintext and an empty context', () => {
    assert.throws(() => seal(key, Buffer.alloc(0), 'keys/a'), RangeError);
    assert.throws(() => seal(key, plaintext, ''), RangeError);
  });
});
