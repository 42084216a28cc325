#!/usr/bin/env node
/**
 * Writes the generated ClientHello fixtures: real hellos cut, re-framed or
 * bent, and hand-built hostile ones, each with the answer the parser must
 * give (status, and the exact reason, `need`, server name or ALPN list).
 * Their entries in manifest.json carry origin "generated"; the captured
 * ones (capture-clienthellos.mjs) are kept as they are.
 *
 * Deterministic: running it again gives the same bytes for the same
 * captured hellos. Run after a capture, from the repository root:
 *
 *   node gateway/native/test/make-malformed.mjs
 *
 * The expectations here are written from the RFCs and the record layout,
 * not read back from the parser; a changed reason string in clienthello.c
 * must be changed here too, on purpose.
 */
import { Buffer } from 'node:buffer';
import { readFileSync, readdirSync, unlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const fixtures = path.join(here, 'fixtures', 'clienthello');
const manifestPath = path.join(fixtures, 'manifest.json');

const CH_MAX_HANDSHAKE = 16384;
const CH_MAX_WIRE = CH_MAX_HANDSHAKE + 5 * 8;

// The parser's reasons, one name each.
const E = {
  notHandshake: 'first byte is not a TLS handshake record (plain HTTP?)',
  sslv2: 'SSLv2-compatible ClientHello (RFC 5246 appendix E.2) is refused',
  recordVersion: 'record version is not 3.x',
  interleaved: 'record inside the ClientHello is not a handshake record',
  zeroRecord: 'zero-length handshake record',
  recordTooLong: 'record longer than 2^14 bytes',
  notClientHello: 'first handshake message is not a ClientHello',
  tooLarge: 'ClientHello is longer than CH_MAX_HANDSHAKE',
  tooWide: 'ClientHello spans more record bytes than the peek buffer holds',
  random: 'ClientHello ends inside its version or random',
  beforeSessionId: 'ClientHello ends before session id',
  beforeSuites: 'ClientHello ends before cipher suites',
  beforeCompression: 'ClientHello ends before compression methods',
  compressionOverrun: 'compression methods overrun the ClientHello',
  sniShort: 'server_name extension too short for its list length',
  alpnShort: 'ALPN extension too short for its list length',
  sessionIdLong: 'session id longer than 32 bytes',
  sessionIdOverrun: 'session id overruns the ClientHello',
  suitesOdd: 'cipher suites length is zero or odd',
  suitesOverrun: 'cipher suites overrun the ClientHello',
  noCompression: 'no compression method offered',
  extLength: 'extensions length does not match the ClientHello length',
  extLengthCut: 'ClientHello ends inside the extensions length',
  extHeader: 'extension header overruns the extensions block',
  extOverrun: 'extension overruns the extensions block',
  sniList: 'server_name list length does not match the extension',
  sniEmptyList: 'server_name list is empty',
  sniOverrun: 'server name overruns the server_name extension',
  sniEntry: 'server name entry overruns the server_name extension',
  sniRepeated: 'server_name extension repeated',
  sniTwoHosts: 'more than one host_name in server_name',
  sniEmpty: 'empty host_name in server_name',
  sniLong: 'host_name longer than 255 bytes',
  sniByte: 'host_name has a byte that cannot be in a DNS host name',
  alpnRepeated: 'ALPN extension repeated',
  alpnEmptyName: 'empty ALPN protocol name (RFC 7301 section 3.1)',
  alpnEmptyList: 'ALPN protocol list is empty',
  alpnOverrun: 'ALPN protocol name overruns the ALPN extension',
  alpnList: 'ALPN list length does not match the extension',
  alpnNul: 'ALPN protocol name holds a NUL byte',
};

// --- wire building -------------------------------------------------------

const cat = (...parts) => Buffer.concat(parts.map((p) => Buffer.from(p)));
const u8 = (n) => Buffer.from([n]);
const u16 = (n) => Buffer.from([n >> 8, n & 0xff]);
const u24 = (n) => Buffer.from([n >> 16, (n >> 8) & 0xff, n & 0xff]);
const vec8 = (b) => cat(u8(b.length), b);
const vec16 = (b) => cat(u16(b.length), b);
const bytes = (s) => Buffer.from(s, 'latin1');

const ext = (type, body) => cat(u16(type), vec16(body));
const serverNameList = (entries) =>
  vec16(cat(...entries.map(([type, name]) => cat(u8(type), vec16(bytes(name))))));
const sni = (name) => ext(0, serverNameList([[0, name]]));
const alpnList = (names) => vec16(cat(...names.map((n) => vec8(bytes(n)))));
const alpn = (names) => ext(16, alpnList(names));
// supported_versions (TLS 1.3, 1.2), supported_groups (x25519) and a
// key_share, so the hand-built hellos look like a real TLS 1.3 one.
const tls13Extensions = [
  ext(43, cat(u8(4), u16(0x0304), u16(0x0303))),
  ext(10, vec16(u16(0x001d))),
  ext(51, vec16(cat(u16(0x001d), vec16(Buffer.alloc(32, 0x42))))),
];

/** A ClientHello body (RFC 8446 section 4.1.2); extensions null: none. */
function helloBody({
  sessionId = Buffer.alloc(32, 0x11),
  suites = [0x1301, 0x1302, 0xc02f],
  compression = [0],
  extensions = tls13Extensions,
} = {}) {
  return cat(
    u16(0x0303),
    Buffer.alloc(32, 0x5a),
    vec8(sessionId),
    vec16(cat(...suites.map(u16))),
    vec8(Buffer.from(compression)),
    extensions === null ? [] : vec16(cat(...extensions)),
  );
}

const handshake = (body, type = 1) => cat(u8(type), u24(body.length), body);
const record = (payload, type = 22, version = 0x0301) =>
  cat(u8(type), u16(version), u16(payload.length), payload);

/** Frame handshake bytes into records of the given sizes (the last takes the rest). */
function frame(hs, sizes = []) {
  const out = [];
  let off = 0;
  for (const size of sizes) {
    out.push(record(hs.subarray(off, off + size)));
    off += size;
  }
  if (off < hs.length) out.push(record(hs.subarray(off)));
  return cat(...out);
}
const frameEvery = (hs, size) => frame(hs, Array(Math.ceil(hs.length / size)).fill(size));
const hello = (opts) => frame(handshake(helloBody(opts)));

/** The handshake message of a captured one-record fixture. */
function capturedHandshake(file) {
  const wire = readFileSync(path.join(fixtures, file));
  const recLen = wire.readUInt16BE(3);
  const total = 4 + ((wire[6] << 16) | (wire[7] << 8) | wire[8]);
  if (wire[0] !== 22 || recLen !== total || wire.length !== 5 + recLen) {
    throw new Error(`${file} is not one record holding exactly one ClientHello; re-capture`);
  }
  return { wire, hs: wire.subarray(5) };
}

// --- the cases -------------------------------------------------------------

const cases = [];
const ok = (file, client, wire, sniName, alpnNames) =>
  cases.push({ file, client, wire, status: 'ok', sni: sniName, alpn: alpnNames });
const needMore = (file, client, wire, need) =>
  cases.push({ file, client, wire, status: 'need_more', need });
const refused = (file, client, wire, status, error) =>
  cases.push({ file, client, wire, status, error });
const malformed = (file, client, wire, error) => refused(file, client, wire, 'malformed', error);

const openssl = capturedHandshake('openssl-tls13-servername.bin');
const chromium = capturedHandshake('chromium.bin');
const curl = capturedHandshake('curl-default.bin');
const nodeH2 = capturedHandshake('node-h2.bin');
const R = openssl.wire.length; // the whole hello: 5 + record length

// Real hellos re-framed: a handshake message may span records
// (RFC 8446 section 5.1), down to one byte each.
ok(
  'gen-openssl-1byte-records.bin',
  'openssl hello in 1-byte records',
  frameEvery(openssl.hs, 1),
  'openssl.gatehouse.test',
  [],
);
ok(
  'gen-chromium-1byte-records.bin',
  'chromium hello in 1-byte records',
  frameEvery(chromium.hs, 1),
  'chromium.gatehouse.test',
  ['h2', 'http/1.1'],
);
ok(
  'gen-chromium-split-in-header.bin',
  'chromium hello, records of 2 and the rest',
  frame(chromium.hs, [2]),
  'chromium.gatehouse.test',
  ['h2', 'http/1.1'],
);
ok(
  'gen-curl-three-records.bin',
  'curl hello, records of 100, 300 and the rest',
  frame(curl.hs, [100, 300]),
  'curl.gatehouse.test',
  ['h2', 'http/1.1'],
);
ok(
  'gen-node-then-ccs.bin',
  'node hello followed by a ChangeCipherSpec record',
  cat(nodeH2.wire, record(u8(1), 20, 0x0303)),
  'node.gatehouse.test',
  ['h2', 'http/1.1'],
);

// Cut short: `need` is where the next unit (record header, handshake
// header, end of the record) is complete.
needMore('gen-trunc-0.bin', 'empty', Buffer.alloc(0), 1);
needMore('gen-trunc-1.bin', 'openssl hello, first byte', openssl.wire.subarray(0, 1), 5);
needMore('gen-trunc-4.bin', 'openssl hello, 4 bytes', openssl.wire.subarray(0, 4), 5);
needMore('gen-trunc-5.bin', 'openssl hello, record header', openssl.wire.subarray(0, 5), 9);
needMore('gen-trunc-8.bin', 'openssl hello, 8 bytes', openssl.wire.subarray(0, 8), 9);
needMore('gen-trunc-9.bin', 'openssl hello, both headers', openssl.wire.subarray(0, 9), R);
needMore('gen-trunc-half.bin', 'openssl hello, half', openssl.wire.subarray(0, R >> 1), R);
needMore(
  'gen-trunc-last.bin',
  'openssl hello, all but the last byte',
  openssl.wire.subarray(0, R - 1),
  R,
);
needMore(
  'gen-trunc-chromium-1400.bin',
  'chromium hello, first TCP segment (1400 bytes)',
  chromium.wire.subarray(0, 1400),
  chromium.wire.length,
);
needMore(
  'gen-trunc-1byte-records-13.bin',
  '1-byte records, cut in the third record header',
  frameEvery(openssl.hs, 1).subarray(0, 13),
  17,
);
{
  // A handshake length past its record: the rest comes in a next record.
  const hs = Buffer.from(openssl.hs);
  hs.writeUIntBE(hs.length - 4 + 100, 1, 3);
  needMore(
    'gen-hs-longer-than-record.bin',
    'handshake length 100 past its only record',
    record(hs),
    R + 5,
  );
}

// Not TLS at all.
refused(
  'gen-http-get.bin',
  'plain HTTP request',
  bytes('GET / HTTP/1.1\r\nHost: gatehouse.test\r\n\r\n'),
  'not_tls',
  E.notHandshake,
);
refused('gen-http-G.bin', 'one byte of plain HTTP', bytes('G'), 'not_tls', E.notHandshake);
{
  // SSLv2-compatible CLIENT-HELLO (RFC 5246 appendix E.2): 2-byte header
  // with the high bit set, msg_type 1, version 3.1, three cipher specs.
  const specs = cat(
    Buffer.from([0x00, 0x00, 0x2f]),
    Buffer.from([0x00, 0x00, 0x35]),
    Buffer.from([0x00, 0x00, 0xff]),
  );
  const body = cat(
    u8(1),
    u16(0x0301),
    u16(specs.length),
    u16(0),
    u16(16),
    specs,
    Buffer.alloc(16, 0x33),
  );
  refused(
    'gen-sslv2-hello.bin',
    'SSLv2-compatible ClientHello',
    cat(u16(0x8000 | body.length), body),
    'not_tls',
    E.sslv2,
  );
}
refused(
  'gen-alert-first.bin',
  'an alert record first',
  record(Buffer.from([2, 40]), 21, 0x0303),
  'not_tls',
  E.notHandshake,
);
refused(
  'gen-record-version-2.bin',
  'record version 2.0',
  cat(Buffer.from([22, 2, 0]), openssl.wire.subarray(3)),
  'not_tls',
  E.recordVersion,
);

// Record layer broken (RFC 8446 section 5.1).
malformed(
  'gen-zero-length-record.bin',
  'zero-length first record',
  cat(record(Buffer.alloc(0)), openssl.wire),
  E.zeroRecord,
);
malformed(
  'gen-zero-length-record-middle.bin',
  'zero-length record between fragments',
  cat(record(openssl.hs.subarray(0, 50)), record(Buffer.alloc(0)), record(openssl.hs.subarray(50))),
  E.zeroRecord,
);
malformed(
  'gen-record-16385.bin',
  'record length 2^14 + 1',
  cat(Buffer.from([22, 3, 1]), u16(16385), handshake(helloBody())),
  E.recordTooLong,
);
malformed(
  'gen-interleaved-ccs.bin',
  'ChangeCipherSpec between hello fragments',
  cat(
    record(openssl.hs.subarray(0, 50)),
    record(u8(1), 20, 0x0303),
    record(openssl.hs.subarray(50)),
  ),
  E.interleaved,
);
malformed(
  'gen-second-record-version.bin',
  'second fragment with record version 4.3',
  cat(record(openssl.hs.subarray(0, 50)), record(openssl.hs.subarray(50), 22, 0x0403)),
  E.recordVersion,
);

// Handshake header.
malformed(
  'gen-server-hello.bin',
  'handshake type 2 (ServerHello)',
  frame(handshake(helloBody(), 2)),
  E.notClientHello,
);
malformed(
  'gen-empty-hello.bin',
  'ClientHello of length 0',
  frame(handshake(Buffer.alloc(0))),
  E.random,
);
{
  const big = handshake(Buffer.alloc(20000 - 4, 0x61));
  refused(
    'gen-20k-handshake.bin',
    'a 20 KB handshake in two records',
    frame(big, [16384]),
    'too_large',
    E.tooLarge,
  );
  refused(
    'gen-20k-header-only.bin',
    'a 20 KB handshake, first 9 bytes',
    frame(big, [16384]).subarray(0, 9),
    'too_large',
    E.tooLarge,
  );
}

/** A hello whose handshake message is exactly `total` bytes, by padding (RFC 7685). */
function paddedHandshake(total, name) {
  const base = helloBody({ extensions: [...tls13Extensions, sni(name), ext(21, [])] });
  const body = helloBody({
    extensions: [...tls13Extensions, sni(name), ext(21, Buffer.alloc(total - 4 - base.length))],
  });
  return handshake(body);
}
ok(
  'gen-max-handshake.bin',
  'a 16384-byte hello in one record',
  frame(paddedHandshake(CH_MAX_HANDSHAKE, 'max.gatehouse.test')),
  'max.gatehouse.test',
  [],
);
{
  const hs = paddedHandshake(CH_MAX_HANDSHAKE, 'wide.gatehouse.test');
  const eighth = CH_MAX_HANDSHAKE / 8;
  const eight = frameEvery(hs, eighth);
  if (eight.length !== CH_MAX_WIRE) throw new Error('8 records should fill CH_MAX_WIRE');
  ok(
    'gen-max-handshake-8-records.bin',
    'a 16384-byte hello in 8 records (CH_MAX_WIRE)',
    eight,
    'wide.gatehouse.test',
    [],
  );
  refused(
    'gen-max-handshake-9-records.bin',
    'a 16384-byte hello in 9 records',
    frame(hs, Array(8).fill(eighth - 1)),
    'too_large',
    E.tooWide,
  );
}
refused(
  'gen-handshake-16385.bin',
  'a 16385-byte hello',
  frame(paddedHandshake(CH_MAX_HANDSHAKE + 1, 'big.gatehouse.test'), [16000]),
  'too_large',
  E.tooLarge,
);
refused(
  'gen-3k-1byte-records.bin',
  'a 3000-byte hello in 1-byte records',
  frameEvery(paddedHandshake(3000, 'slow.gatehouse.test'), 1),
  'too_large',
  E.tooWide,
);

// ClientHello body (RFC 8446 section 4.1.2, RFC 5246 section 7.4.1.2).
ok(
  'gen-no-extensions.bin',
  'a TLS 1.2 hello without extensions',
  hello({ extensions: null }),
  null,
  [],
);
{
  // The body cut right after each fixed part: every length is missing.
  const start = cat(u16(0x0303), Buffer.alloc(32, 0x5a));
  const sid = cat(start, vec8(Buffer.alloc(32, 0x11)));
  const suites = cat(sid, vec16(u16(0x1301)));
  malformed(
    'gen-ends-after-random.bin',
    'hello ending after its random',
    frame(handshake(start)),
    E.beforeSessionId,
  );
  malformed(
    'gen-ends-after-session-id.bin',
    'hello ending after its session id',
    frame(handshake(sid)),
    E.beforeSuites,
  );
  malformed(
    'gen-ends-after-suites.bin',
    'hello ending after its cipher suites',
    frame(handshake(suites)),
    E.beforeCompression,
  );
  malformed(
    'gen-compression-overrun.bin',
    'compression methods past the hello',
    frame(handshake(cat(suites, u8(4), u8(0)))),
    E.compressionOverrun,
  );
}
malformed(
  'gen-sni-one-byte.bin',
  'server_name extension of one byte',
  hello({ extensions: [ext(0, u8(0))] }),
  E.sniShort,
);
malformed(
  'gen-alpn-one-byte.bin',
  'ALPN extension of one byte',
  hello({ extensions: [ext(16, u8(2))] }),
  E.alpnShort,
);
malformed(
  'gen-session-id-33.bin',
  'session id of 33 bytes',
  hello({ sessionId: Buffer.alloc(33, 1) }),
  E.sessionIdLong,
);
malformed(
  'gen-session-id-overrun.bin',
  'hello ending inside its session id',
  frame(handshake(cat(u16(0x0303), Buffer.alloc(32, 0x5a), u8(20), Buffer.alloc(5, 1)))),
  E.sessionIdOverrun,
);
malformed(
  'gen-cipher-suites-odd.bin',
  'cipher suites of odd length',
  frame(
    handshake(cat(u16(0x0303), Buffer.alloc(32), u8(0), u16(3), Buffer.alloc(3), u8(1), u8(0))),
  ),
  E.suitesOdd,
);
malformed('gen-cipher-suites-empty.bin', 'no cipher suite', hello({ suites: [] }), E.suitesOdd);
malformed(
  'gen-cipher-suites-overrun.bin',
  'cipher suites past the hello',
  frame(handshake(cat(u16(0x0303), Buffer.alloc(32), u8(0), u16(0x2000), Buffer.alloc(8)))),
  E.suitesOverrun,
);
malformed(
  'gen-no-compression.bin',
  'no compression method',
  hello({ compression: [] }),
  E.noCompression,
);
{
  const body = helloBody({ extensions: [sni('x.gatehouse.test')] });
  malformed(
    'gen-extensions-trailing-byte.bin',
    'a byte after the extensions block',
    frame(handshake(cat(body, u8(0)))),
    E.extLength,
  );
  const at = helloBody({ extensions: null }).length; // where the extensions length is
  const longer = Buffer.from(body);
  longer.writeUInt16BE(longer.readUInt16BE(at) + 1, at);
  malformed(
    'gen-extensions-length-overrun.bin',
    'extensions length one past the hello',
    frame(handshake(longer)),
    E.extLength,
  );
  malformed(
    'gen-extensions-length-cut.bin',
    'one byte where the extensions length goes',
    frame(handshake(cat(helloBody({ extensions: null }), u8(0)))),
    E.extLengthCut,
  );
}
malformed(
  'gen-extension-overrun.bin',
  'extension length past the block',
  hello({ extensions: [cat(u16(0x1234), u16(10), Buffer.alloc(4))] }),
  E.extOverrun,
);
malformed(
  'gen-extension-header-cut.bin',
  'three bytes of an extension header',
  hello({ extensions: [sni('a.gatehouse.test'), Buffer.from([0, 5, 0])] }),
  E.extHeader,
);

// server_name (RFC 6066 section 3).
ok(
  'gen-sni-unknown-type-skipped.bin',
  'name_type 1 then host_name',
  hello({
    extensions: [
      ext(
        0,
        serverNameList([
          [1, 'opaque'],
          [0, 'skip.gatehouse.test'],
        ]),
      ),
    ],
  }),
  'skip.gatehouse.test',
  [],
);
ok(
  'gen-sni-unknown-type-only.bin',
  'only a name_type 7 entry',
  hello({ extensions: [ext(0, serverNameList([[7, 'x']]))] }),
  null,
  [],
);
ok(
  'gen-sni-case-kept.bin',
  'mixed-case host_name',
  hello({ extensions: [sni('MiXeD.GateHouse.Test')] }),
  'MiXeD.GateHouse.Test',
  [],
);
{
  const n255 = `${'a'.repeat(63)}.${'b'.repeat(63)}.${'c'.repeat(63)}.${'d'.repeat(63)}`;
  ok('gen-sni-255.bin', 'host_name of 255 bytes', hello({ extensions: [sni(n255)] }), n255, []);
  malformed(
    'gen-sni-256.bin',
    'host_name of 256 bytes',
    hello({ extensions: [sni(`${n255}e`)] }),
    E.sniLong,
  );
}
malformed(
  'gen-sni-list-mismatch.bin',
  'server_name list length one short',
  hello({ extensions: [ext(0, cat(u16(4), u8(0), vec16(bytes('ab'))))] }),
  E.sniList,
);
malformed(
  'gen-sni-empty-list.bin',
  'empty server_name list',
  hello({ extensions: [ext(0, u16(0))] }),
  E.sniEmptyList,
);
malformed(
  'gen-sni-name-overrun.bin',
  'host_name length past the list',
  hello({ extensions: [ext(0, vec16(cat(u8(0), u16(30), bytes('short'))))] }),
  E.sniOverrun,
);
malformed(
  'gen-sni-entry-cut.bin',
  'server_name entry of two bytes',
  hello({ extensions: [ext(0, vec16(Buffer.from([0, 0])))] }),
  E.sniEntry,
);
malformed(
  'gen-sni-repeated.bin',
  'two server_name extensions',
  hello({ extensions: [sni('a.gatehouse.test'), sni('b.gatehouse.test')] }),
  E.sniRepeated,
);
malformed(
  'gen-sni-two-host-names.bin',
  'two host_names in one list',
  hello({
    extensions: [
      ext(
        0,
        serverNameList([
          [0, 'a.test'],
          [0, 'b.test'],
        ]),
      ),
    ],
  }),
  E.sniTwoHosts,
);
malformed('gen-sni-empty.bin', 'empty host_name', hello({ extensions: [sni('')] }), E.sniEmpty);
for (const [tag, name] of [
  ['nul', 'evil\0.gatehouse.test'],
  ['space', 'evil .gatehouse.test'],
  ['slash', '../etc/passwd'],
  ['ctrl', 'evil\x01.gatehouse.test'],
  ['newline', 'evil.gatehouse.test\r\nX: 1'],
  ['del', 'evil\x7f.gatehouse.test'],
  ['utf8', 'b\xc3\xbccher.gatehouse.test'],
  ['colon', '::1'],
  ['percent', 'evil%00.gatehouse.test'],
]) {
  malformed(
    `gen-sni-bad-${tag}.bin`,
    `host_name with a bad byte (${tag})`,
    hello({ extensions: [sni(name)] }),
    E.sniByte,
  );
}

// ALPN (RFC 7301 section 3.1).
{
  const names = Array.from({ length: 19 }, (_, i) => `proto-${i}`).concat('acme-tls/1');
  ok(
    'gen-alpn-20-names.bin',
    '20 ALPN names, acme-tls/1 last',
    hello({ extensions: [sni('many.gatehouse.test'), alpn(names)] }),
    'many.gatehouse.test',
    names,
  );
}
ok(
  'gen-alpn-grease.bin',
  'a GREASE ALPN name (RFC 8701) before h2',
  hello({ extensions: [alpn(['\x0a\x0a', 'h2'])] }),
  null,
  ['\x0a\x0a', 'h2'],
);
ok(
  'gen-alpn-acme-split.bin',
  'acme-tls/1 split over 1-byte records',
  frameEvery(
    handshake(helloBody({ extensions: [sni('acme.gatehouse.test'), alpn(['acme-tls/1'])] })),
    1,
  ),
  'acme.gatehouse.test',
  ['acme-tls/1'],
);
ok(
  'gen-alpn-acme-lookalike.bin',
  'acme-tls/10 and acme-tls/ only',
  hello({ extensions: [alpn(['acme-tls/10', 'acme-tls/'])] }),
  null,
  ['acme-tls/10', 'acme-tls/'],
);
malformed(
  'gen-alpn-repeated.bin',
  'two ALPN extensions',
  hello({ extensions: [alpn(['h2']), alpn(['acme-tls/1'])] }),
  E.alpnRepeated,
);
malformed(
  'gen-alpn-empty-name.bin',
  'an empty ALPN name',
  hello({ extensions: [alpn(['h2', ''])] }),
  E.alpnEmptyName,
);
malformed(
  'gen-alpn-empty-list.bin',
  'an empty ALPN list',
  hello({ extensions: [ext(16, u16(0))] }),
  E.alpnEmptyList,
);
malformed(
  'gen-alpn-name-overrun.bin',
  'ALPN name length past the list',
  hello({ extensions: [ext(16, vec16(cat(u8(9), bytes('h2'))))] }),
  E.alpnOverrun,
);
malformed(
  'gen-alpn-list-mismatch.bin',
  'ALPN list length one past the extension',
  hello({ extensions: [ext(16, cat(u16(4), u8(2), bytes('h2')))] }),
  E.alpnList,
);
malformed(
  'gen-alpn-nul.bin',
  'an ALPN name with a NUL byte',
  hello({ extensions: [alpn(['acme-tls/1\0x'])] }),
  E.alpnNul,
);

// --- write ---------------------------------------------------------------

for (const f of readdirSync(fixtures)) {
  if (f.startsWith('gen-') && f.endsWith('.bin')) unlinkSync(path.join(fixtures, f));
}
const entries = cases.map(({ wire, ...c }) => {
  writeFileSync(path.join(fixtures, c.file), wire);
  const entry = { file: c.file, origin: 'generated', client: c.client, status: c.status };
  if (c.status === 'ok') {
    entry.sni = c.sni;
    entry.alpn = c.alpn;
    entry.acme = c.alpn.includes('acme-tls/1');
  }
  if (c.status === 'need_more') entry.need = c.need;
  if (c.error !== undefined) entry.error = c.error;
  return entry;
});

const old = JSON.parse(readFileSync(manifestPath, 'utf8'));
const captured = old.fixtures.filter((f) => f.origin === 'captured');
writeFileSync(
  manifestPath,
  `${JSON.stringify({ fixtures: [...captured, ...entries] }, null, 2)}\n`,
);
console.log(`${entries.length} generated fixtures, ${captured.length} captured kept`);
