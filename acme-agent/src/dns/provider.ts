/**
 * What dns-01 (RFC 8555 section 8.4) needs from a DNS provider, and the
 * record it asks for. The order flow knows only this interface; RFC 2136
 * dynamic update (rfc2136.ts) is the one provider shipped.
 */
import { createHash } from 'node:crypto';

/**
 * Publishes and removes one TXT value at one name.
 *
 * Contract:
 * - `present(fqdn, value)` adds `value` to the TXT records at `fqdn`
 *   (others already there stay: a name and its wildcard share one record
 *   name) and resolves only once every authoritative server of the zone
 *   answers it, since the CA may ask any of them; it rejects with a
 *   DnsProviderError after the provider's own time limit.
 * - `cleanUp(fqdn, value)` removes exactly that value; removing a value
 *   that is not there succeeds. The order flow calls it after every
 *   `present`, whether that succeeded or not.
 * - Neither ever puts a secret (key, token) in an error or a log record.
 */
export interface DnsProvider {
  /** For logs and events: where the records go, never a secret. */
  readonly description: string;
  present(fqdn: string, value: string): Promise<void>;
  cleanUp(fqdn: string, value: string): Promise<void>;
}

export type DnsProviderErrorCode =
  | 'dns_zone_not_found'
  | 'dns_update_refused'
  | 'dns_update_failed'
  | 'dns_key_refused'
  | 'dns_clock_skew'
  | 'dns_unreachable'
  | 'dns_bad_answer'
  | 'dns_propagation_timeout';

/** The provider could not do its part; `action` tells the operator what to fix. */
export class DnsProviderError extends Error {
  constructor(
    readonly code: DnsProviderErrorCode,
    message: string,
    readonly action?: string,
  ) {
    super(message);
    this.name = 'DnsProviderError';
  }
}

/** Section 8.4: the TXT record lives at "_acme-challenge." + the identifier (wildcard label removed). */
export function dns01RecordName(identifier: string): string {
  return `_acme-challenge.${identifier.replace(/^\*\./, '').replace(/\.$/, '')}`;
}

/** Section 8.4: the TXT value is base64url(SHA-256(key authorization)), unpadded. */
export function dns01Value(keyAuthorization: string): string {
  return createHash('sha256').update(keyAuthorization, 'utf8').digest('base64url');
}
