import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as asn1js from 'asn1js';
import { certificateTime, integer, objectIdentifier, octetString, sequence, tlv } from './der.js';

const hex = (buffer: Buffer): string => buffer.toString('hex');

describe('DER writer', () => {
  it('writes lengths in their shortest form, as asn1js reads them', () => {
    for (const size of [0, 1, 127, 128, 255, 256, 65535, 65536]) {
      const encoded = octetString(Buffer.alloc(size, 7));
      const parsed = asn1js.fromBER(encoded);
      assert.equal(parsed.offset, encoded.length, `size ${size}`);
      assert.ok(parsed.result instanceof asn1js.OctetString);
      assert.equal(parsed.result.getValue().byteLength, size);
    }
    assert.equal(hex(tlv(0x04, Buffer.alloc(127))).slice(0, 4), '047f');
    assert.equal(hex(tlv(0x04, Buffer.alloc(128))).slice(0, 6), '048180');
    assert.equal(hex(tlv(0x04, Buffer.alloc(256))).slice(0, 8), '04820100');
  });

  it('encodes object identifiers as asn1js does', () => {
    for (const oid of ['1.3.6.1.5.5.7.1.31', '1.2.840.10045.4.3.2', '2.5.29.17', '2.999.3']) {
      const ours = objectIdentifier(oid);
      assert.equal(
        hex(ours),
        hex(Buffer.from(new asn1js.ObjectIdentifier({ value: oid }).toBER())),
      );
    }
    for (const bad of ['1', '3.1', '1.40', '1.2.x', '1.-2']) {
      assert.throws(() => objectIdentifier(bad), RangeError, bad);
    }
  });

  it('refuses INTEGER contents that are negative or not minimal', () => {
    assert.equal(hex(integer(Buffer.from([0, 0x80]))), '02020080');
    for (const bad of [[], [0x80], [0, 0x7f]]) {
      assert.throws(() => integer(Buffer.from(bad)), RangeError);
    }
  });

  it('uses UTCTime through 2049 and GeneralizedTime from 2050', () => {
    const utc = certificateTime(new Date('2049-12-31T23:59:59.900Z'));
    assert.equal(utc.subarray(2).toString('ascii'), '491231235959Z');
    assert.equal(utc[0], 0x17);
    const generalized = certificateTime(new Date('2050-01-01T00:00:00Z'));
    assert.equal(generalized.subarray(2).toString('ascii'), '20500101000000Z');
    assert.equal(generalized[0], 0x18);
    assert.equal(hex(sequence()), '3000');
  });
});
