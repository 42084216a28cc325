/**
 * The settings of `gatehouse run`, from flags and the environment, checked
 * before anything starts.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { AcmeIssuer } from '../ipc/acme-issuers.js';
import { isLevel, type Level } from '../log/logger.js';
import { readDnsRfc2136File } from './dns-rfc2136-file.js';
import { loadAcmeIssuers } from './acme-issuers.js';

export interface RunOptions {
  dataDir: string;
  httpsPort: number;
  httpPort: number;
  /** Addresses to listen on; both IPv4 and IPv6 by default. */
  bind: string[];
  workers: number;
  logLevel: Level;
  /** File mode of the control socket. */
  controlMode: number;
  /** Close a connection that has sent no whole ClientHello in this time. */
  helloTimeoutMs: number;
  /** The ACME CA's directory URL (RFC 8555 section 7.1.1). */
  acmeDirectory: string;
  /** A PEM file of an extra root for the CA's own HTTPS (Pebble needs one), already read. */
  acmeTrust: string | undefined;
  /** Contact for the ACME account. */
  acmeEmail: string | undefined;
  /** Challenge types the acme-agent answers, in order of preference. */
  acmeChallenges: AcmeChallengeType[];
  /** The checked RFC 2136 DNS provider settings (JSON, holds the TSIG secret), for dns-01. */
  acmeDnsRfc2136?: string;
  /** `--acme-issuers`: the CAs to try in order; absent when the one-issuer flags are used. */
  acmeIssuers?: AcmeIssuer[];
}

export const ACME_CHALLENGE_TYPES = ['tls-alpn-01', 'http-01', 'dns-01'] as const;
export type AcmeChallengeType = (typeof ACME_CHALLENGE_TYPES)[number];
/** Without --acme-challenge; wildcards use dns-01 whenever a DNS provider is set. */
const DEFAULT_CHALLENGES: AcmeChallengeType[] = ['tls-alpn-01', 'http-01'];

/** Let's Encrypt production and staging, by name. */
export const ACME_DIRECTORIES: Readonly<Record<string, string>> = {
  letsencrypt: 'https://acme-v02.api.letsencrypt.org/directory',
  'letsencrypt-staging': 'https://acme-staging-v02.api.letsencrypt.org/directory',
};

export class OptionError extends Error {
  readonly code = 'invalid_option';
  constructor(message: string) {
    super(message);
    this.name = 'OptionError';
  }
}

export interface RawRunOptions {
  data?: string | undefined;
  'https-port'?: string | undefined;
  'http-port'?: string | undefined;
  bind?: string[] | undefined;
  workers?: string | undefined;
  'log-level'?: string | undefined;
  'control-mode'?: string | undefined;
  'hello-timeout'?: string | undefined;
  'acme-directory'?: string | undefined;
  'acme-trust'?: string | undefined;
  'acme-email'?: string | undefined;
  'acme-challenge'?: string | undefined;
  'acme-dns-rfc2136'?: string | undefined;
  'acme-issuers'?: string | undefined;
}

export function resolveRunOptions(
  raw: RawRunOptions,
  env: NodeJS.ProcessEnv = process.env,
): RunOptions {
  const root = process.getuid?.() === 0;
  const logLevel = raw['log-level'] ?? env.GATEHOUSE_LOG_LEVEL ?? 'info';
  if (!isLevel(logLevel)) {
    throw new OptionError(
      `--log-level must be one of debug, info, warn, error (got "${logLevel}")`,
    );
  }

  const httpsPort = port('--https-port', raw['https-port'], root ? 443 : 8443);
  const httpPort = port('--http-port', raw['http-port'], root ? 80 : 8080);
  if (httpsPort === httpPort) {
    throw new OptionError(`--https-port and --http-port must differ (both are ${httpsPort})`);
  }

  const dnsFile = raw['acme-dns-rfc2136'];
  const acmeChallenges = challenges(raw['acme-challenge'] ?? env.GATEHOUSE_ACME_CHALLENGE);
  if (acmeChallenges.includes('dns-01') && dnsFile === undefined) {
    throw new OptionError(
      '--acme-challenge dns-01 needs a DNS provider: add --acme-dns-rfc2136 FILE (see README)',
    );
  }
  const issuersFile = raw['acme-issuers'];
  if (issuersFile !== undefined) {
    const shorthand = [
      ...(['acme-directory', 'acme-trust', 'acme-email'] as const)
        .filter((flag) => raw[flag] !== undefined)
        .map((flag) => `--${flag}`),
      ...['GATEHOUSE_ACME_DIRECTORY', 'GATEHOUSE_ACME_TRUST', 'GATEHOUSE_ACME_EMAIL'].filter(
        (name) => env[name] !== undefined,
      ),
    ];
    if (shorthand.length > 0) {
      throw new OptionError(
        `--acme-issuers cannot be combined with ${shorthand.join(', ')}: ` +
          'put the CA in the issuers file ("directory", "trust", "email"), or drop --acme-issuers',
      );
    }
  }

  return {
    dataDir: path.resolve(raw.data ?? env.GATEHOUSE_DATA ?? './data'),
    httpsPort,
    httpPort,
    bind: raw.bind && raw.bind.length > 0 ? raw.bind.map(address) : ['0.0.0.0', '::'],
    workers: integer('--workers', raw.workers, Math.max(1, os.availableParallelism()), 1, 64),
    logLevel,
    controlMode: mode(raw['control-mode']),
    helloTimeoutMs: integer('--hello-timeout', raw['hello-timeout'], 10, 1, 300) * 1000,
    acmeDirectory: acmeDirectory(raw['acme-directory'] ?? env.GATEHOUSE_ACME_DIRECTORY),
    acmeTrust: pemFile('--acme-trust', raw['acme-trust'] ?? env.GATEHOUSE_ACME_TRUST),
    acmeEmail: email(raw['acme-email'] ?? env.GATEHOUSE_ACME_EMAIL),
    acmeChallenges,
    ...(dnsFile === undefined ? {} : { acmeDnsRfc2136: readDnsRfc2136File(dnsFile) }),
    ...(issuersFile === undefined ? {} : { acmeIssuers: loadAcmeIssuers(issuersFile) }),
  };
}

function challenges(text: string | undefined): AcmeChallengeType[] {
  if (text === undefined) return [...DEFAULT_CHALLENGES];
  const types = text.split(',').map((item) => item.trim());
  const known = (type: string): type is AcmeChallengeType =>
    (ACME_CHALLENGE_TYPES as readonly string[]).includes(type);
  if (types.length === 0 || !types.every(known) || new Set(types).size !== types.length) {
    throw new OptionError(
      `--acme-challenge takes ${ACME_CHALLENGE_TYPES.join(' and/or ')}, comma-separated in ` +
        `order of preference (got "${text}")`,
    );
  }
  return types;
}

function acmeDirectory(text: string | undefined): string {
  const value = ACME_DIRECTORIES[text ?? 'letsencrypt'] ?? text ?? '';
  let url: URL | undefined;
  try {
    url = new URL(value);
  } catch {
    url = undefined;
  }
  if (url?.protocol !== 'https:' || value.length > 2048) {
    throw new OptionError(
      `--acme-directory takes an https URL of an ACME directory, or one of ` +
        `${Object.keys(ACME_DIRECTORIES).join(', ')} (got "${value}")`,
    );
  }
  return value;
}

function pemFile(flag: string, file: string | undefined): string | undefined {
  if (file === undefined) return undefined;
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (error) {
    throw new OptionError(
      `${flag} ${file} cannot be read (${(error as NodeJS.ErrnoException).code ?? 'error'}); ` +
        'give a PEM file of the root certificate to trust',
    );
  }
  if (!text.includes('-----BEGIN CERTIFICATE-----') || text.length > 256 * 1024) {
    throw new OptionError(`${flag} ${file} holds no PEM certificate; give the CA's root as PEM`);
  }
  return text;
}

function email(text: string | undefined): string | undefined {
  if (text === undefined || text === '') return undefined;
  if (!/^[^\s@<>,;:"]{1,64}@[A-Za-z0-9.-]{1,253}$/.test(text)) {
    throw new OptionError(`--acme-email takes one address such as ops@example.com (got "${text}")`);
  }
  return text;
}

function port(flag: string, text: string | undefined, fallback: number): number {
  return integer(flag, text, fallback, 1, 65535);
}

function integer(
  flag: string,
  text: string | undefined,
  fallback: number,
  min: number,
  max: number,
): number {
  if (text === undefined) return fallback;
  const value = Number(text);
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(value) || value < min || value > max) {
    throw new OptionError(`${flag} must be a whole number from ${min} to ${max} (got "${text}")`);
  }
  return value;
}

function address(text: string): string {
  const ipv4 = /^(25[0-5]|2[0-4]\d|1?\d?\d)(\.(25[0-5]|2[0-4]\d|1?\d?\d)){3}$/;
  if (ipv4.test(text) || (text.includes(':') && /^[0-9a-fA-F:.]+$/.test(text))) return text;
  throw new OptionError(`--bind takes an IP address such as 127.0.0.1 or ::1 (got "${text}")`);
}

function mode(text: string | undefined): number {
  if (text === undefined) return 0o600;
  if (!/^0?[0-7]{3}$/.test(text)) {
    throw new OptionError(
      `--control-mode must be an octal file mode such as 600 or 660 (got "${text}")`,
    );
  }
  return Number.parseInt(text, 8);
}
