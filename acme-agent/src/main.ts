/**
 * The acme-agent process: the only process that talks to a certificate
 * authority (RFC 8555). It keeps every domain in state.db certified,
 * asking the keyvault for every signature, key and CSR; it holds no
 * private key and writes no file. Its configuration comes from the
 * supervisor's environment: the list of CAs (GATEHOUSE_ACME_ISSUERS, see
 * issuers.ts), or one CA's directory URL, an extra root for its HTTPS and
 * the account's contact address.
 */
import { type AcmeEvent, startChild } from '@gatehouse/gateway/ipc';
import { CertificateAgent } from './agent.js';
import type { ChallengeType } from './order.js';
import { dnsProviderFromEnvironment } from './dns/from-environment.js';
import { issuerStates, issuersFromEnvironment } from './issuers.js';
import { RETRY_SCHEDULE_ENV, parseRetrySchedule } from './retry-schedule.js';

const runtime = startChild('acme-agent');
const log = runtime.log;
const issuers = issuerStates(issuersFromEnvironment(process.env));
const first = issuers[0];
if (!first) throw new Error('no ACME issuer configured');
const challengeTypes = (process.env.GATEHOUSE_ACME_CHALLENGES ?? 'tls-alpn-01,http-01')
  .split(',')
  .filter(
    (type): type is ChallengeType =>
      type === 'tls-alpn-01' || type === 'http-01' || type === 'dns-01',
  );
const dnsProvider = dnsProviderFromEnvironment(process.env, log.child('dns'));
let retrySchedule: number[] | undefined;
try {
  const value = process.env[RETRY_SCHEDULE_ENV];
  if (value !== undefined) retrySchedule = parseRetrySchedule(value);
} catch (error) {
  log.error('ignoring the retry schedule; using the default (10 s, 30 s, 1 min, ...)', { error });
}

const agent = new CertificateAgent({
  directoryUrl: first.config.directoryUrl,
  email: first.config.email,
  http: first.http,
  issuers,
  ask: (type, payload) => runtime.channel.request(type, payload),
  emit: function emitAcmeEvent(event: AcmeEvent) {
    runtime.channel.emit('acme.event', event);
  },
  log: log.child('acme'),
  challengeTypes,
  dnsProvider,
  ...(retrySchedule ? { retrySchedule } : {}),
});

runtime.channel.handle('acme.domains-changed', function domainsChanged() {
  void agent.reconcile();
  return {};
});
// The operator's account operations and revocations, forwarded by the supervisor only.
runtime.channel.handle('acme.account', (request) => agent.accounts.describe(request));
runtime.channel.handle('acme.account-update', (request) => agent.accounts.updateContact(request));
runtime.channel.handle('acme.account-key-change', (request) => agent.accounts.changeKey(request));
runtime.channel.handle('acme.account-deactivate', (request) => agent.accounts.deactivate(request));
runtime.channel.handle('acme.certificate-revoke', (request) => agent.revoke(request));
runtime.onShutdown(async function stopAgent() {
  agent.stop();
  await Promise.resolve();
});

log.info('acme-agent started', {
  dns_provider: dnsProvider?.description ?? 'none',
  issuers: issuers.map((issuer) => issuer.config.directoryUrl).join(', '),
});
runtime.ready();
void agent.reconcile();
