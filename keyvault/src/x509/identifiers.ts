/**
 * ACME identifiers, the names a certificate is for: `dns` (RFC 8555 section
 * 9.7.7) and `ip` (RFC 8738). Everything the keyvault puts into a CSR or a
 * certificate passes through here first, so that one spelling of each name
 * reaches the CA, the SAN extension and the database.
 */
import net from 'node:net';
import { domainToASCII } from 'node:url';

export type IdentifierType = 'dns' | 'ip';

/** A checked, normalized identifier: build one with `normalizeIdentifier`. */
export interface Identifier {
  readonly type: IdentifierType;
  readonly value: string;
}

export type IdentifierErrorCode =
  | 'identifier_malformed'
  | 'identifier_type_unsupported'
  | 'dns_name_invalid'
  | 'ip_address_invalid'
  | 'identifiers_empty'
  | 'identifiers_too_many'
  | 'identifier_duplicate';

export class IdentifierError extends Error {
  constructor(
    readonly code: IdentifierErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'IdentifierError';
  }
}

/** Public CAs take up to 100 names per order; more is a caller's mistake. */
export const MAX_IDENTIFIERS = 100;

// Long enough for any 253-octet name written in Unicode, short enough that
// IDNA never runs on a megabyte from a confused caller.
const MAX_INPUT_LENGTH = 1024;
const MAX_NAME_LENGTH = 253;
const MAX_LABEL_LENGTH = 63;
const LDH_LABEL = /^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$/;

/**
 * Check and normalize one identifier given as `{ type, value }` from
 * outside. Throws `IdentifierError`.
 */
export function normalizeIdentifier(input: unknown): Identifier {
  if (typeof input !== 'object' || input === null) {
    throw new IdentifierError(
      'identifier_malformed',
      'An identifier must be an object { type: "dns" | "ip", value: string }.',
    );
  }

  const { type, value } = input as { type?: unknown; value?: unknown };
  if (typeof value !== 'string') {
    throw new IdentifierError(
      'identifier_malformed',
      'An identifier needs a string "value" (a DNS name or an IP address).',
    );
  }

  if (type === 'dns') return { type, value: normalizeDnsName(value) };
  if (type === 'ip') return { type, value: normalizeIpAddress(value) };
  throw new IdentifierError(
    'identifier_type_unsupported',
    `Identifier type ${quote(type)} is not supported; use "dns" or "ip".`,
  );
}

/**
 * Check and normalize a list of identifiers: not empty, at most
 * `MAX_IDENTIFIERS`, and no name twice once normalized (two spellings of
 * one name are a caller's mistake worth hearing about). Order is kept.
 */
export function normalizeIdentifiers(input: unknown): Identifier[] {
  if (!Array.isArray(input) || input.length === 0) {
    throw new IdentifierError(
      'identifiers_empty',
      'At least one identifier is needed; give a non-empty array of { type, value }.',
    );
  }
  if (input.length > MAX_IDENTIFIERS) {
    throw new IdentifierError(
      'identifiers_too_many',
      `${input.length} identifiers were given; at most ${MAX_IDENTIFIERS} fit one certificate.`,
    );
  }

  const seen = new Set<string>();
  return input.map((item: unknown) => {
    const identifier = normalizeIdentifier(item);
    const key = identifierKey(identifier);
    if (seen.has(key)) {
      throw new IdentifierError(
        'identifier_duplicate',
        `Identifier ${key} is given twice (after normalization); list each name once.`,
      );
    }
    seen.add(key);
    return identifier;
  });
}

/** One string per identifier, `dns:example.com` or `ip:192.0.2.1`, for sets and messages. */
export function identifierKey(identifier: Identifier): string {
  return `${identifier.type}:${identifier.value}`;
}

/**
 * A DNS name in the form a CA expects: lowercase A-labels (IDNA through
 * WHATWG's domainToASCII), letters, digits and inner hyphens, labels of at
 * most 63 octets, at most 253 in all, and optionally one leading `*.`.
 */
export function normalizeDnsName(name: string, options: { wildcard?: boolean } = {}): string {
  const wildcard = options.wildcard ?? true;
  checkInputText(name, 'dns_name_invalid', 'DNS name');

  const isWildcard = name.startsWith('*.');
  if (isWildcard && !wildcard) {
    throw dnsError(name, 'a wildcard is not allowed here; give the name without "*."');
  }
  const base = isWildcard ? name.slice(2) : name;

  if (net.isIP(base) !== 0) {
    throw dnsError(name, 'it is an IP address; use an identifier of type "ip" instead');
  }
  if (base.endsWith('.')) {
    throw dnsError(name, 'it ends in a dot; drop the trailing dot');
  }

  if (base.includes('*')) {
    throw dnsError(name, 'a "*" may only be the whole first label, as in "*.example.com"');
  }

  // The ASCII part of a name must already be letters, digits, hyphens and
  // dots: domainToASCII would otherwise percent-decode ("a%41" -> "aa").
  // Only names with Unicode letters go through IDNA.
  if (/[^a-zA-Z0-9.\-\u{80}-\u{10ffff}]/u.test(base)) {
    throw dnsError(name, 'it holds a character other than a letter, digit, hyphen or dot');
  }
  const ascii = /^[a-zA-Z0-9.-]*$/.test(base) ? base.toLowerCase() : domainToASCII(base);
  if (ascii === '' && base !== '') {
    throw dnsError(name, 'it is not a valid internationalized name (IDNA)');
  }
  if (/(^|\.)xn--/.test(ascii) && domainToASCII(ascii) !== ascii) {
    throw dnsError(name, 'an "xn--" label is not valid Punycode of a Unicode label (IDNA)');
  }

  const labels = ascii.split('.');
  for (const label of labels) checkLabel(name, label);
  if (/^[0-9]+$/.test(labels[labels.length - 1] ?? '')) {
    throw dnsError(name, 'its last label is all digits, which no public suffix is');
  }

  const result = isWildcard ? `*.${ascii}` : ascii;
  if (result.length > MAX_NAME_LENGTH) {
    throw dnsError(name, `it is ${result.length} octets long; at most ${MAX_NAME_LENGTH} fit`);
  }
  return result;
}

/**
 * An IPv4 or IPv6 address in canonical text: dotted decimal (RFC 1123
 * section 2.1) or RFC 5952 (lowercase, shortest, `::` for the longest run
 * of zeros, mixed notation for IPv4-mapped addresses), as RFC 8738 section
 * 3 asks for.
 */
export function normalizeIpAddress(text: string): string {
  return formatIpAddress(ipAddressBytes(text));
}

/** The 4 or 16 octets of an IP address, as an iPAddress SAN entry holds them. */
export function ipAddressBytes(text: string): Buffer {
  checkInputText(text, 'ip_address_invalid', 'IP address');
  if (text.includes('%')) {
    throw new IdentifierError(
      'ip_address_invalid',
      `IP address ${quote(text)} has a zone index, which no certificate can name; drop "%...".`,
    );
  }

  const family = net.isIP(text);
  if (family === 4) return Buffer.from(text.split('.').map(Number));
  if (family === 6) return ipv6Bytes(text);
  throw new IdentifierError(
    'ip_address_invalid',
    `${quote(text)} is not an IPv4 or IPv6 address (IPv4 with no leading zeros, e.g. 192.0.2.1).`,
  );
}

/** Canonical text of 4 or 16 octets; the inverse of `ipAddressBytes`. */
export function formatIpAddress(bytes: Uint8Array): string {
  if (bytes.length === 4) return Array.from(bytes).join('.');
  if (bytes.length !== 16) {
    throw new IdentifierError(
      'ip_address_invalid',
      `An IP address has 4 or 16 octets, not ${bytes.length}.`,
    );
  }

  const words: number[] = [];
  for (let i = 0; i < 16; i += 2) words.push(((bytes[i] ?? 0) << 8) | (bytes[i + 1] ?? 0));

  // RFC 5952 section 5: an IPv4-mapped address ends in dotted decimal.
  if (words.slice(0, 5).every((word) => word === 0) && words[5] === 0xffff) {
    return `::ffff:${Array.from(bytes.subarray(12)).join('.')}`;
  }

  const run = longestZeroRun(words);
  const hex = words.map((word) => word.toString(16));
  if (run.length < 2) return hex.join(':');
  const head = hex.slice(0, run.start).join(':');
  const tail = hex.slice(run.start + run.length).join(':');
  return `${head}::${tail}`;
}

/**
 * The reverse-mapping DNS name of an IP address (`in-addr.arpa` or, by
 * nibbles, `ip6.arpa`): the SNI a validator sends for an ip identifier in
 * tls-alpn-01, RFC 8738 section 6.
 */
export function reverseDnsName(ip: string): string {
  const bytes = ipAddressBytes(ip);
  if (bytes.length === 4) return `${Array.from(bytes).reverse().join('.')}.in-addr.arpa`;

  const nibbles: string[] = [];
  for (const byte of bytes) nibbles.push((byte >> 4).toString(16), (byte & 0xf).toString(16));
  return `${nibbles.reverse().join('.')}.ip6.arpa`;
}

function checkInputText(text: string, code: IdentifierErrorCode, what: string): void {
  if (typeof text !== 'string' || text.length === 0) {
    throw new IdentifierError(code, `The ${what} is empty; give a non-empty string.`);
  }
  if (text.length > MAX_INPUT_LENGTH) {
    throw new IdentifierError(
      code,
      `The ${what} is ${text.length} characters long; at most ${MAX_NAME_LENGTH} octets can be valid.`,
    );
  }
}

function checkLabel(name: string, label: string): void {
  if (label.length === 0) {
    throw dnsError(name, 'it has an empty label (two dots in a row, or a leading dot)');
  }
  if (label.length > MAX_LABEL_LENGTH) {
    throw dnsError(name, `a label is ${label.length} octets long; at most 63 fit`);
  }
  if (!LDH_LABEL.test(label)) {
    throw dnsError(name, 'a label starts or ends with a hyphen; hyphens may only be inside');
  }
}

function dnsError(name: string, reason: string): IdentifierError {
  return new IdentifierError('dns_name_invalid', `DNS name ${quote(name)} is invalid: ${reason}.`);
}

function ipv6Bytes(text: string): Buffer {
  // net.isIPv6 has accepted the syntax; only the layout is left to read.
  const [head = '', tail] = text.split('::');
  const headWords = wordsOf(head);
  const tailWords = tail === undefined ? [] : wordsOf(tail);
  const zeros = new Array<number>(8 - headWords.length - tailWords.length).fill(0);
  const words = [...headWords, ...zeros, ...tailWords];

  const bytes = Buffer.alloc(16);
  words.forEach((word, i) => bytes.writeUInt16BE(word, i * 2));
  return bytes;
}

function wordsOf(part: string): number[] {
  if (part === '') return [];
  return part.split(':').flatMap((group) => {
    if (!group.includes('.')) return [parseInt(group, 16)];
    const [a = 0, b = 0, c = 0, d = 0] = group.split('.').map(Number);
    return [(a << 8) | b, (c << 8) | d];
  });
}

function longestZeroRun(words: number[]): { start: number; length: number } {
  let best = { start: 0, length: 0 };
  let start = -1;
  for (let i = 0; i <= words.length; i++) {
    if (i < words.length && words[i] === 0) {
      if (start < 0) start = i;
      continue;
    }
    if (start >= 0 && i - start > best.length) best = { start, length: i - start };
    start = -1;
  }
  return best;
}

// Names are public, but a confused caller may send anything: keep messages short.
function quote(value: unknown): string {
  const text = JSON.stringify(typeof value === 'string' ? value : String(value));
  return text.length > 80 ? `${text.slice(0, 77)}..."` : text;
}
