/**
 * `gatehouse run --acme-issuers FILE`: the ordered list of certificate
 * authorities, read and checked by the supervisor before anything starts.
 * Each refusal names the field and says how to fix it; the External
 * Account Binding HMAC key is a secret and never appears in a message.
 * The result goes to the acme-agent as JSON in its environment.
 */
import fs from 'node:fs';
import path from 'node:path';
import {
  type AcmeIssuer,
  DEFAULT_MAX_CONCURRENT_ORDERS,
  DEFAULT_NEW_ORDER_LIMIT,
} from '../ipc/acme-issuers.js';
import { ACME_DIRECTORIES, OptionError } from './options.js';

const ISSUER_FIELDS = [
  'directory',
  'email',
  'externalAccountBinding',
  'trust',
  'preferredChain',
  'profile',
  'maxConcurrentOrders',
  'newOrders',
] as const;

const EXAMPLE =
  '{ "issuers": [ { "directory": "letsencrypt" }, ' +
  '{ "directory": "https://acme.example/dir", "externalAccountBinding": ' +
  '{ "keyId": "...", "hmacKey": "..." } } ] }';

type Json = Record<string, unknown>;

/** What fits in one environment variable of the acme-agent, with room to spare. */
const MAX_ENV_BYTES = 120 * 1024;

/** Read, parse and check an issuers file; throws OptionError saying what to fix. */
export function loadAcmeIssuers(file: string): AcmeIssuer[] {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (error) {
    throw new OptionError(
      `--acme-issuers ${file} cannot be read (${(error as NodeJS.ErrnoException).code ?? 'error'}); ` +
        'give a JSON file such as ' +
        EXAMPLE,
    );
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    // V8's message may quote the text near the fault, which may hold an HMAC key: keep
    // only what comes before the quote ("Unexpected token ']'", "... at position 7").
    const reason = ((error as Error).message.split(/, (?:\.\.\.)?"/)[0] ?? '').slice(0, 120);
    const safe = reason.includes('"') ? '' : ` (${reason})`;
    throw new OptionError(
      `--acme-issuers ${file} is not valid JSON${safe}; ` +
        'fix the syntax (double quotes, no trailing commas)',
    );
  }
  const issuers = parseAcmeIssuers(json, path.dirname(path.resolve(file)), file);
  // Linux refuses to start a process with one environment string over 128 KiB (E2BIG).
  const size = Buffer.byteLength(JSON.stringify(issuers));
  if (size > MAX_ENV_BYTES) {
    throw new OptionError(
      `--acme-issuers ${file}: the list with its trust files is ${Math.ceil(size / 1024)} KiB, ` +
        `more than the ${MAX_ENV_BYTES / 1024} KiB the acme-agent can be given; ` +
        'give each "trust" only the root its CA needs, not a whole bundle',
    );
  }
  return issuers;
}

/** Check parsed JSON; `baseDir` resolves relative `trust` paths. */
export function parseAcmeIssuers(json: unknown, baseDir: string, file = 'the file'): AcmeIssuer[] {
  const fail = (field: string, fix: string): never => {
    throw new OptionError(`--acme-issuers ${file}: ${field} ${fix}`);
  };
  if (!isObject(json)) return fail('(top level)', `must be an object such as ${EXAMPLE}`);
  for (const key of Object.keys(json)) {
    if (key !== 'issuers') fail(key, 'is not a known field; the file holds only "issuers"');
  }
  const list = json.issuers;
  if (!Array.isArray(list) || list.length === 0 || list.length > 20) {
    return fail('issuers', 'must be a list of 1 to 20 issuers, tried in order');
  }
  const seen = new Set<string>();
  return list.map((item: unknown, index) => {
    const at = `issuers[${index}]`;
    if (!isObject(item)) return fail(at, 'must be an object with at least "directory"');
    for (const key of Object.keys(item)) {
      if (!(ISSUER_FIELDS as readonly string[]).includes(key)) {
        fail(`${at}.${key}`, `is not a known field; known: ${ISSUER_FIELDS.join(', ')}`);
      }
    }
    const directoryUrl = directory(item.directory, `${at}.directory`, fail);
    if (seen.has(directoryUrl)) {
      fail(
        `${at}.directory`,
        `repeats ${directoryUrl}; the account is per directory, so list each CA once`,
      );
    }
    seen.add(directoryUrl);
    const issuer: AcmeIssuer = {
      directoryUrl,
      maxConcurrentOrders: wholeNumber(
        item.maxConcurrentOrders,
        `${at}.maxConcurrentOrders`,
        DEFAULT_MAX_CONCURRENT_ORDERS,
        1,
        1000,
        fail,
      ),
      newOrderLimit: newOrders(item.newOrders, `${at}.newOrders`, fail),
    };
    if (item.email !== undefined) {
      if (
        typeof item.email !== 'string' ||
        !/^[^\s@<>,;:"]{1,64}@[A-Za-z0-9.-]{1,253}$/.test(item.email)
      ) {
        fail(`${at}.email`, 'must be one address such as "ops@example.com"');
      }
      issuer.email = item.email as string;
    }
    if (item.externalAccountBinding !== undefined) {
      issuer.externalAccountBinding = eab(
        item.externalAccountBinding,
        `${at}.externalAccountBinding`,
        fail,
      );
    }
    if (item.trust !== undefined) issuer.trustPem = trust(item.trust, `${at}.trust`, baseDir, fail);
    for (const field of ['preferredChain', 'profile'] as const) {
      const value = item[field];
      if (value === undefined) continue;
      const max = field === 'profile' ? 64 : 256;
      if (typeof value !== 'string' || value.length === 0 || value.length > max) {
        fail(
          `${at}.${field}`,
          field === 'profile'
            ? `must be a profile name the CA lists in its directory's meta.profiles (1 to ${max} characters)`
            : `must be the common name of a root, e.g. "ISRG Root X1" (1 to ${max} characters)`,
        );
      }
      issuer[field] = value as string;
    }
    return issuer;
  });
}

type Fail = (field: string, fix: string) => never;

function directory(value: unknown, field: string, fail: Fail): string {
  if (value === undefined) {
    return fail(field, `is missing; give an https directory URL or ${names()}`);
  }
  const url = typeof value === 'string' ? (ACME_DIRECTORIES[value] ?? value) : '';
  let parsed: URL | undefined;
  try {
    parsed = new URL(url);
  } catch {
    parsed = undefined;
  }
  if (parsed?.protocol !== 'https:' || url.length > 2048) {
    return fail(field, `must be an https URL of an ACME directory, or ${names()}`);
  }
  return url;
}

function names(): string {
  return Object.keys(ACME_DIRECTORIES)
    .map((name) => `"${name}"`)
    .join(' or ');
}

function wholeNumber(
  value: unknown,
  field: string,
  fallback: number,
  min: number,
  max: number,
  fail: Fail,
): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    return fail(field, `must be a whole number from ${min} to ${max}`);
  }
  return value;
}

function newOrders(value: unknown, field: string, fail: Fail): AcmeIssuer['newOrderLimit'] {
  if (value === undefined) return { ...DEFAULT_NEW_ORDER_LIMIT };
  if (!isObject(value)) {
    return fail(field, 'must be an object such as { "orders": 300, "periodSeconds": 10800 }');
  }
  for (const key of Object.keys(value)) {
    if (key !== 'orders' && key !== 'periodSeconds') {
      fail(`${field}.${key}`, 'is not a known field; known: orders, periodSeconds');
    }
  }
  return {
    orders: wholeNumber(
      value.orders,
      `${field}.orders`,
      DEFAULT_NEW_ORDER_LIMIT.orders,
      1,
      1_000_000,
      fail,
    ),
    periodSeconds: wholeNumber(
      value.periodSeconds,
      `${field}.periodSeconds`,
      DEFAULT_NEW_ORDER_LIMIT.periodSeconds,
      1,
      31_536_000,
      fail,
    ),
  };
}

function eab(
  value: unknown,
  field: string,
  fail: Fail,
): NonNullable<AcmeIssuer['externalAccountBinding']> {
  if (!isObject(value)) {
    return fail(field, 'must be an object { "keyId": ..., "hmacKey": ... } as the CA gave them');
  }
  for (const key of Object.keys(value)) {
    if (key !== 'keyId' && key !== 'hmacKey') {
      fail(`${field}.${key}`, 'is not a known field; known: keyId, hmacKey');
    }
  }
  const { keyId, hmacKey } = value;
  if (typeof keyId !== 'string' || keyId.length === 0 || keyId.length > 256) {
    fail(`${field}.keyId`, 'must be the key identifier the CA gave (1 to 256 characters)');
  }
  // Never echo the key: say only what shape it must have.
  if (
    typeof hmacKey !== 'string' ||
    hmacKey.length === 0 ||
    hmacKey.length > 512 ||
    !/^[A-Za-z0-9_-]+$/.test(hmacKey)
  ) {
    fail(
      `${field}.hmacKey`,
      'must be the HMAC key the CA gave, base64url (A-Z a-z 0-9 - _, no padding), ' +
        'up to 512 characters (its value is not shown)',
    );
  }
  return { keyId: keyId, hmacKey: hmacKey };
}

function trust(value: unknown, field: string, baseDir: string, fail: Fail): string {
  if (typeof value !== 'string' || value.length === 0) {
    return fail(field, "must be the path of a PEM file holding the CA's root");
  }
  const file = path.resolve(baseDir, value);
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (error) {
    return fail(
      field,
      `${file} cannot be read (${(error as NodeJS.ErrnoException).code ?? 'error'}); ` +
        "give a PEM file of the CA's root",
    );
  }
  if (!text.includes('-----BEGIN CERTIFICATE-----') || text.length > 256 * 1024) {
    return fail(field, `${file} holds no PEM certificate; give the CA's root as PEM`);
  }
  return text;
}

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
