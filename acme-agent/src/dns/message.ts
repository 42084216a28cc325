/**
 * A small DNS message codec (RFC 1035 section 4.1), enough for dns-01:
 * queries, answers with TXT, SOA, NS, A and AAAA records, and RFC 2136
 * UPDATE messages, whose four sections share the same wire layout. Names
 * are written uncompressed (always allowed) and read with compression
 * pointers followed, each one bounded, since answers come off the network.
 */

export const RRTYPE = { A: 1, NS: 2, CNAME: 5, SOA: 6, TXT: 16, AAAA: 28, TSIG: 250 } as const;
export const RRCLASS = { IN: 1, NONE: 254, ANY: 255 } as const;
export const OPCODE = { QUERY: 0, UPDATE: 5 } as const;
/** RFC 1035 section 4.1.1, RFC 2136 section 2.2 and RFC 8945 section 5.3. */
export const RCODE = {
  NOERROR: 0,
  FORMERR: 1,
  SERVFAIL: 2,
  NXDOMAIN: 3,
  NOTIMP: 4,
  REFUSED: 5,
  YXDOMAIN: 6,
  YXRRSET: 7,
  NXRRSET: 8,
  NOTAUTH: 9,
  NOTZONE: 10,
} as const;

export function rcodeName(rcode: number): string {
  return Object.entries(RCODE).find(([, value]) => value === rcode)?.[0] ?? `RCODE${rcode}`;
}

/** A message this codec cannot read; `code` is stable for callers. */
export class DnsFormatError extends Error {
  readonly code = 'dns_malformed';
  constructor(message: string) {
    super(message);
    this.name = 'DnsFormatError';
  }
}

export interface Question {
  readonly name: string;
  readonly type: number;
  readonly class: number;
}

export interface ResourceRecord {
  readonly name: string;
  readonly type: number;
  readonly class: number;
  readonly ttl: number;
  /** The record data as on the wire (names inside it uncompressed when we wrote it). */
  readonly data: Uint8Array;
  /** Offset of the record's first byte in the message it was read from (TSIG needs it). */
  readonly offset?: number;
}

export interface Header {
  readonly id: number;
  readonly qr: boolean;
  readonly opcode: number;
  readonly aa: boolean;
  readonly tc: boolean;
  readonly rd: boolean;
  readonly ra: boolean;
  readonly rcode: number;
}

export interface Message extends Header {
  /** The question section, or an UPDATE's zone section. */
  readonly questions: readonly Question[];
  /** Answers, or an UPDATE's prerequisites. */
  readonly answers: readonly ResourceRecord[];
  /** Authority records, or an UPDATE's updates. */
  readonly authorities: readonly ResourceRecord[];
  readonly additionals: readonly ResourceRecord[];
}

const MAX_NAME = 255;
const MAX_LABEL = 63;
const MAX_POINTERS = 64;

/** A name in canonical presentation form: lowercase, no trailing dot, "" for the root. */
export function canonicalName(name: string): string {
  return name.replace(/\.$/, '').toLowerCase();
}

/** RFC 1035 section 3.1: length-prefixed labels ending with the root's empty label. */
export function encodeName(name: string): Uint8Array {
  const canonical = name.replace(/\.$/, '');
  const labels = canonical === '' ? [] : canonical.split('.');
  const parts: number[] = [];
  for (const label of labels) {
    const bytes = Buffer.from(label, 'ascii');
    if (bytes.length === 0 || bytes.length > MAX_LABEL) {
      throw new DnsFormatError(`the name "${name}" has an empty label or one over 63 bytes`);
    }
    parts.push(bytes.length, ...bytes);
  }
  parts.push(0);
  if (parts.length > MAX_NAME) throw new DnsFormatError(`the name "${name}" is over 255 bytes`);
  return Uint8Array.from(parts);
}

/** Read a possibly compressed name at `offset`; `end` is where the name's own bytes stop. */
export function decodeName(message: Uint8Array, offset: number): { name: string; end: number } {
  const labels: string[] = [];
  let position = offset;
  let end: number | undefined;
  let pointers = 0;
  let length = 1;
  for (;;) {
    const size = byteAt(message, position, 'a name');
    if ((size & 0xc0) === 0xc0) {
      const target = ((size & 0x3f) << 8) | byteAt(message, position + 1, 'a name pointer');
      // Pointers must go backwards: it rules out loops and reading what is not there yet.
      if (target >= position || (pointers += 1) > MAX_POINTERS) {
        throw new DnsFormatError(`a name pointer at byte ${position} points forwards or loops`);
      }
      end ??= position + 2;
      position = target;
      continue;
    }
    if ((size & 0xc0) !== 0) throw new DnsFormatError(`unknown label type at byte ${position}`);
    if (size === 0) {
      end ??= position + 1;
      break;
    }
    if (position + 1 + size > message.length) {
      throw new DnsFormatError(`a label at byte ${position} runs past the end of the message`);
    }
    length += size + 1;
    if (length > MAX_NAME) throw new DnsFormatError(`a name at byte ${offset} is over 255 bytes`);
    labels.push(
      Buffer.from(message.subarray(position + 1, position + 1 + size)).toString('latin1'),
    );
    position += 1 + size;
  }
  return { name: labels.join('.').toLowerCase(), end };
}

function byteAt(message: Uint8Array, position: number, what: string): number {
  const value = message[position];
  if (value === undefined) throw new DnsFormatError(`the message ends inside ${what}`);
  return value;
}

function u16(message: Uint8Array, position: number, what: string): number {
  return (byteAt(message, position, what) << 8) | byteAt(message, position + 1, what);
}

function u32(message: Uint8Array, position: number, what: string): number {
  return u16(message, position, what) * 0x10000 + u16(message, position + 2, what);
}

/** Encode a whole message; records' `data` is written as given. */
export function encodeMessage(message: Message): Uint8Array {
  const parts: Uint8Array[] = [];
  const header = Buffer.alloc(12);
  header.writeUInt16BE(message.id, 0);
  header.writeUInt16BE(
    (message.qr ? 0x8000 : 0) |
      ((message.opcode & 0xf) << 11) |
      (message.aa ? 0x0400 : 0) |
      (message.tc ? 0x0200 : 0) |
      (message.rd ? 0x0100 : 0) |
      (message.ra ? 0x0080 : 0) |
      (message.rcode & 0xf),
    2,
  );
  header.writeUInt16BE(message.questions.length, 4);
  header.writeUInt16BE(message.answers.length, 6);
  header.writeUInt16BE(message.authorities.length, 8);
  header.writeUInt16BE(message.additionals.length, 10);
  parts.push(header);
  for (const question of message.questions) {
    parts.push(encodeName(question.name), u16Bytes(question.type), u16Bytes(question.class));
  }
  for (const record of [...message.answers, ...message.authorities, ...message.additionals]) {
    parts.push(encodeRecord(record));
  }
  return Buffer.concat(parts);
}

export function encodeRecord(record: ResourceRecord): Uint8Array {
  const fixed = Buffer.alloc(10);
  fixed.writeUInt16BE(record.type, 0);
  fixed.writeUInt16BE(record.class, 2);
  fixed.writeUInt32BE(record.ttl, 4);
  if (record.data.length > 0xffff) throw new DnsFormatError('record data over 65535 bytes');
  fixed.writeUInt16BE(record.data.length, 8);
  return Buffer.concat([encodeName(record.name), fixed, record.data]);
}

function u16Bytes(value: number): Uint8Array {
  return Uint8Array.of(value >> 8, value & 0xff);
}

/** Decode a message; every count, length and pointer is checked against its size. */
export function decodeMessage(bytes: Uint8Array): Message {
  if (bytes.length < 12) throw new DnsFormatError(`a ${bytes.length}-byte message has no header`);
  const flags = u16(bytes, 2, 'the header');
  const counts = [4, 6, 8, 10].map((at) => u16(bytes, at, 'the header'));
  let position = 12;
  const questions: Question[] = [];
  for (let index = 0; index < (counts[0] ?? 0); index += 1) {
    const { name, end } = decodeName(bytes, position);
    questions.push({
      name,
      type: u16(bytes, end, 'a question'),
      class: u16(bytes, end + 2, 'a question'),
    });
    position = end + 4;
  }
  const sections: ResourceRecord[][] = [[], [], []];
  for (const [section, records] of sections.entries()) {
    for (let index = 0; index < (counts[section + 1] ?? 0); index += 1) {
      const offset = position;
      const { name, end } = decodeName(bytes, position);
      const type = u16(bytes, end, 'a record');
      const rrClass = u16(bytes, end + 2, 'a record');
      const ttl = u32(bytes, end + 4, 'a record');
      const length = u16(bytes, end + 8, 'a record');
      const start = end + 10;
      if (start + length > bytes.length) {
        throw new DnsFormatError(
          `a record's data at byte ${start} runs past the end of the message`,
        );
      }
      records.push({
        name,
        type,
        class: rrClass,
        ttl,
        data: bytes.subarray(start, start + length),
        offset,
      });
      position = start + length;
    }
  }
  if (position !== bytes.length) {
    throw new DnsFormatError(`${bytes.length - position} bytes follow the last record`);
  }
  return {
    id: u16(bytes, 0, 'the header'),
    qr: (flags & 0x8000) !== 0,
    opcode: (flags >> 11) & 0xf,
    aa: (flags & 0x0400) !== 0,
    tc: (flags & 0x0200) !== 0,
    rd: (flags & 0x0100) !== 0,
    ra: (flags & 0x0080) !== 0,
    rcode: flags & 0xf,
    questions,
    answers: sections[0] ?? [],
    authorities: sections[1] ?? [],
    additionals: sections[2] ?? [],
  };
}

/** RFC 1035 section 3.3.14: one or more <character-string>s, each at most 255 bytes. */
export function encodeTxt(strings: readonly string[]): Uint8Array {
  const parts: number[] = [];
  for (const text of strings) {
    const bytes = Buffer.from(text, 'utf8');
    if (bytes.length > 255) throw new DnsFormatError('a TXT string is over 255 bytes');
    parts.push(bytes.length, ...bytes);
  }
  return Uint8Array.from(parts);
}

export function decodeTxt(data: Uint8Array): string[] {
  const strings: string[] = [];
  let position = 0;
  while (position < data.length) {
    const size = byteAt(data, position, 'a TXT string');
    if (position + 1 + size > data.length)
      throw new DnsFormatError('a TXT string runs past its record');
    strings.push(Buffer.from(data.subarray(position + 1, position + 1 + size)).toString('utf8'));
    position += 1 + size;
  }
  return strings;
}

/** NS and CNAME data: one name, which may point into the whole message. */
export function decodeNameData(message: Uint8Array, record: ResourceRecord): string {
  if (record.offset === undefined) return decodeName(record.data, 0).name;
  const start = dataStart(message, record);
  const { name, end } = decodeName(message, start);
  if (end !== start + record.data.length) throw new DnsFormatError('a name record has extra bytes');
  return name;
}

export interface Soa {
  readonly mname: string;
  readonly rname: string;
  readonly serial: number;
}

export function decodeSoa(message: Uint8Array, record: ResourceRecord): Soa {
  const start = dataStart(message, record);
  const mname = decodeName(message, start);
  const rname = decodeName(message, mname.end);
  if (rname.end + 20 !== start + record.data.length)
    throw new DnsFormatError('an SOA record has the wrong size');
  return { mname: mname.name, rname: rname.name, serial: u32(message, rname.end, 'an SOA record') };
}

/** A and AAAA data as text. */
export function decodeAddress(record: ResourceRecord): string {
  if (record.type === RRTYPE.A && record.data.length === 4) return [...record.data].join('.');
  if (record.type === RRTYPE.AAAA && record.data.length === 16) {
    const groups: string[] = [];
    for (let index = 0; index < 16; index += 2) {
      groups.push((((record.data[index] ?? 0) << 8) | (record.data[index + 1] ?? 0)).toString(16));
    }
    return groups.join(':');
  }
  throw new DnsFormatError(`an address record of ${record.data.length} bytes`);
}

function dataStart(message: Uint8Array, record: ResourceRecord): number {
  if (record.offset === undefined) throw new DnsFormatError('record not read from a message');
  return decodeName(message, record.offset).end + 10;
}
