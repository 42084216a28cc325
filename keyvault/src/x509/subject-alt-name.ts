/**
 * The subjectAltName extension (RFC 5280 section 4.2.1.6), where a
 * certificate names what it is for: ACME identifiers become dNSName and
 * iPAddress entries (RFC 8738 section 3), and come back out of them.
 */
import * as asn1js from 'asn1js';
import * as pkijs from 'pkijs';
import {
  type Identifier,
  IdentifierError,
  formatIpAddress,
  ipAddressBytes,
  normalizeDnsName,
} from './identifiers.js';

export const SUBJECT_ALT_NAME = '2.5.29.17';

// GeneralName CHOICE tags, RFC 5280 section 4.2.1.6.
const RFC822_NAME = 1;
const DNS_NAME = 2;
const URI = 6;
const IP_ADDRESS = 7;

/** What a SAN holds, split into ACME identifiers and everything else (as text, for reports). */
export interface SubjectAltNames {
  readonly identifiers: Identifier[];
  readonly others: string[];
}

/**
 * A SAN extension for normalized identifiers. It must be critical when the
 * subject is empty, since then it is the only place the names are.
 */
export function subjectAltNameExtension(
  identifiers: readonly Identifier[],
  critical: boolean,
): pkijs.Extension {
  const names = identifiers.map((identifier) =>
    identifier.type === 'dns'
      ? new pkijs.GeneralName({ type: DNS_NAME, value: identifier.value })
      : new pkijs.GeneralName({
          type: IP_ADDRESS,
          value: new asn1js.OctetString({ valueHex: ipAddressBytes(identifier.value) }),
        }),
  );
  return new pkijs.Extension({
    extnID: SUBJECT_ALT_NAME,
    critical,
    extnValue: new pkijs.GeneralNames({ names }).toSchema().toBER(false),
  });
}

/**
 * The names in a certificate's SAN extension, or none if it has no SAN.
 * Throws if the extension's bytes are not GeneralNames.
 */
export function subjectAltNamesOf(certificate: pkijs.Certificate): SubjectAltNames {
  const extension = certificate.extensions?.find((item) => item.extnID === SUBJECT_ALT_NAME);
  if (!extension) return { identifiers: [], others: [] };

  const names = pkijs.GeneralNames.fromBER(extension.extnValue.getValue()).names;
  const identifiers: Identifier[] = [];
  const others: string[] = [];
  for (const name of names) {
    const identifier = identifierOf(name);
    if (typeof identifier === 'string') others.push(identifier);
    else identifiers.push(identifier);
  }
  return { identifiers, others };
}

// An entry that is not a valid ACME identifier comes back as text such as
// "email:a@example.com" or "dns:bad_name", so a report can show it.
function identifierOf(name: pkijs.GeneralName): Identifier | string {
  const value: unknown = name.value;

  if (name.type === DNS_NAME && typeof value === 'string') {
    try {
      return { type: 'dns', value: normalizeDnsName(value) };
    } catch (error) {
      if (error instanceof IdentifierError) return `dns:${value}`;
      throw error;
    }
  }
  if (name.type === IP_ADDRESS && value instanceof asn1js.OctetString) {
    const bytes = value.getValue();
    if (bytes.byteLength === 4 || bytes.byteLength === 16) {
      return { type: 'ip', value: formatIpAddress(new Uint8Array(bytes)) };
    }
    return `ip:#${Buffer.from(bytes).toString('hex')}`;
  }
  if (name.type === RFC822_NAME && typeof value === 'string') return `email:${value}`;
  if (name.type === URI && typeof value === 'string') return `uri:${value}`;
  return `other:[${name.type}]`;
}
