/**
 * The DNS provider the supervisor configured, read from the acme-agent's
 * environment (GATEHOUSE_ACME_DNS_RFC2136, checked by the supervisor from
 * `--acme-dns-rfc2136 FILE`), or none. The variable is deleted once read,
 * so nothing this process starts inherits the TSIG secret.
 *
 * Known gap: deleting it does not scrub /proc/PID/environ, where root and
 * the user running Gatehouse (`ps e`) can still read the secret.
 */
import { DNS_RFC2136_ENV, parseDnsRfc2136Config, rfc2136Server } from '@gatehouse/gateway/ipc';
import type { Logger } from '@gatehouse/gateway/log';
import type { DnsProvider } from './provider.js';
import { Rfc2136Provider } from './rfc2136.js';
import { tsigKey } from './tsig.js';

/** The settings in the environment are not what the supervisor should have passed. */
export class DnsSettingsError extends Error {
  readonly code = 'dns_settings_invalid';
  constructor(message: string) {
    super(message);
    this.name = 'DnsSettingsError';
  }
}

export function dnsProviderFromEnvironment(
  env: NodeJS.ProcessEnv,
  log: Logger,
): DnsProvider | undefined {
  const text = env[DNS_RFC2136_ENV];
  if (text === undefined) return undefined;
  Reflect.deleteProperty(env, DNS_RFC2136_ENV);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new DnsSettingsError(`${DNS_RFC2136_ENV} is not JSON`);
  }
  const parsed = parseDnsRfc2136Config(value);
  if (!parsed.ok) {
    throw new DnsSettingsError(`${DNS_RFC2136_ENV}: ${parsed.problems.join('; ')}`);
  }
  const { config } = parsed;
  return new Rfc2136Provider({
    server: rfc2136Server(config),
    key: tsigKey(config.keyName, config.algorithm, config.secret),
    zone: config.zone,
    propagationTimeoutMs: config.propagationTimeout * 1000,
    nameserverPort: config.nameserverPort,
    log,
  });
}
