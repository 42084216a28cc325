/**
 * The keyvault process. It holds every private key Gatehouse has, sealed
 * at rest in `<data>/vault.db` under the master key (GATEHOUSE_MASTER_KEY
 * or `<data>/master.key`), and does all signing: ACME JWS, CSRs,
 * tls-alpn-01 certificates, the local CA. It opens no network socket and
 * answers only the supervisor, which lets each role ask only what the
 * allow-list in gateway/src/ipc/keyvault-messages.ts names. No answer ever
 * holds an ACME account private key.
 *
 * It fails closed and loud: a vault it cannot open (a wrong or missing
 * master key) stops it with the reason, and nothing is written.
 */
import { startChild } from '@gatehouse/gateway/ipc';
import { KeyVault } from './operations.js';
import { openVaultStore, rotateMasterKeyFile, type OpenedVault } from './vault.js';

const runtime = startChild('keyvault');
const log = runtime.log;
const dataDir = process.env.GATEHOUSE_DATA;
if (!dataDir) {
  log.error('GATEHOUSE_DATA is not set: the keyvault is started by "gatehouse run", not by hand');
  process.exit(2);
}

const opened = openOrStop(dataDir);
if (opened) serve(opened, dataDir);

/** Open the vault, or log why not and exit (the supervisor restarts us with backoff). */
function openOrStop(dir: string): OpenedVault | undefined {
  try {
    return openVaultStore({ dataDir: dir });
  } catch (error) {
    log.error('cannot open the vault; nothing was changed', {
      error: error instanceof Error ? error : String(error),
    });
    // Give the record time to reach the supervisor before exiting.
    setTimeout(() => process.exit(1), 100);
    return undefined;
  }
}

function serve(opened: OpenedVault, dir: string): void {
  const { store } = opened;
  const vault = new KeyVault(store);
  if (opened.createdKeyFile) {
    log.warn('created a new master key file; back it up: without it the vault cannot be opened', {
      path: `${dir}/master.key`,
      master_key_id: store.masterKeyId,
    });
  }
  if (opened.recoveredRotation) {
    log.warn('found a master key rotation cut short and recovered it', {
      outcome: opened.recoveredRotation,
    });
  }

  const { channel } = runtime;
  channel.handle('keyvault.account-key', (request) => vault.accountKey(request));
  channel.handle('keyvault.sign-jws', (request) => vault.signJws(request));
  channel.handle('keyvault.key-change', (request) => vault.keyChange(request));
  channel.handle('keyvault.key-change-done', (request) => vault.keyChangeDone(request));
  channel.handle('keyvault.external-account-binding', (request) =>
    vault.externalAccountBinding(request),
  );
  channel.handle('keyvault.csr', (request) => vault.csr(request));
  channel.handle('keyvault.challenge-certificate', (request) =>
    vault.challengeCertificate(request),
  );
  channel.handle('keyvault.challenge-bundle', (request) => vault.challengeBundle(request));
  channel.handle('keyvault.store-chain', (request) => vault.storeChain(request));
  channel.handle('keyvault.bundle', (request) => vault.bundle(request));
  channel.handle('keyvault.certificates', () => vault.certificates());
  channel.handle('keyvault.certificate-chain', (request) => vault.certificateChain(request));
  channel.handle('keyvault.certificate-revoked', (request) => vault.certificateRevoked(request));
  channel.handle('keyvault.import-certificate', (request) => vault.importCertificate(request));
  channel.handle('keyvault.delete-certificate', (request) => vault.deleteCertificate(request));
  channel.handle('keyvault.ca-root', () => vault.caRoot());
  channel.handle('keyvault.rotate-master-key', () => {
    const { resealed } = rotateMasterKeyFile(store, dir);
    log.warn('rotated the master key; back up the new master.key: the old one opens nothing now', {
      master_key_id: store.masterKeyId,
      resealed,
    });
    return { masterKeyId: store.masterKeyId, resealed };
  });

  runtime.onShutdown(() => {
    store.close();
    return Promise.resolve();
  });

  log.info('keyvault ready', { vault: store.path, master_key_id: store.masterKeyId });
  runtime.ready();
}
