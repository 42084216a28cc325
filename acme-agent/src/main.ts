/**
 * The acme-agent process: the only process that talks to a certificate
 * authority (RFC 8555). It keeps every domain in state.db certified,
 * asking the keyvault for every signature, key and CSR; it holds no
 * private key and writes no file. Its configuration comes from the
 * supervisor's environment: the CA's directory URL, an extra root for the
 * CA's HTTPS, and the account's contact address.
 */
import { type AcmeEvent, startChild } from '@gatehouse/gateway/ipc';
import { CertificateAgent } from './agent.js';
import type { ChallengeType } from './order.js';
import { httpClient } from './acme/http.js';
import { RETRY_SCHEDULE_ENV, parseRetrySchedule } from './retry-schedule.js';

const runtime = startChild('acme-agent');
const log = runtime.log;
const directoryUrl =
  process.env.GATEHOUSE_ACME_DIRECTORY ?? 'https://acme-v02.api.letsencrypt.org/directory';
const trust = process.env.GATEHOUSE_ACME_TRUST_PEM;
const email = process.env.GATEHOUSE_ACME_EMAIL;
const challengeTypes = (process.env.GATEHOUSE_ACME_CHALLENGES ?? 'tls-alpn-01,http-01')
  .split(',')
  .filter((type): type is ChallengeType => type === 'tls-alpn-01' || type === 'http-01');
let retrySchedule: number[] | undefined;
try {
  const value = process.env[RETRY_SCHEDULE_ENV];
  if (value !== undefined) retrySchedule = parseRetrySchedule(value);
} catch (error) {
  log.error('ignoring the retry schedule; using the default (10 s, 30 s, 1 min, ...)', { error });
}

const agent = new CertificateAgent({
  directoryUrl,
  email,
  http: httpClient(trust ? { extraRootsPem: trust } : {}),
  ask: (type, payload) => runtime.channel.request(type, payload),
  emit: function emitAcmeEvent(event: AcmeEvent) {
    runtime.channel.emit('acme.event', event);
  },
  log: log.child('acme'),
  challengeTypes,
  ...(retrySchedule ? { retrySchedule } : {}),
});

runtime.channel.handle('acme.domains-changed', function domainsChanged() {
  void agent.reconcile();
  return {};
});
runtime.onShutdown(async function stopAgent() {
  agent.stop();
  await Promise.resolve();
});

log.info('acme-agent started', { issuer: directoryUrl });
runtime.ready();
void agent.reconcile();
