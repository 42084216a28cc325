/**
 * The master key: 32 random bytes that seal every private key in the vault
 * and that are never stored in it. It comes from the environment variable
 * GATEHOUSE_MASTER_KEY when that is set, else from `<data>/master.key`,
 * which the first start creates (mode 0600). The bytes live only in a
 * `KeyObject`; what may be shown is the key id, a short fingerprint that
 * lets an error say which key a vault expects without revealing it.
 *
 * Accepted forms, in the variable and in the file alike: base64 (standard
 * or URL-safe, padding optional) or hex of exactly 32 bytes, surrounding
 * whitespace ignored. The file may also hold the 32 raw bytes. A file the
 * keyvault creates holds base64 and a newline.
 */
import {
  createHmac,
  createSecretKey,
  randomBytes,
  randomUUID,
  timingSafeEqual,
  type KeyObject,
} from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { inspect } from 'node:util';

export const MASTER_KEY_ENV = 'GATEHOUSE_MASTER_KEY';
export const MASTER_KEY_FILE = 'master.key';
/** A key written by a rotation before its commit; see rotateMasterKeyFile in vault.ts. */
export const STAGED_MASTER_KEY_FILE = 'master.key.new';
export const MASTER_KEY_BYTES = 32;

const KEY_ID_LABEL = 'gatehouse master key id';
const FORMS = `${MASTER_KEY_BYTES} bytes in base64 (44 characters) or hex (64 characters)`;

export type MasterKeySource =
  { kind: 'env'; variable: typeof MASTER_KEY_ENV } | { kind: 'file'; path: string };

export type MasterKeyErrorCode =
  | 'master_key_missing'
  | 'master_key_invalid'
  | 'master_key_unsafe_permissions'
  | 'master_key_unreadable'
  | 'master_key_write_failed'
  | 'master_key_wrong'
  | 'master_key_rotation_refused';

export class MasterKeyError extends Error {
  constructor(
    readonly code: MasterKeyErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'MasterKeyError';
  }
}

/** A master key and where it came from. Printing or serialising it shows only id and source. */
export class MasterKey {
  /** 16 hex digits: the first 8 bytes of HMAC-SHA256(key, "gatehouse master key id"). */
  readonly id: string;

  private constructor(
    readonly secret: KeyObject,
    readonly source: MasterKeySource,
  ) {
    this.id = createHmac('sha256', secret).update(KEY_ID_LABEL).digest('hex').slice(0, 16);
  }

  /** Takes a copy of `bytes` (32 of them) and zeroes the caller's buffer. */
  static fromBytes(bytes: Buffer, source: MasterKeySource): MasterKey {
    if (bytes.length !== MASTER_KEY_BYTES) {
      throw new MasterKeyError(
        'master_key_invalid',
        `The master key from ${describeSource(source)} has ${bytes.length} bytes; ` +
          `it must have ${MASTER_KEY_BYTES}.`,
      );
    }
    const key = new MasterKey(createSecretKey(bytes), source);
    bytes.fill(0);
    return key;
  }

  static generate(source: MasterKeySource): MasterKey {
    return MasterKey.fromBytes(randomBytes(MASTER_KEY_BYTES), source);
  }

  /** Whether both hold the same bytes (compared in constant time). */
  equals(other: MasterKey): boolean {
    const mine = this.secret.export();
    const theirs = other.secret.export();
    try {
      return timingSafeEqual(mine, theirs);
    } finally {
      mine.fill(0);
      theirs.fill(0);
    }
  }

  toJSON(): { id: string; source: MasterKeySource } {
    return { id: this.id, source: this.source };
  }

  [inspect.custom](): string {
    return `MasterKey { id: '${this.id}', source: '${describeSource(this.source)}' }`;
  }
}

export function describeSource(source: MasterKeySource): string {
  return source.kind === 'env'
    ? `the environment variable ${source.variable}`
    : `the file ${source.path}`;
}

export interface LoadMasterKeyOptions {
  dataDir: string;
  /** Where GATEHOUSE_MASTER_KEY is read; `process.env` by default. */
  env?: Record<string, string | undefined>;
  /**
   * Whether a missing key file may be created. The caller allows it only for
   * a vault that holds no master key check yet: a vault sealed under a key
   * that is now missing must stop, not get a new key beside it.
   */
  create: boolean;
}

export interface LoadedMasterKey {
  key: MasterKey;
  /** True when this call created `<data>/master.key`. */
  created: boolean;
}

/**
 * The master key from GATEHOUSE_MASTER_KEY if set (even to an empty value,
 * which is refused), else from `<data>/master.key`. Returns undefined when
 * neither exists and `create` is false.
 */
export function loadMasterKey(options: LoadMasterKeyOptions): LoadedMasterKey | undefined {
  const env = options.env ?? process.env;
  const fromEnv = env[MASTER_KEY_ENV];
  if (fromEnv !== undefined) {
    const source: MasterKeySource = { kind: 'env', variable: MASTER_KEY_ENV };
    return { key: parseMasterKey(fromEnv, source), created: false };
  }

  const file = path.join(options.dataDir, MASTER_KEY_FILE);
  const existing = readMasterKeyFile(file);
  if (existing) return { key: existing, created: false };
  if (!options.create) return undefined;

  const created = createMasterKeyFile(file);
  return { key: created.key, created: created.created };
}

/** Parses the text forms (base64, base64url, hex of 32 bytes). */
export function parseMasterKey(text: string, source: MasterKeySource): MasterKey {
  const bytes = decodeKeyText(text.trim());
  if (!bytes) {
    throw new MasterKeyError(
      'master_key_invalid',
      `The master key in ${describeSource(source)} is not ${FORMS}. ` +
        `Give one of those forms (for example the output of \`openssl rand -base64 32\`), ` +
        (source.kind === 'env'
          ? `or unset ${MASTER_KEY_ENV} to use the key file in the data directory.`
          : 'or move the file away if this is a new vault.'),
    );
  }
  return MasterKey.fromBytes(bytes, source);
}

/**
 * Reads a key file, or returns undefined if there is none. Refuses a file
 * that others than its owner may read or write, and anything that is not a
 * regular file (a symlink is not followed: whoever can swap it could pick
 * the key).
 */
export function readMasterKeyFile(file: string): MasterKey | undefined {
  const source: MasterKeySource = { kind: 'file', path: file };
  let fd: number;
  try {
    fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return undefined;
    throw unreadable(file, error, code === 'ELOOP' ? 'it is a symbolic link' : undefined);
  }

  try {
    const stat = fs.fstatSync(fd);
    if (!stat.isFile()) throw unreadable(file, undefined, 'it is not a regular file');
    if ((stat.mode & 0o077) !== 0) {
      throw new MasterKeyError(
        'master_key_unsafe_permissions',
        `The master key file ${file} has mode ${octal(stat.mode & 0o777)}, ` +
          `so other users may read or change it; the keyvault refuses to use it. ` +
          `Make it private to its owner (chmod 600 ${file}) and start again; ` +
          `if others may have read it, rotate the master key.`,
      );
    }
    const content = fs.readFileSync(fd);
    try {
      if (content.length === MASTER_KEY_BYTES) return MasterKey.fromBytes(content, source);
      return parseMasterKey(content.toString('latin1'), source);
    } finally {
      content.fill(0);
    }
  } catch (error) {
    if (error instanceof MasterKeyError) throw error;
    throw unreadable(file, error);
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Writes `key` to `file` without ever showing a partial file under that
 * name: the bytes go to a private temporary file first, which link(2) then
 * puts in place. link fails if the name exists, so of two starts racing to
 * create the key exactly one wins and the other reads the winner's key.
 * Returns false (and writes nothing) when the file already exists.
 */
export function writeMasterKeyFile(file: string, key: MasterKey): boolean {
  const temporary = `${file}.${process.pid}.${randomUUID()}.tmp`;
  const text = Buffer.from(`${key.secret.export().toString('base64')}\n`, 'latin1');
  try {
    const fd = fs.openSync(temporary, 'wx', 0o600);
    try {
      fs.fchmodSync(fd, 0o600);
      fs.writeSync(fd, text);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    try {
      fs.linkSync(temporary, file);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
      throw error;
    }
    syncDirectory(path.dirname(file));
    return true;
  } catch (error) {
    throw new MasterKeyError(
      'master_key_write_failed',
      `Could not write the master key file ${file}: ${(error as Error).message}. ` +
        `Check that the data directory exists and is writable by this user.`,
      { cause: error },
    );
  } finally {
    text.fill(0);
    fs.rmSync(temporary, { force: true });
  }
}

/** Replaces `to` with `from` atomically and makes the rename durable. */
export function replaceMasterKeyFile(from: string, to: string): void {
  try {
    fs.renameSync(from, to);
    syncDirectory(path.dirname(to));
  } catch (error) {
    throw new MasterKeyError(
      'master_key_write_failed',
      `Could not move the master key file ${from} to ${to}: ${(error as Error).message}. ` +
        `Move it by hand (mv ${from} ${to}) before the next start.`,
      { cause: error },
    );
  }
}

/** fsync of a directory, so that a new or renamed entry survives a power loss. */
export function syncDirectory(directory: string): void {
  const fd = fs.openSync(directory, 'r');
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

function createMasterKeyFile(file: string): LoadedMasterKey {
  const key = MasterKey.generate({ kind: 'file', path: file });
  if (writeMasterKeyFile(file, key)) return { key, created: true };

  // Another start created it between our read and our link: use theirs.
  const theirs = readMasterKeyFile(file);
  if (!theirs) throw unreadable(file, undefined, 'it vanished while it was being created');
  return { key: theirs, created: false };
}

function decodeKeyText(text: string): Buffer | undefined {
  if (/^[0-9a-fA-F]{64}$/.test(text)) return Buffer.from(text, 'hex');

  // Buffer.from(_, 'base64') skips characters it does not know, so check the
  // alphabet first and the round trip after (it catches stray low bits).
  const match = /^([A-Za-z0-9+/]{43}|[A-Za-z0-9_-]{43})=?$/.exec(text);
  if (!match?.[1]) return undefined;
  const bytes = Buffer.from(
    match[1],
    match[1].includes('-') || match[1].includes('_') ? 'base64url' : 'base64',
  );
  const again = bytes.toString('base64').slice(0, 43);
  const canonical = match[1].replaceAll('-', '+').replaceAll('_', '/');
  if (bytes.length !== MASTER_KEY_BYTES || again !== canonical) {
    bytes.fill(0);
    return undefined;
  }
  return bytes;
}

function octal(mode: number): string {
  return mode.toString(8).padStart(4, '0');
}

function unreadable(file: string, cause: unknown, why?: string): MasterKeyError {
  const reason = why ?? (cause instanceof Error ? cause.message : 'unknown error');
  return new MasterKeyError(
    'master_key_unreadable',
    `Cannot read the master key file ${file}: ${reason}. ` +
      `It must be a regular file owned by the user running Gatehouse, mode 0600; ` +
      `or set ${MASTER_KEY_ENV} instead.`,
    { cause },
  );
}
