/**
 * PEM text (RFC 7468) to DER and back, for certificates and CSRs. Parsing
 * is strict inside a block and ignores text between blocks, as RFC 7468
 * section 5.2 allows; callers decide how many blocks of which label fit.
 */

export type PemLabel = 'CERTIFICATE' | 'CERTIFICATE REQUEST';

export interface PemBlock {
  readonly label: string;
  readonly der: Buffer;
}

export class PemError extends Error {
  readonly code = 'pem_invalid';

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'PemError';
  }
}

/** DER as PEM: base64 in 64-column lines, ending in a newline. */
export function toPem(label: PemLabel, der: Uint8Array): string {
  const base64 = Buffer.from(der.buffer, der.byteOffset, der.byteLength).toString('base64');
  const lines = base64.match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----\n`;
}

/** Every PEM block in `text`, in order. Throws `PemError` for a broken block. */
export function parsePem(text: string): PemBlock[] {
  const blocks: PemBlock[] = [];
  const pattern = /-----BEGIN ([A-Z0-9 ]+)-----([^-]*)-----END ([A-Z0-9 ]+)-----/g;

  for (const match of text.matchAll(pattern)) {
    const [, label = '', body = '', endLabel] = match;
    if (endLabel !== label) {
      throw new PemError(`A PEM block begins as "${label}" but ends as "${endLabel}".`);
    }

    const base64 = body.replace(/\s+/g, '');
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(base64) || base64.length % 4 !== 0) {
      throw new PemError(`A PEM "${label}" block holds text that is not base64.`);
    }
    blocks.push({ label, der: Buffer.from(base64, 'base64') });
  }

  // A BEGIN line without its END line would otherwise vanish silently.
  const begins = text.match(/-----BEGIN /g)?.length ?? 0;
  if (begins !== blocks.length) {
    throw new PemError('A PEM block is cut short: a "-----BEGIN" line has no matching END line.');
  }
  return blocks;
}
