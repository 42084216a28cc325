/**
 * TSIG against bytes from a real peer: an UPDATE that Debian 12's nsupdate
 * (bind9-dnsutils 9.18) signed and the answers named 9.18 signed or refused,
 * recorded through a TCP relay with throwaway keys made by tsig-keygen.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decodeMessage } from './message.js';
import { TsigError, signRequest, tsigKey, verifyResponse } from './tsig.js';

const SECRET = 'JIE5l0XSkCCI2Zy7L2QX1BSOxHSGbx8p2QDjZ1TAdl4=';
const SIGNED_AT = 1796380926;
const key = tsigKey('gatehouse-key', 'hmac-sha256', SECRET);

/** nsupdate: add _acme-challenge.www.example.test TXT, signed at SIGNED_AT. */
const NSUPDATE_REQUEST = Buffer.from(
  '749628000001000000010001076578616d706c65047465737400000600010f5f61636d652d6368616c6c656e' +
    '676503777777076578616d706c65047465737400001000010000003c002c2b4c6f71586359563871354f4e62' +
    '4a5178626d52375343544e6f337469415844666f77796a78416a457558300d67617465686f7573652d6b6579' +
    '0000fa00ff00000000003d0b686d61632d7368613235360000006b1298fe012c00202b27a6bddec0827efa5e' +
    '7457387dbe259e1e976d6fa84677fa6e840e77bfccf5749600000000',
  'hex',
);
/** named's NOERROR answer to it. */
const NAMED_ANSWER = Buffer.from(
  '7496a8000001000000000001076578616d706c65047465737400000600010d67617465686f7573652d6b6579' +
    '0000fa00ff00000000003d0b686d61632d7368613235360000006b1298fe012c00207e973fc233f290a5be09' +
    'b93d5fdecbddb901cdf851a99331a96b2dd9a0d7072b749600000000',
  'hex',
);
/** named's NOTAUTH answers to an update signed with a wrong secret, and with an unknown key. */
const NAMED_BADSIG = Buffer.from(
  'eb9da8090001000000000001076578616d706c65047465737400000600010d67617465686f7573652d6b6579' +
    '0000fa00ff00000000001d0b686d61632d7368613235360000006b129907012c0000eb9d00100000',
  'hex',
);
const NAMED_BADKEY = Buffer.from(
  '265ca8090001000000000001076578616d706c6504746573740000060001096f746865722d6b65790000fa00' +
    'ff00000000001d0b686d61632d7368613235360000006b129908012c0000265c00110000',
  'hex',
);

/** The same with an hmac-sha512 key: a delete of one TXT value (class NONE), and named's answer. */
const SHA512_SECRET =
  'Y+jaQFAqZWMbyE+YUZfMRzBqTERXFPh7UILwkAgvg0ykGLhfyjgItEBVOmR3Trl0dmMgfou88aNepq1i2VS47A==';
const SHA512_SIGNED_AT = 0x6b129d96;
const SHA512_DELETE = Buffer.from(
  '8b9828000001000000010001076578616d706c65047465737400000600010f5f61636d652d6368616c6c656e' +
    '676503777777076578616d706c65047465737400001000fe000000000004036162630a7368613531322d6b65' +
    '790000fa00ff00000000005d0b686d61632d7368613531320000006b129d96012c00406465f1221883d687e6' +
    '4177ab8924a62a1189d59c697145672d6ff5ed50847db9a6d970f79294892d1f5b169573e48bc87061abda70' +
    '603796641fec545f1ec67a8b9800000000',
  'hex',
);
const SHA512_ANSWER = Buffer.from(
  '8b98a8000001000000000001076578616d706c65047465737400000600010a7368613531322d6b65790000fa' +
    '00ff00000000005d0b686d61632d7368613531320000006b129d97012c0040e03d41d94593a33be225ce709b' +
    'fcc1f6a00866103ea569e2707306d3ecfec5039790a3eb886cfffeb0e71612804078930d67f806299188b083' +
    '4f9847a25eab498b9800000000',
  'hex',
);

function withoutTsig(message: Buffer): Buffer {
  const tsig = decodeMessage(message).additionals.at(-1);
  assert.ok(tsig?.offset !== undefined);
  const unsigned = Buffer.from(message.subarray(0, tsig.offset));
  unsigned.writeUInt16BE(unsigned.readUInt16BE(10) - 1, 10);
  return unsigned;
}

function requestMac(message: Buffer): Buffer {
  const tsig = decodeMessage(message).additionals.at(-1);
  assert.ok(tsig);
  // algorithm name (13 bytes) + time (6) + fudge (2), then the MAC size.
  const size = Buffer.from(tsig.data).readUInt16BE(21);
  return Buffer.from(tsig.data.subarray(23, 23 + size));
}

describe('TSIG (RFC 8945) against nsupdate and named', () => {
  it('signs an update byte for byte as nsupdate does', () => {
    const { signed, mac } = signRequest(withoutTsig(NSUPDATE_REQUEST), key, SIGNED_AT);
    assert.equal(Buffer.from(signed).toString('hex'), NSUPDATE_REQUEST.toString('hex'));
    assert.deepEqual(Buffer.from(mac), requestMac(NSUPDATE_REQUEST));
  });

  it("accepts named's signed answer", () => {
    verifyResponse(NAMED_ANSWER, key, requestMac(NSUPDATE_REQUEST), SIGNED_AT + 10);
  });

  it('rejects the answer when a byte changed, the secret differs or the request MAC differs', () => {
    const tampered = Buffer.from(NAMED_ANSWER);
    tampered[3] = 0x05; // rcode REFUSED
    const mac = requestMac(NSUPDATE_REQUEST);
    const expectBadSig = (fn: () => void): void => {
      assert.throws(
        fn,
        (error: unknown) => error instanceof TsigError && error.code === 'tsig_badsig',
      );
    };
    expectBadSig(() => {
      verifyResponse(tampered, key, mac, SIGNED_AT);
    });
    const other = tsigKey('gatehouse-key', 'hmac-sha256', Buffer.alloc(32, 1).toString('base64'));
    expectBadSig(() => {
      verifyResponse(NAMED_ANSWER, other, mac, SIGNED_AT);
    });
    expectBadSig(() => {
      verifyResponse(NAMED_ANSWER, key, Buffer.alloc(32), SIGNED_AT);
    });
  });

  it('rejects an answer signed outside the fudge of our clock', () => {
    assert.throws(
      () => {
        verifyResponse(NAMED_ANSWER, key, requestMac(NSUPDATE_REQUEST), SIGNED_AT + 301);
      },
      (error: unknown) => error instanceof TsigError && error.code === 'tsig_badtime',
    );
  });

  it("reads named's BADSIG and BADKEY refusals and says which part of the key to fix", () => {
    assert.throws(
      () => {
        verifyResponse(NAMED_BADSIG, key, Buffer.alloc(32), SIGNED_AT);
      },
      (error: unknown) =>
        error instanceof TsigError &&
        error.code === 'tsig_badsig' &&
        /"secret"/.test(error.message),
    );
    assert.throws(
      () => {
        verifyResponse(
          NAMED_BADKEY,
          tsigKey('other-key', 'hmac-sha256', SECRET),
          Buffer.alloc(32),
          SIGNED_AT,
        );
      },
      (error: unknown) =>
        error instanceof TsigError &&
        error.code === 'tsig_badkey' &&
        /"keyName"/.test(error.message),
    );
  });

  it('rejects an answer without a signature, and never puts the secret in a message', () => {
    const unsigned = withoutTsig(NAMED_ANSWER);
    assert.throws(
      () => {
        verifyResponse(unsigned, key, requestMac(NSUPDATE_REQUEST), SIGNED_AT);
      },
      (error: unknown) =>
        error instanceof TsigError &&
        error.code === 'tsig_missing' &&
        !error.message.includes(SECRET),
    );
  });

  it("signs a delete with hmac-sha512 byte for byte as nsupdate, and accepts named's answer", () => {
    const sha512 = tsigKey('sha512-key', 'hmac-sha512', SHA512_SECRET);
    const { signed, mac } = signRequest(withoutTsig(SHA512_DELETE), sha512, SHA512_SIGNED_AT);
    assert.equal(Buffer.from(signed).toString('hex'), SHA512_DELETE.toString('hex'));
    assert.equal(mac.length, 64);
    verifyResponse(SHA512_ANSWER, sha512, mac, SHA512_SIGNED_AT + 1);
  });
});
