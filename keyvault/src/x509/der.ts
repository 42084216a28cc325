/**
 * A minimal DER writer (X.690): just the types a certificate with fixed
 * structure needs, for the one certificate the keyvault makes at a high
 * rate (tls-alpn-01). Every value is encoded in its one DER form; nothing
 * here parses. Everything else goes through pkijs.
 */

/** Tag, definite length in its shortest form (X.690 8.1.3), then the contents. */
export function tlv(tag: number, ...contents: readonly Uint8Array[]): Buffer {
  let length = 0;
  for (const part of contents) length += part.byteLength;
  return Buffer.concat([Buffer.from([tag]), lengthOctets(length), ...contents]);
}

function lengthOctets(length: number): Buffer {
  if (length < 0x80) return Buffer.from([length]);
  const octets: number[] = [];
  for (let rest = length; rest > 0; rest = Math.floor(rest / 256)) octets.unshift(rest % 256);
  return Buffer.from([0x80 | octets.length, ...octets]);
}

export function sequence(...contents: readonly Uint8Array[]): Buffer {
  return tlv(0x30, ...contents);
}

export function set(...contents: readonly Uint8Array[]): Buffer {
  return tlv(0x31, ...contents);
}

/** [n] EXPLICIT, constructed. */
export function explicit(n: number, ...contents: readonly Uint8Array[]): Buffer {
  return tlv(0xa0 | n, ...contents);
}

/** [n] IMPLICIT over a primitive type (GeneralName's dNSName and iPAddress). */
export function implicitPrimitive(n: number, contents: Uint8Array): Buffer {
  return tlv(0x80 | n, contents);
}

export const BOOLEAN_TRUE = Buffer.from([0x01, 0x01, 0xff]);

/** An INTEGER from content octets that are already minimal and positive. */
export function integer(contents: Uint8Array): Buffer {
  const first = contents[0];
  if (contents.length === 0 || first === undefined || first & 0x80) {
    throw new RangeError('INTEGER content octets must be non-empty and positive');
  }
  if (contents.length > 1 && first === 0 && ((contents[1] ?? 0) & 0x80) === 0) {
    throw new RangeError('INTEGER content octets must be minimal');
  }
  return tlv(0x02, contents);
}

export function octetString(contents: Uint8Array): Buffer {
  return tlv(0x04, contents);
}

/** A BIT STRING of whole octets (no unused bits), as keys and signatures are. */
export function bitString(contents: Uint8Array): Buffer {
  return tlv(0x03, Buffer.from([0]), contents);
}

export function utf8String(text: string): Buffer {
  return tlv(0x0c, Buffer.from(text, 'utf8'));
}

/** OBJECT IDENTIFIER from dotted text (X.690 8.19). */
export function objectIdentifier(oid: string): Buffer {
  const arcs = oid.split('.').map(Number);
  const [first, second, ...rest] = arcs;
  if (
    first === undefined ||
    second === undefined ||
    arcs.some((arc) => !Number.isSafeInteger(arc) || arc < 0) ||
    first > 2 ||
    (first < 2 && second > 39)
  ) {
    throw new RangeError(`${oid} is not an object identifier`);
  }
  const octets: number[] = [];
  for (const arc of [first * 40 + second, ...rest]) {
    const groups = [arc % 128];
    for (let value = Math.floor(arc / 128); value > 0; value = Math.floor(value / 128)) {
      groups.unshift(0x80 | (value % 128));
    }
    octets.push(...groups);
  }
  return tlv(0x06, Buffer.from(octets));
}

/**
 * RFC 5280 section 4.1.2.5: UTCTime for 1950 through 2049, GeneralizedTime
 * otherwise, always in whole seconds and Zulu.
 */
export function certificateTime(date: Date): Buffer {
  const year = date.getUTCFullYear();
  const two = (value: number): string => String(value).padStart(2, '0');
  const rest =
    two(date.getUTCMonth() + 1) +
    two(date.getUTCDate()) +
    two(date.getUTCHours()) +
    two(date.getUTCMinutes()) +
    two(date.getUTCSeconds()) +
    'Z';
  if (year >= 1950 && year < 2050) return tlv(0x17, Buffer.from(two(year % 100) + rest, 'ascii'));
  return tlv(0x18, Buffer.from(String(year).padStart(4, '0') + rest, 'ascii'));
}
