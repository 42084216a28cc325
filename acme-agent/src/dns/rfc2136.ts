/**
 * The RFC 2136 DNS provider: adds and deletes the dns-01 TXT value with a
 * TSIG-signed (RFC 8945) dynamic UPDATE sent over TCP to the configured
 * primary server, finds the zone by SOA lookup there, and waits until every
 * authoritative server of the zone (its NS records) answers the value.
 *
 * Known gap: a CNAME at _acme-challenge (delegating the record to another
 * zone) is not followed; the record is written in the zone found by SOA.
 * Known gap: the name servers are polled over TCP only, so one that takes
 * DNS over UDP alone never counts as answering and the wait times out.
 */
import { promises as systemDns } from 'node:dns';
import type { Logger } from '@gatehouse/gateway/log';
import {
  DnsFormatError,
  OPCODE,
  RCODE,
  RRCLASS,
  RRTYPE,
  type Message,
  canonicalName,
  decodeAddress,
  decodeNameData,
  decodeTxt,
  encodeMessage,
  encodeTxt,
  rcodeName,
} from './message.js';
import { type DnsProvider, DnsProviderError } from './provider.js';
import { type Endpoint, DnsTransportError, exchange, formatEndpoint } from './transport.js';
import { type TsigKey, TsigError, newMessageId, signRequest, verifyResponse } from './tsig.js';

export interface Rfc2136Options {
  /** The primary server that takes updates (and answers the SOA lookup). */
  readonly server: Endpoint;
  readonly key: TsigKey;
  /** The zone to update; found by SOA lookup when not given. */
  readonly zone?: string | undefined;
  /** How long the zone's servers may take to answer the new value. */
  readonly propagationTimeoutMs: number;
  /** Port the zone's authoritative servers answer on (53 but in tests). */
  readonly nameserverPort: number;
  readonly log: Logger;
}

/** TTL of the challenge record: short, since it is gone within minutes. */
const RECORD_TTL = 60;
const POLL_START_MS = 250;
const POLL_MAX_MS = 4_000;

export class Rfc2136Provider implements DnsProvider {
  readonly description: string;

  constructor(private readonly options: Rfc2136Options) {
    this.description = `RFC 2136 update at ${formatEndpoint(options.server)} with TSIG key "${options.key.name}"`;
  }

  async present(fqdn: string, value: string): Promise<void> {
    const name = canonicalName(fqdn);
    const zone = await this.findZone(name);
    await this.update(zone, name, value, 'add');
    this.options.log.info('dns-01 record added', {
      record: name,
      zone,
      server: formatEndpoint(this.options.server),
    });
    await this.waitForPropagation(zone, name, value);
  }

  async cleanUp(fqdn: string, value: string): Promise<void> {
    const name = canonicalName(fqdn);
    const zone = await this.findZone(name);
    await this.update(zone, name, value, 'delete');
    this.options.log.info('dns-01 record removed', { record: name, zone });
  }

  /** The zone holding `name`: the closest enclosing name that has an SOA at the server. */
  async findZone(name: string): Promise<string> {
    if (this.options.zone !== undefined) {
      const zone = canonicalName(this.options.zone);
      if (!isWithin(name, zone)) {
        throw new DnsProviderError(
          'dns_zone_not_found',
          `${name} is not in the configured zone ${zone}`,
          'Set "zone" in the --acme-dns-rfc2136 file to the zone that holds this name, or remove it to look the zone up.',
        );
      }
      return zone;
    }
    const labels = name.split('.');
    for (let index = 0; index < labels.length; index += 1) {
      const candidate = labels.slice(index).join('.');
      const answer = await this.query(this.options.server, candidate, RRTYPE.SOA);
      const soa = answer.answers.find(
        (record) => record.type === RRTYPE.SOA && record.name === candidate,
      );
      if (answer.rcode === RCODE.NOERROR && soa) return candidate;
      // An authoritative "no such name" names its zone in the authority section.
      const authority = answer.authorities.find((record) => record.type === RRTYPE.SOA);
      if (answer.aa && authority && isWithin(name, authority.name)) return authority.name;
    }
    throw new DnsProviderError(
      'dns_zone_not_found',
      `${formatEndpoint(this.options.server)} is authoritative for no zone holding ${name}`,
      'Point "server" in the --acme-dns-rfc2136 file at the primary server of the zone, or set "zone".',
    );
  }

  /** RFC 2136 section 2.5.1 (add to an RRset) and 2.5.4 (delete an RR from an RRset). */
  private async update(
    zone: string,
    name: string,
    value: string,
    action: 'add' | 'delete',
  ): Promise<void> {
    const server = formatEndpoint(this.options.server);
    const message = encodeMessage({
      id: newMessageId(),
      qr: false,
      opcode: OPCODE.UPDATE,
      aa: false,
      tc: false,
      rd: false,
      ra: false,
      rcode: 0,
      questions: [{ name: zone, type: RRTYPE.SOA, class: RRCLASS.IN }],
      answers: [],
      authorities: [
        action === 'add'
          ? { name, type: RRTYPE.TXT, class: RRCLASS.IN, ttl: RECORD_TTL, data: encodeTxt([value]) }
          : { name, type: RRTYPE.TXT, class: RRCLASS.NONE, ttl: 0, data: encodeTxt([value]) },
      ],
      additionals: [],
    });
    const { signed, mac } = signRequest(message, this.options.key);
    const { raw, message: answer } = await this.guard(() => exchange(this.options.server, signed));
    const keyName = this.options.key.name;
    if (answer.additionals.some((record) => record.type === RRTYPE.TSIG)) {
      await this.guard(() => {
        verifyResponse(raw, this.options.key, mac);
        return Promise.resolve();
      });
    } else if (answer.rcode === RCODE.NOERROR) {
      throw new DnsProviderError(
        'dns_bad_answer',
        `${server} accepted the update to ${zone} without signing its answer`,
        'Make sure "server" is the zone\'s primary running a TSIG-capable server.',
      );
    }
    if (answer.rcode === RCODE.NOERROR) return;
    const rcode = rcodeName(answer.rcode);
    const what = `${server} answered ${rcode} to the update of ${name} in zone ${zone}`;
    if (answer.rcode === RCODE.REFUSED) {
      throw new DnsProviderError(
        'dns_update_refused',
        `${what}: the key "${keyName}" was refused`,
        `Allow updates by that key in the server's zone statement, e.g. for bind9: ` +
          `allow-update { key "${keyName}"; }; or an update-policy granting TXT at ${name}.`,
      );
    }
    if (answer.rcode === RCODE.NOTAUTH) {
      throw new DnsProviderError(
        'dns_update_refused',
        `${what}: the server is not authoritative for the zone or did not accept the key "${keyName}"`,
        'Point "server" at the primary of the zone and check "keyName", "algorithm" and "secret".',
      );
    }
    if (answer.rcode === RCODE.NOTZONE) {
      throw new DnsProviderError(
        'dns_update_failed',
        `${what}: ${name} is outside the zone`,
        'Set "zone" to the zone that holds the name, or remove it.',
      );
    }
    throw new DnsProviderError(
      'dns_update_failed',
      what,
      answer.rcode === RCODE.NOTIMP
        ? 'The server does not take dynamic updates (RFC 2136).'
        : undefined,
    );
  }

  /** Poll every authoritative server until each answers `value`, backing off, bounded in time. */
  private async waitForPropagation(zone: string, name: string, value: string): Promise<void> {
    const deadline = Date.now() + this.options.propagationTimeoutMs;
    const servers = await this.authoritativeServers(zone);
    const waiting = new Map(servers.map((server) => [formatEndpoint(server), server]));
    const last = new Map<string, string>();
    let wait = POLL_START_MS;
    for (;;) {
      for (const [label, server] of [...waiting]) {
        const seen = await this.query(server, name, RRTYPE.TXT)
          .then((answer) => {
            const values = answer.answers
              .filter((record) => record.type === RRTYPE.TXT && record.name === name)
              .map((record) => decodeTxt(record.data).join(''));
            return values.includes(value)
              ? undefined
              : `${rcodeName(answer.rcode)} with ${values.length} TXT values`;
          })
          .catch((error: unknown) => (error instanceof Error ? error.message : String(error)));
        if (seen === undefined) waiting.delete(label);
        else last.set(label, seen);
      }
      if (waiting.size === 0) {
        this.options.log.info('dns-01 record answered by every authoritative server', {
          record: name,
          servers: servers.map(formatEndpoint).join(','),
        });
        return;
      }
      // One last look at the deadline itself, then give up.
      if (Date.now() >= deadline) {
        const pending = [...waiting.keys()].map(
          (label) => `${label} (last: ${last.get(label) ?? 'none'})`,
        );
        throw new DnsProviderError(
          'dns_propagation_timeout',
          `gave up after ${Math.round(this.options.propagationTimeoutMs / 1000)} s waiting for ` +
            `${pending.join(', ')} to answer the TXT record at ${name}`,
          'Check that the zone\'s secondaries get NOTIFY and transfers from the primary, or raise "propagationTimeout".',
        );
      }
      await new Promise((resolve) => setTimeout(resolve, Math.min(wait, deadline - Date.now())));
      wait = Math.min(wait * 2, POLL_MAX_MS);
    }
  }

  /** The zone's NS hosts and their addresses; the configured server when it lists none. */
  private async authoritativeServers(zone: string): Promise<Endpoint[]> {
    const answer = await this.query(this.options.server, zone, RRTYPE.NS);
    const hosts = answer.message.answers
      .filter((record) => record.type === RRTYPE.NS && record.name === zone)
      .map((record) => decodeNameData(answer.raw, record));
    if (hosts.length === 0) return [this.options.server];
    const endpoints: Endpoint[] = [];
    for (const host of hosts) {
      const addresses = await this.addresses(host);
      if (addresses.length === 0) {
        throw new DnsProviderError(
          'dns_bad_answer',
          `the name server ${host} of zone ${zone} has no address`,
          `Give ${host} an A or AAAA record.`,
        );
      }
      for (const address of addresses)
        endpoints.push({ host: address, port: this.options.nameserverPort });
    }
    return endpoints;
  }

  /** Addresses of a name server: from the configured server when it holds them, else the system resolver. */
  private async addresses(host: string): Promise<string[]> {
    const found: string[] = [];
    for (const type of [RRTYPE.A, RRTYPE.AAAA]) {
      const answer = await this.query(this.options.server, host, type).catch(() => undefined);
      for (const record of answer?.answers ?? []) {
        if (record.type === type && record.name === host) found.push(decodeAddress(record));
      }
    }
    if (found.length > 0) return found;
    const looked = await systemDns.lookup(host, { all: true }).catch(() => []);
    return looked.map((entry) => entry.address);
  }

  private query(
    server: Endpoint,
    name: string,
    type: number,
  ): Promise<Message & { message: Message; raw: Uint8Array }> {
    const query = encodeMessage({
      id: newMessageId(),
      qr: false,
      opcode: OPCODE.QUERY,
      aa: false,
      tc: false,
      rd: false,
      ra: false,
      rcode: 0,
      questions: [{ name, type, class: RRCLASS.IN }],
      answers: [],
      authorities: [],
      additionals: [],
    });
    return this.guard(async () => {
      const { raw, message } = await exchange(server, query);
      return { ...message, message, raw };
    });
  }

  /** Turn the lower layers' errors into provider errors that say what to fix. */
  private async guard<T>(step: () => Promise<T>): Promise<T> {
    try {
      return await step();
    } catch (error) {
      if (error instanceof TsigError) {
        const clock = error.code === 'tsig_badtime';
        throw new DnsProviderError(
          clock ? 'dns_clock_skew' : 'dns_key_refused',
          `the TSIG key was refused: ${error.message}`,
          clock
            ? "Synchronise this machine's clock and the DNS server's (NTP)."
            : `Copy the key statement for "${this.options.key.name}" from the server (tsig-keygen prints one) into ` +
                'the --acme-dns-rfc2136 file: "keyName", "algorithm" and "secret" must match it.',
        );
      }
      if (error instanceof DnsTransportError) {
        throw new DnsProviderError(
          error.code === 'dns_unreachable' || error.code === 'dns_timeout'
            ? 'dns_unreachable'
            : 'dns_bad_answer',
          error.message,
          error.code === 'dns_unreachable'
            ? 'Check "server" (host:port) and that it takes DNS over TCP.'
            : undefined,
        );
      }
      if (error instanceof DnsFormatError) {
        throw new DnsProviderError('dns_bad_answer', `a malformed DNS answer: ${error.message}`);
      }
      throw error;
    }
  }
}

function isWithin(name: string, zone: string): boolean {
  return zone === '' || name === zone || name.endsWith(`.${zone}`);
}
