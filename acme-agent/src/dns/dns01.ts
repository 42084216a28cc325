/**
 * dns-01 in the order flow (RFC 8555 section 8.4): the TXT record that
 * answers one challenge, published through the configured DNS provider
 * and removed when the authorization is settled, whatever happened.
 */
import type { Logger } from '@gatehouse/gateway/log';
import type { AcmeIdentifier } from '../acme/api.js';
import { type DnsProvider, dns01RecordName, dns01Value } from './provider.js';

export interface Dns01Answer {
  /** Publish, and resolve once every authoritative server answers it. */
  install(): Promise<{ record: string; provider: string }>;
  /** Remove the value; never rejects (a failure is logged: the record stays in DNS). */
  remove(): Promise<void>;
}

export function dns01Answer(
  provider: DnsProvider,
  identifier: AcmeIdentifier,
  keyAuthorization: string,
  log: Logger,
): Dns01Answer {
  const record = dns01RecordName(identifier.value);
  const value = dns01Value(keyAuthorization);
  return {
    async install() {
      await provider.present(record, value);
      return { record, provider: provider.description };
    },
    async remove() {
      await provider.cleanUp(record, value).catch((error: unknown) => {
        log.warn('could not remove a dns-01 TXT record; it stays until removed by hand', {
          record,
          provider: provider.description,
          error: error instanceof Error ? error.message : String(error),
        });
      });
    },
  };
}
