/**
 * Distinguished names: the one-attribute names the keyvault writes (a
 * common name or nothing) and the text form of any name it reads, such as
 * a CA's issuer name, for storage and display.
 */
import * as asn1js from 'asn1js';
import * as pkijs from 'pkijs';

const COMMON_NAME = '2.5.4.3';

/** RFC 4514 short names for the attributes public CAs use; others print as dotted OIDs. */
const SHORT_NAMES: Record<string, string> = {
  '2.5.4.3': 'CN',
  '2.5.4.5': 'serialNumber',
  '2.5.4.6': 'C',
  '2.5.4.7': 'L',
  '2.5.4.8': 'ST',
  '2.5.4.9': 'STREET',
  '2.5.4.10': 'O',
  '2.5.4.11': 'OU',
  '2.5.4.97': 'organizationIdentifier',
  '0.9.2342.19200300.100.1.1': 'UID',
  '0.9.2342.19200300.100.1.25': 'DC',
  '1.2.840.113549.1.9.1': 'emailAddress',
};

/** A name with one CN attribute, as UTF8String (RFC 5280 section 4.1.2.6). */
export function commonNameOnly(commonName: string): pkijs.RelativeDistinguishedNames {
  return new pkijs.RelativeDistinguishedNames({
    typesAndValues: [
      new pkijs.AttributeTypeAndValue({
        type: COMMON_NAME,
        value: new asn1js.Utf8String({ value: commonName }),
      }),
    ],
  });
}

/** The empty name; a certificate or CSR with it must carry its names in a critical SAN. */
export function emptyName(): pkijs.RelativeDistinguishedNames {
  return new pkijs.RelativeDistinguishedNames();
}

/**
 * A name as RFC 4514 text: most specific RDN first, `,` between RDNs and
 * `+` inside a multi-valued one, e.g. `CN=R11,O=Let's Encrypt,C=US`.
 * Values that are not strings print as `#` and their DER in hex.
 */
export function nameToText(name: pkijs.RelativeDistinguishedNames): string {
  return rdnSets(name)
    .map((set) => set.map(([oid, value]) => `${SHORT_NAMES[oid] ?? oid}=${value}`).join('+'))
    .reverse()
    .join(',');
}

/** The first CN of a name, unescaped, or null when it has none. */
export function commonNameOf(name: pkijs.RelativeDistinguishedNames): string | null {
  for (const attribute of name.typesAndValues) {
    if (attribute.type !== COMMON_NAME) continue;
    const value: unknown = attribute.value;
    if (value instanceof asn1js.BaseStringBlock) return value.getValue();
  }
  return null;
}

/** True when two names have the same DER, the comparison chain building needs. */
export function sameName(
  a: pkijs.RelativeDistinguishedNames,
  b: pkijs.RelativeDistinguishedNames,
): boolean {
  return Buffer.from(a.toSchema().toBER()).equals(Buffer.from(b.toSchema().toBER()));
}

// pkijs flattens a name into one list of attributes; the RDN sets (and so
// the "+" of RFC 4514) survive only in the ASN.1, so read that.
function rdnSets(name: pkijs.RelativeDistinguishedNames): [string, string][][] {
  return childrenOf(name.toSchema()).map((set) =>
    childrenOf(set).map((attribute): [string, string] => {
      const [type, value] = childrenOf(attribute);
      const oid = type instanceof asn1js.ObjectIdentifier ? type.getValue() : '?';
      return [oid, attributeText(value)];
    }),
  );
}

function childrenOf(block: asn1js.AsnType | undefined): asn1js.AsnType[] {
  return block instanceof asn1js.Constructed ? block.valueBlock.value : [];
}

function attributeText(value: asn1js.AsnType | undefined): string {
  if (value instanceof asn1js.BaseStringBlock) return escapeValue(value.getValue());
  if (value === undefined) return '#';
  return `#${Buffer.from(value.toBER()).toString('hex')}`;
}

// RFC 4514 section 2.4: escape the specials, a leading space or "#", a
// trailing space, and control characters.
function escapeValue(text: string): string {
  let escaped = text.replace(/[\\,+"<>;]/g, (special) => `\\${special}`);
  escaped = escaped.replace(/\p{Cc}/gu, (control) => {
    const hex = control.charCodeAt(0).toString(16).padStart(2, '0');
    return `\\${hex}`;
  });
  if (/^[ #]/.test(escaped)) escaped = `\\${escaped}`;
  if (escaped.length > 1 && escaped.endsWith(' ')) escaped = `${escaped.slice(0, -1)}\\ `;
  return escaped;
}
