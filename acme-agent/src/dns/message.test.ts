import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  DnsFormatError,
  OPCODE,
  RRCLASS,
  RRTYPE,
  decodeAddress,
  decodeMessage,
  decodeName,
  decodeNameData,
  decodeSoa,
  decodeTxt,
  encodeMessage,
  encodeName,
  encodeTxt,
} from './message.js';
import { dns01RecordName, dns01Value } from './provider.js';

const base = {
  id: 0x1234,
  qr: true,
  opcode: OPCODE.QUERY,
  aa: true,
  tc: false,
  rd: false,
  ra: false,
  rcode: 3,
  answers: [],
  authorities: [],
  additionals: [],
};

describe('DNS message codec', () => {
  it('round-trips a header, a question and TXT records', () => {
    const message = {
      ...base,
      questions: [{ name: '_acme-challenge.example.test', type: RRTYPE.TXT, class: RRCLASS.IN }],
      answers: [
        {
          name: '_acme-challenge.example.test',
          type: RRTYPE.TXT,
          class: RRCLASS.IN,
          ttl: 60,
          data: encodeTxt(['one', 'two']),
        },
      ],
    };
    const decoded = decodeMessage(encodeMessage(message));
    assert.equal(decoded.id, 0x1234);
    assert.equal(decoded.qr, true);
    assert.equal(decoded.aa, true);
    assert.equal(decoded.rcode, 3);
    assert.deepEqual(decoded.questions, message.questions);
    assert.equal(decoded.answers[0]?.ttl, 60);
    assert.deepEqual(decodeTxt(decoded.answers[0]?.data ?? new Uint8Array()), ['one', 'two']);
  });

  it('reads compressed names in NS and SOA records and the addresses of A/AAAA', () => {
    // No question: the first record (AAAA ::1) holds example.test at byte 12,
    // and every later name points back at it or at "ns1" inside the NS record.
    const first = Buffer.concat([
      Buffer.from(encodeName('example.test')),
      Buffer.from('001c000100000e100010', 'hex'),
      Buffer.alloc(15),
      Buffer.from([1]),
    ]);
    const nsTarget = 12 + first.length + 2 + 10;
    const ns = Buffer.concat([
      Buffer.from([0xc0, 12]),
      Buffer.from('0002000100000e100006', 'hex'),
      Buffer.from([3, ...Buffer.from('ns1'), 0xc0, 12]),
    ]);
    const soaData = Buffer.concat([
      Buffer.from([0xc0, nsTarget]),
      Buffer.from([10, ...Buffer.from('hostmaster'), 0xc0, 12]),
      Buffer.from('0000000700000e1000000e1000093a8000000e10', 'hex'),
    ]);
    const soaLength = Buffer.alloc(2);
    soaLength.writeUInt16BE(soaData.length);
    const soa = Buffer.concat([
      Buffer.from([0xc0, 12]),
      Buffer.from('0006000100000e10', 'hex'),
      soaLength,
      soaData,
    ]);
    const a = Buffer.concat([
      Buffer.from([0xc0, nsTarget]),
      Buffer.from('0001000100000e1000047f000001', 'hex'),
    ]);
    const message = Buffer.concat([
      Buffer.from('abcd8400000000040000', 'hex'),
      Buffer.from('0000', 'hex'),
      first,
      ns,
      soa,
      a,
    ]);
    const decoded = decodeMessage(message);
    assert.equal(decoded.answers.length, 4);
    const [aaaa, nsRecord, soaRecord, aRecord] = decoded.answers;
    assert.ok(aaaa && nsRecord && soaRecord && aRecord);
    assert.equal(decodeAddress(aaaa), '0:0:0:0:0:0:0:1');
    assert.equal(nsRecord.name, 'example.test');
    assert.equal(decodeNameData(message, nsRecord), 'ns1.example.test');
    assert.deepEqual(decodeSoa(message, soaRecord), {
      mname: 'ns1.example.test',
      rname: 'hostmaster.example.test',
      serial: 7,
    });
    assert.equal(aRecord.name, 'ns1.example.test');
    assert.equal(decodeAddress(aRecord), '127.0.0.1');
  });

  it('rejects malformed answers with DnsFormatError', () => {
    const cases: [string, Buffer][] = [
      ['too short for a header', Buffer.alloc(11)],
      ['a question past the end', Buffer.from('000080000001000000000000076578616d706c', 'hex')],
      [
        'a pointer that loops onto itself',
        Buffer.from('0000800000010000000000000c0c00010001', 'hex'),
      ],
      ['a forward pointer', Buffer.from('0000800000010000000000000c0e00010001', 'hex')],
      [
        'a record length past the end',
        Buffer.from('00008000000000010000000000000100010000003c00ff00', 'hex'),
      ],
      ['bytes after the last record', Buffer.from('000080000000000000000000ff', 'hex')],
      [
        'a reserved label type',
        Buffer.from('0000800000010000000000004000000100 01'.replace(' ', ''), 'hex'),
      ],
    ];
    for (const [what, bytes] of cases) {
      assert.throws(() => decodeMessage(bytes), DnsFormatError, what);
    }
    assert.throws(() => decodeTxt(Uint8Array.of(5, 0x61)), DnsFormatError);
    assert.throws(() => encodeName(`${'a'.repeat(64)}.test`), DnsFormatError);
    assert.throws(
      () => encodeName(Array.from({ length: 50 }, () => 'abcde').join('.')),
      DnsFormatError,
    );
  });

  it('bounds a name read through pointers to 255 bytes', () => {
    // 4 labels of 63 bytes, then a pointer chain that repeats them: over 255.
    const label = Buffer.concat([Buffer.from([63]), Buffer.alloc(63, 0x61)]);
    const bytes = Buffer.concat([label, label, label, label, Buffer.from([0xc0, 0])]);
    assert.throws(() => decodeName(bytes, 0), DnsFormatError);
  });
});

describe('dns-01 record (RFC 8555 section 8.4)', () => {
  it('names the record after the identifier, wildcard label removed', () => {
    assert.equal(dns01RecordName('*.wild.example.test'), '_acme-challenge.wild.example.test');
    assert.equal(dns01RecordName('www.example.test'), '_acme-challenge.www.example.test');
  });

  it('hashes the key authorization as openssl does, unpadded', () => {
    // From openssl (the padding '=' removed, as section 8.4 asks):
    // printf %s 'token.thumb' | openssl dgst -sha256 -binary | basenc --base64url
    assert.equal(dns01Value('token.thumb'), 'lCdftpJCXapaZHkBGIZbcubeKW8RmA0jSG_aZN01zbU');
  });
});
