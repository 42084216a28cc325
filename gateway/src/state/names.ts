/**
 * What counts as a domain an operator may add: a DNS name (RFC 1123 host
 * names, with `*.` allowed as the whole first label for a wildcard) or an
 * IP address (RFC 8738). Names are checked before anything is written, and
 * each refusal says what is wrong and how to write the name instead.
 *
 * DNS names are compared without regard to case (RFC 4343), so they are
 * kept in lowercase; IPv6 addresses are kept in their compressed form
 * (RFC 5952), so that `0:0::1` and `::1` are one domain.
 */
import { isIP } from 'node:net';
import { domainToASCII } from 'node:url';
import { StateError } from './errors.js';

/** RFC 1035 section 2.3.4, written without the final dot. */
const MAX_NAME_LENGTH = 253;
const MAX_LABEL_LENGTH = 63;
const LABEL = /^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/;

export interface DomainName {
  /** The name as stored: lowercase DNS name or canonical IP address. */
  name: string;
  kind: 'dns' | 'ip';
  wildcard: boolean;
}

/** Checks and normalizes a domain; throws StateError `invalid_domain_name` naming the problem. */
export function parseDomainName(input: unknown): DomainName {
  if (typeof input !== 'string') {
    throw invalid('the name must be a string, such as "example.com"');
  }
  if (input.length === 0) {
    throw invalid('the name is empty; give a DNS name such as "example.com" or an IP address');
  }
  const shown = JSON.stringify(input.length > 80 ? `${input.slice(0, 80)}...` : input);
  if (input.trim() !== input || /\s/.test(input)) {
    throw invalid(`${shown} contains whitespace; give the name alone`);
  }

  const ip = parseIpAddress(input, shown);
  if (ip) return ip;
  return parseDnsName(input, shown);
}

function parseIpAddress(input: string, shown: string): DomainName | undefined {
  if (input.startsWith('[') && input.endsWith(']') && isIP(input.slice(1, -1)) === 6) {
    throw invalid(`${shown} is an IPv6 address in brackets; give it without them`);
  }
  const version = isIP(input);
  if (version === 0) return undefined;
  if (input.includes('%')) {
    throw invalid(`${shown} has a zone index; a certificate cannot name one, so leave it out`);
  }
  // The URL parser prints IPv6 in the compressed lowercase form of RFC 5952.
  const name = version === 6 ? new URL(`http://[${input}]/`).hostname.slice(1, -1) : input;
  return { name, kind: 'ip', wildcard: false };
}

function parseDnsName(input: string, shown: string): DomainName {
  // Anything outside ASCII is an internationalized name: certificates and
  // ACME carry its A-label form (RFC 5891), which the operator should see.
  if (/[^\x20-\x7e]/.test(input)) {
    const ascii = domainToASCII(input.toLowerCase());
    const hint = ascii === '' ? '' : ` ("${ascii}")`;
    throw invalid(`${shown} is not ASCII; give its A-label (punycode) form${hint}`);
  }
  const name = input.toLowerCase();
  if (name.endsWith('.')) {
    throw invalid(`${shown} ends with a dot; give the name without it`);
  }
  if (name.length > MAX_NAME_LENGTH) {
    throw invalid(`the name is ${name.length} characters long; at most ${MAX_NAME_LENGTH} fit`);
  }

  const labels = name.split('.');
  const wildcard = labels[0] === '*';
  if (wildcard) labels.shift();
  if (labels.length === 0) {
    throw invalid(`${shown} is a wildcard of nothing; write it as "*.example.com"`);
  }
  labels.forEach((label, index) => {
    checkLabel(label, index + (wildcard ? 1 : 0), shown);
  });

  // An all-numeric last label is what an IPv4 address that failed to parse
  // looks like (RFC 3696 section 2: no top-level domain is all digits).
  const last = labels.at(-1) ?? '';
  if (/^[0-9]+$/.test(last)) {
    throw invalid(
      `${shown} is neither a DNS name (its last label is all digits) nor a valid IP ` +
        `address; write an IPv4 address as four numbers 0-255, such as "192.0.2.1"`,
    );
  }
  return { name, kind: 'dns', wildcard };
}

function checkLabel(label: string, position: number, shown: string): void {
  const where = `label ${position + 1} of ${shown}`;
  if (label === '') {
    throw invalid(`${shown} has an empty label (two dots in a row, or a leading dot)`);
  }
  if (label.includes('*')) {
    throw invalid(
      `${where} holds "*"; a wildcard may only be the whole first label, as in "*.example.com"`,
    );
  }
  if (label.length > MAX_LABEL_LENGTH) {
    throw invalid(`${where} is ${label.length} characters long; at most ${MAX_LABEL_LENGTH} fit`);
  }
  if (LABEL.test(label)) return;

  const bad = /[^a-z0-9-]/.exec(label)?.[0];
  if (bad !== undefined) {
    throw invalid(
      `${where} holds ${JSON.stringify(bad)}; DNS names use only letters, digits and "-"`,
    );
  }
  throw invalid(
    `${where} starts or ends with "-"; a label must begin and end with a letter or digit`,
  );
}

function invalid(problem: string): StateError {
  return new StateError('invalid_domain_name', `Invalid domain name: ${problem}.`);
}
