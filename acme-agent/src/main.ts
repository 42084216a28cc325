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

const runtime = startChild('acme-agent');
const log = runtime.log;
const directoryUrl =
  process.env.GATEHOUSE_ACME_DIRECTORY ?? 'https://acme-v02.api.letsencrypt.org/directory';
const trust = process.env.GATEHOUSE_ACME_TRUST_PEM;
const email = process.env.GATEHOUSE_ACME_EMAIL;
const challengeTypes = (process.env.GATEHOUSE_ACME_CHALLENGES ?? 'tls-alpn-01,http-01')
  .split(',')
  .filter((type): type is ChallengeType => type === 'tls-alpn-01' || type === 'http-01');

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

log.info('acme-agent started', { issuer: directoryUrl });
runtime.ready();
void agent.reconcile();
