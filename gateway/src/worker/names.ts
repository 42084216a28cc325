/**
 * Server names as the gateway meets them: the SNI of a ClientHello, the
 * name a tls-alpn-01 validator sends for an identifier (RFC 8737 section
 * 3; for an IP address, its reverse-DNS name, RFC 8738 section 6), and the
 * address a client without SNI connected to.
 * The supervisor checks the identifiers of challenges here too, so that
 * both processes agree on one spelling of each name.
 */
import net from 'node:net';
import { domainToASCII } from 'node:url';

/** An ACME identifier as it crosses IPC (RFC 8555 section 9.7.7, RFC 8738). */
export interface Identifier {
  type: 'dns' | 'ip';
  value: string;
}

/** A name or identifier that cannot be served; the message says what is wrong with it. */
export class NameError extends Error {
  override readonly name = 'NameError';
}

const LDH_LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;

/**
 * The name a worker looks certificates up by: the SNI lowercased, when it
 * is a DNS name the keyvault could hold a certificate for; undefined
 * otherwise (no SNI, an IP literal, underscores, a trailing dot), and such
 * a connection gets the default certificate without asking anyone.
 */
export function serverNameOf(sni: string | undefined): string | undefined {
  if (sni === undefined || sni.length === 0 || sni.length > 253) return undefined;
  const name = sni.toLowerCase();
  return isDnsName(name) ? name : undefined;
}

/**
 * An identifier checked and spelled as the keyvault spells it: a DNS name
 * in lowercase A-labels (wildcards allowed only when `wildcard` is set),
 * or an IP address. Throws NameError.
 */
export function checkIdentifier(
  identifier: Identifier,
  options: { wildcard: boolean },
): Identifier {
  if (identifier.type === 'ip') {
    ipBytes(identifier.value);
    return identifier;
  }
  const value = identifier.value;
  const wildcard = value.startsWith('*.');
  if (wildcard && !options.wildcard) {
    throw new NameError(
      `"${value}" is a wildcard, which tls-alpn-01 cannot validate (RFC 8737 section 3); use dns-01`,
    );
  }
  const base = wildcard ? value.slice(2) : value;
  // Only names with Unicode letters go through IDNA; domainToASCII would
  // otherwise percent-decode or map ASCII punctuation.
  const ascii = /^[\x21-\x7e]*$/.test(base) ? base.toLowerCase() : domainToASCII(base);
  if (!isDnsName(ascii)) {
    throw new NameError(
      `"${value}" is not a DNS name: give letters, digits and inner hyphens in dot-separated labels of at most 63 octets, without a trailing dot`,
    );
  }
  return { type: 'dns', value: wildcard ? `*.${ascii}` : ascii };
}

/**
 * The SNI a tls-alpn-01 validator sends for an identifier: the DNS name
 * itself, or the reverse-DNS name of an IP address (`in-addr.arpa`, or
 * `ip6.arpa` by nibbles). Throws NameError.
 */
export function challengeServerName(identifier: Identifier): string {
  const checked = checkIdentifier(identifier, { wildcard: false });
  if (checked.type === 'dns') return checked.value;
  const bytes = ipBytes(checked.value);
  if (bytes.length === 4) return `${[...bytes].reverse().join('.')}.in-addr.arpa`;
  const nibbles: string[] = [];
  for (const byte of bytes) nibbles.push((byte >> 4).toString(16), (byte & 0xf).toString(16));
  return `${nibbles.reverse().join('.')}.ip6.arpa`;
}

/**
 * One spelling per IP address, for keys: dotted decimal, or eight
 * lowercase hex groups. Undefined for text that is not an address, and
 * for an unspecified one (0.0.0.0, ::), which no connection arrives on.
 */
export function canonicalIp(text: string): string | undefined {
  let bytes: number[];
  try {
    bytes = ipBytes(text);
  } catch {
    return undefined;
  }
  if (bytes.every((byte) => byte === 0)) return undefined;
  if (bytes.length === 4) return bytes.join('.');
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) {
    groups.push((((bytes[i] ?? 0) << 8) | (bytes[i + 1] ?? 0)).toString(16));
  }
  return groups.join(':');
}

function isDnsName(name: string): boolean {
  if (name.length === 0 || name.length > 253) return false;
  const labels = name.split('.');
  if (!labels.every((label) => LDH_LABEL.test(label))) return false;
  // An all-digit last label is an IP address written as a name, which no
  // public suffix is and the keyvault refuses.
  return !/^[0-9]+$/.test(labels[labels.length - 1] ?? '');
}

/** The 4 or 16 octets of an IP address in any valid spelling. Throws NameError. */
function ipBytes(text: string): number[] {
  const family = text.includes('%') ? 0 : net.isIP(text);
  if (family === 4) return text.split('.').map(Number);
  if (family !== 6) {
    throw new NameError(`"${text}" is not an IPv4 or IPv6 address (and has no zone index)`);
  }
  // An IPv4 tail (::ffff:192.0.2.1) stands for the last two groups.
  const v4 = /^(.*:)(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  const hex = v4?.[1] && v4[2] ? `${v4[1]}${v4ToGroups(v4[2])}` : text;
  const [head = '', tail] = hex.split('::');
  const groups = (part: string): number[] =>
    part === '' ? [] : part.split(':').map((group) => parseInt(group, 16));
  const left = groups(head);
  const right = tail === undefined ? [] : groups(tail);
  const zeros = new Array<number>(8 - left.length - right.length).fill(0);
  return [...left, ...zeros, ...right].flatMap((group) => [group >> 8, group & 0xff]);
}

function v4ToGroups(v4: string): string {
  const [a = 0, b = 0, c = 0, d = 0] = v4.split('.').map(Number);
  return `${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
}
