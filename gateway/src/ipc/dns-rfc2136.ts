/**
 * The RFC 2136 DNS provider's settings (`gatehouse run --acme-dns-rfc2136
 * FILE`): the supervisor reads and checks the file, and hands the checked
 * JSON to the acme-agent in GATEHOUSE_ACME_DNS_RFC2136 (the agent reads no
 * file), which checks it again with this same schema. It holds the TSIG
 * secret: never log it, echo it in an error, or put it on a command line.
 */
import { z } from 'zod';

export const DNS_RFC2136_ENV = 'GATEHOUSE_ACME_DNS_RFC2136';

export const TSIG_ALGORITHM_NAMES = ['hmac-sha256', 'hmac-sha384', 'hmac-sha512'] as const;

const hostName =
  /^(?=.{1,253}$)[A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?(\.[A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?)*\.?$/;

/** "host:port" or "[v6]:port"; a bare host means port 53. */
function parseServer(text: string): { host: string; port: number } | undefined {
  const match =
    /^\[([0-9A-Fa-f:.]+)\](?::(\d{1,5}))?$/.exec(text) ?? /^([^:[\]]+)(?::(\d{1,5}))?$/.exec(text);
  const host = match?.[1];
  const port = Number(match?.[2] ?? '53');
  if (host === undefined || !(port >= 1 && port <= 65_535)) return undefined;
  if (!text.startsWith('[') && !hostName.test(host)) return undefined;
  return { host, port };
}

/** zod's error option: say "is missing" for an absent field, else what it must be. */
function required(what: string): (issue: { input?: unknown }) => string {
  return (issue) => (issue.input === undefined ? `is missing; it ${what}` : what);
}

export const dnsRfc2136Config = z
  .object({
    server: z
      .string({
        error: required('must be the primary server as "host:port", e.g. "ns1.example.com:53"'),
      })
      .refine((text) => parseServer(text) !== undefined, {
        error: 'must be "host:port" (or "[IPv6]:port"), e.g. "ns1.example.com:53"',
      }),
    keyName: z.string({ error: required('must be the TSIG key name, a string') }).regex(hostName, {
      error: 'must be the TSIG key name as in the server\'s key "NAME" statement',
    }),
    algorithm: z
      .enum(TSIG_ALGORITHM_NAMES, { error: `must be one of ${TSIG_ALGORITHM_NAMES.join(', ')}` })
      .default('hmac-sha256'),
    // The value is never echoed: zod's messages here are our own.
    secret: z
      .string({ error: required('must be the base64 TSIG secret, a string') })
      .refine((text) => /^[A-Za-z0-9+/]+={0,2}$/.test(text) && text.length % 4 === 0, {
        error: 'must be base64, as tsig-keygen prints it',
      })
      .refine((text) => Buffer.from(text, 'base64').length >= 16, {
        error: 'is shorter than 16 bytes; make a new key with tsig-keygen -a hmac-sha256 NAME',
      }),
    zone: z
      .string({ error: 'must be a zone name, a string' })
      .regex(hostName, { error: 'must be a zone name such as example.com' })
      .optional(),
    propagationTimeout: z
      .number({ error: 'must be a number of seconds' })
      .int({ error: 'must be a whole number of seconds' })
      .min(5, { error: 'must be at least 5 seconds' })
      .max(3_600, { error: 'must be at most 3600 seconds' })
      .default(120),
    nameserverPort: z
      .number({ error: 'must be a port number' })
      .int({ error: 'must be a port number' })
      .min(1, { error: 'must be a port number from 1 to 65535' })
      .max(65_535, { error: 'must be a port number from 1 to 65535' })
      .default(53),
  })
  .strict();

export type DnsRfc2136Config = z.infer<typeof dnsRfc2136Config>;

/** The config's server as host and port; undefined only if the schema was skipped. */
export function rfc2136Server(config: DnsRfc2136Config): { host: string; port: number } {
  const server = parseServer(config.server);
  if (!server) throw new Error('server is not "host:port"');
  return server;
}

/**
 * Check parsed JSON; the error names each wrong field and how to fix it,
 * and never holds a value from the input.
 */
export function parseDnsRfc2136Config(
  value: unknown,
): { ok: true; config: DnsRfc2136Config } | { ok: false; problems: string[] } {
  const parsed = dnsRfc2136Config.safeParse(value);
  if (parsed.success) return { ok: true, config: parsed.data };
  return {
    ok: false,
    problems: parsed.error.issues.map((issue) => {
      if (issue.code === 'unrecognized_keys') {
        return `unknown field(s) ${issue.keys.map((key) => `"${key}"`).join(', ')}: the fields are server, keyName, algorithm, secret, zone, propagationTimeout, nameserverPort`;
      }
      const field = issue.path.join('.') || '(the file)';
      return issue.path.length === 0
        ? 'must be a JSON object { "server", "keyName", "algorithm", "secret" }'
        : `"${field}" ${issue.message === 'Invalid input' ? 'is missing or wrong' : issue.message}`;
    }),
  };
}
