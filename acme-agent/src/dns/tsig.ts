/**
 * TSIG (RFC 8945): the shared-secret signature on an RFC 2136 UPDATE and
 * the check of the signature on the server's answer. Only HMAC-SHA-256,
 * -384 and -512 are offered (RFC 8945 section 6 makes SHA-256 the one to
 * implement; MD5 and SHA-1 are not worth adding). The secret stays in this
 * module's KeyObject: no error or message here ever carries it.
 */
import {
  createHmac,
  createSecretKey,
  type KeyObject,
  randomInt,
  timingSafeEqual,
} from 'node:crypto';
import {
  DnsFormatError,
  RRCLASS,
  RRTYPE,
  canonicalName,
  decodeMessage,
  decodeName,
  encodeName,
  encodeRecord,
} from './message.js';

export const TSIG_ALGORITHMS = {
  'hmac-sha256': 'sha256',
  'hmac-sha384': 'sha384',
  'hmac-sha512': 'sha512',
} as const;
export type TsigAlgorithm = keyof typeof TSIG_ALGORITHMS;

/** TSIG error codes (RFC 8945 section 5.3 and RFC 2845). */
export const TSIG_ERROR = { BADSIG: 16, BADKEY: 17, BADTIME: 18, BADTRUNC: 22 } as const;

/** Seconds of clock difference a signature may have (RFC 8945 section 10 recommends 300). */
const FUDGE_SECONDS = 300;

export interface TsigKey {
  /** The key's name, as in the server's `key "NAME" { ... }`. */
  readonly name: string;
  readonly algorithm: TsigAlgorithm;
  readonly secret: KeyObject;
}

export function tsigKey(name: string, algorithm: TsigAlgorithm, secretBase64: string): TsigKey {
  return {
    name: canonicalName(name),
    algorithm,
    secret: createSecretKey(Buffer.from(secretBase64, 'base64')),
  };
}

/** The server's TSIG answer was missing, wrong or an error; `code` says which. */
export class TsigError extends Error {
  constructor(
    readonly code:
      'tsig_missing' | 'tsig_badsig' | 'tsig_badkey' | 'tsig_badtime' | 'tsig_mismatch',
    message: string,
  ) {
    super(message);
    this.name = 'TsigError';
  }
}

interface TsigFields {
  readonly algorithm: string;
  readonly timeSigned: number;
  readonly fudge: number;
  readonly mac: Uint8Array;
  readonly originalId: number;
  readonly error: number;
  readonly other: Uint8Array;
}

/**
 * Sign `message` (already encoded, no TSIG yet) as a request: the TSIG
 * record is appended and ARCOUNT raised (section 4.2). Returns the MAC too,
 * which the answer's signature covers.
 */
export function signRequest(
  message: Uint8Array,
  key: TsigKey,
  nowSeconds: number = Math.floor(Date.now() / 1000),
): { signed: Uint8Array; mac: Uint8Array } {
  const id = (message[0] ?? 0) * 256 + (message[1] ?? 0);
  const fields: TsigFields = {
    algorithm: key.algorithm,
    timeSigned: nowSeconds,
    fudge: FUDGE_SECONDS,
    mac: new Uint8Array(0),
    originalId: id,
    error: 0,
    other: new Uint8Array(0),
  };
  const mac = computeMac(key, [message], fields);
  const record = encodeRecord({
    name: key.name,
    type: RRTYPE.TSIG,
    class: RRCLASS.ANY,
    ttl: 0,
    data: encodeTsigData({ ...fields, mac }),
  });
  const signed = Buffer.concat([message, record]);
  signed.writeUInt16BE(signed.readUInt16BE(10) + 1, 10);
  return { signed, mac };
}

/**
 * Check the TSIG on an answer to a request we signed with `requestMac`
 * (section 5.3): it must be the last record, name our key and algorithm,
 * carry a MAC over the request's MAC and the answer, and be signed within
 * the fudge of our clock. A TSIG error from the server (BADSIG, BADKEY,
 * BADTIME) is thrown as such, since it comes unsigned.
 */
export function verifyResponse(
  response: Uint8Array,
  key: TsigKey,
  requestMac: Uint8Array,
  nowSeconds: number = Math.floor(Date.now() / 1000),
): void {
  const decoded = decodeMessage(response);
  const last = decoded.additionals.at(-1);
  if (last?.type !== RRTYPE.TSIG || last.offset === undefined) {
    throw new TsigError(
      'tsig_missing',
      'the DNS server answered the signed update without a TSIG signature; it may not know TSIG keys at all',
    );
  }
  if (decoded.additionals.slice(0, -1).some((record) => record.type === RRTYPE.TSIG)) {
    throw new DnsFormatError('the answer has a TSIG record that is not the last one');
  }
  const fields = decodeTsigData(last.data);
  if (fields.error === TSIG_ERROR.BADKEY) {
    throw new TsigError(
      'tsig_badkey',
      `the DNS server refused the TSIG key "${key.name}" (BADKEY): it has no key of that name and ` +
        `algorithm ${key.algorithm}; check "keyName" and "algorithm" against the server's key statement`,
    );
  }
  if (fields.error === TSIG_ERROR.BADSIG) {
    throw new TsigError(
      'tsig_badsig',
      `the DNS server refused the TSIG key "${key.name}" (BADSIG): the signature does not match, ` +
        `so "secret" differs from the server's secret for that key`,
    );
  }
  if (fields.error === TSIG_ERROR.BADTIME) {
    throw new TsigError(
      'tsig_badtime',
      `the DNS server refused the signature's time (BADTIME): this machine's clock and the ` +
        `server's differ by more than ${FUDGE_SECONDS} s; fix the clock (NTP)`,
    );
  }
  if (canonicalName(last.name) !== key.name || canonicalName(fields.algorithm) !== key.algorithm) {
    throw new TsigError(
      'tsig_mismatch',
      `the answer is signed with key "${last.name}" (${fields.algorithm}), not "${key.name}" (${key.algorithm})`,
    );
  }
  if (fields.error !== 0) {
    throw new TsigError('tsig_mismatch', `the answer carries TSIG error ${fields.error}`);
  }
  // The MAC covers the answer as it was before the TSIG was added (section 4.3.3).
  const unsigned = Buffer.from(response.subarray(0, last.offset));
  unsigned.writeUInt16BE(fields.originalId, 0);
  unsigned.writeUInt16BE(unsigned.readUInt16BE(10) - 1, 10);
  const prefix = Buffer.alloc(2);
  prefix.writeUInt16BE(requestMac.length, 0);
  const expected = computeMac(key, [prefix, requestMac, unsigned], fields);
  if (fields.mac.length !== expected.length || !timingSafeEqual(fields.mac, expected)) {
    throw new TsigError(
      'tsig_badsig',
      `the DNS server's answer is not signed with the key "${key.name}": the answer may have been ` +
        'altered on the way, or the server holds a different secret under that name',
    );
  }
  if (Math.abs(nowSeconds - fields.timeSigned) > fields.fudge) {
    throw new TsigError(
      'tsig_badtime',
      `the DNS server signed its answer ${nowSeconds - fields.timeSigned} s away from this machine's clock; fix the clock (NTP)`,
    );
  }
}

/** HMAC over `parts` and the TSIG variables (section 4.3.3), always in canonical form. */
function computeMac(key: TsigKey, parts: readonly Uint8Array[], fields: TsigFields): Buffer {
  const hmac = createHmac(TSIG_ALGORITHMS[key.algorithm], key.secret);
  for (const part of parts) hmac.update(part);
  const variables = Buffer.alloc(16);
  variables.writeUInt16BE(RRCLASS.ANY, 0);
  variables.writeUInt32BE(0, 2);
  hmac.update(encodeName(key.name));
  hmac.update(variables.subarray(0, 6));
  hmac.update(encodeName(canonicalName(fields.algorithm)));
  const tail = Buffer.alloc(12);
  tail.writeUIntBE(fields.timeSigned, 0, 6);
  tail.writeUInt16BE(fields.fudge, 6);
  tail.writeUInt16BE(fields.error, 8);
  tail.writeUInt16BE(fields.other.length, 10);
  hmac.update(tail);
  hmac.update(fields.other);
  return hmac.digest();
}

function encodeTsigData(fields: TsigFields): Uint8Array {
  const middle = Buffer.alloc(10);
  middle.writeUIntBE(fields.timeSigned, 0, 6);
  middle.writeUInt16BE(fields.fudge, 6);
  middle.writeUInt16BE(fields.mac.length, 8);
  const end = Buffer.alloc(6);
  end.writeUInt16BE(fields.originalId, 0);
  end.writeUInt16BE(fields.error, 2);
  end.writeUInt16BE(fields.other.length, 4);
  return Buffer.concat([encodeName(fields.algorithm), middle, fields.mac, end, fields.other]);
}

function decodeTsigData(data: Uint8Array): TsigFields {
  const buffer = Buffer.from(data);
  const { name: algorithm, end } = decodeName(buffer, 0);
  const need = (bytes: number): void => {
    if (buffer.length < bytes) throw new DnsFormatError('a TSIG record is cut short');
  };
  need(end + 10);
  const macSize = buffer.readUInt16BE(end + 8);
  const macEnd = end + 10 + macSize;
  need(macEnd + 6);
  const otherSize = buffer.readUInt16BE(macEnd + 4);
  if (macEnd + 6 + otherSize !== buffer.length)
    throw new DnsFormatError('a TSIG record has the wrong size');
  return {
    algorithm,
    timeSigned: buffer.readUIntBE(end, 6),
    fudge: buffer.readUInt16BE(end + 6),
    mac: buffer.subarray(end + 10, macEnd),
    originalId: buffer.readUInt16BE(macEnd),
    error: buffer.readUInt16BE(macEnd + 2),
    other: buffer.subarray(macEnd + 6, macEnd + 6 + otherSize),
  };
}

/** A fresh random message id (RFC 5452: ids must not be guessable). */
export function newMessageId(): number {
  return randomInt(0, 0x10000);
}
