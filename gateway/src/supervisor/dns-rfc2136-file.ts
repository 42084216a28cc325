/**
 * Reads `--acme-dns-rfc2136 FILE` at start: the TSIG key and server of the
 * RFC 2136 DNS provider that answers dns-01. The file holds a secret, so a
 * file that group or others may read is refused (like ssh does with keys),
 * and no error here quotes its contents.
 */
import fs from 'node:fs';
import { parseDnsRfc2136Config } from '../ipc/dns-rfc2136.js';
import { OptionError } from './options.js';

const MAX_BYTES = 64 * 1024;

/** The checked settings as JSON text, for the acme-agent's environment. */
export function readDnsRfc2136File(file: string): string {
  const flag = `--acme-dns-rfc2136 ${file}`;
  let text: string;
  let mode: number;
  try {
    const stat = fs.statSync(file);
    if (!stat.isFile() || stat.size > MAX_BYTES) {
      throw new OptionError(
        `${flag} is not a regular file under 64 KiB; give the JSON settings file`,
      );
    }
    mode = stat.mode & 0o777;
    text = fs.readFileSync(file, 'utf8');
  } catch (error) {
    if (error instanceof OptionError) throw error;
    throw new OptionError(
      `${flag} cannot be read (${(error as NodeJS.ErrnoException).code ?? 'error'}); give the JSON ` +
        'file with "server", "keyName", "algorithm" and "secret"',
    );
  }
  if ((mode & 0o077) !== 0) {
    throw new OptionError(
      `${flag} holds a TSIG secret but its mode is ${mode.toString(8).padStart(3, '0')}, so other ` +
        `users may read it; run chmod 600 ${file}`,
    );
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    // JSON.parse's message quotes the text around the error, which may be the secret.
    throw new OptionError(
      `${flag} is not valid JSON; it must be one object such as ` +
        '{ "server": "ns1.example.com:53", "keyName": "...", "algorithm": "hmac-sha256", "secret": "..." }',
    );
  }
  const parsed = parseDnsRfc2136Config(value);
  if (!parsed.ok) throw new OptionError(`${flag}: ${parsed.problems.join('; ')}`);
  return JSON.stringify(parsed.config);
}
