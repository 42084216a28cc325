import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ChallengeSpec } from '../ipc/acme-messages.js';
import { ChallengeError, WorkerChallenges, type ChallengeBundle } from './challenges.js';
import { makeSelfSigned } from './self-signed.js';

const served = makeSelfSigned({ dns: ['alpn.example.test'], ips: [] });
const bundle: ChallengeBundle = { certificatePem: served.certPem, keyPem: served.keyPem };

function tlsAlpn(value: string, type: 'dns' | 'ip' = 'dns'): ChallengeSpec {
  return { type: 'tls-alpn-01', identifier: { type, value } };
}
function http(token: string): ChallengeSpec {
  return { type: 'http-01', token, keyAuthorization: `${token}.thumbprint` };
}

/** A keyvault that answers when the test says so. */
function slowKeyvault() {
  const waiting: ((value: ChallengeBundle) => void)[] = [];
  return {
    fetch: () => new Promise<ChallengeBundle>((resolve) => waiting.push(resolve)),
    release(value: ChallengeBundle = bundle) {
      waiting.shift()?.(value);
    },
  };
}

describe('WorkerChallenges', () => {
  it('serves http-01 tokens and tls-alpn-01 certificates until they are removed', async () => {
    const challenges = new WorkerChallenges(() => Promise.resolve(bundle));
    await challenges.add(http('tok-1'));
    await challenges.add(tlsAlpn('ALPN.example.test'));
    await challenges.add(tlsAlpn('127.0.0.1', 'ip'));
    assert.equal(challenges.keyAuthorization('tok-1'), 'tok-1.thumbprint');
    assert.ok(challenges.tlsAlpnContext('alpn.example.test'));
    assert.ok(challenges.tlsAlpnContext('1.0.0.127.in-addr.arpa'));
    assert.equal(challenges.size, 3);

    challenges.remove(http('tok-1'));
    challenges.remove(tlsAlpn('alpn.example.test'));
    challenges.remove(tlsAlpn('never.example.test'));
    assert.equal(challenges.keyAuthorization('tok-1'), undefined);
    assert.equal(challenges.tlsAlpnContext('alpn.example.test'), undefined);
    assert.equal(challenges.size, 1);
  });

  it('refuses a tls-alpn-01 challenge the keyvault holds no certificate for', async () => {
    const challenges = new WorkerChallenges(() => Promise.resolve(null));
    await assert.rejects(challenges.add(tlsAlpn('none.example.test')), (error: unknown) => {
      assert.ok(error instanceof ChallengeError);
      assert.match(error.message, /no tls-alpn-01 certificate for dns none\.example\.test/);
      return true;
    });
    assert.equal(challenges.size, 0);
  });

  it('does not serve a challenge removed while its certificate was on its way', async () => {
    const keyvault = slowKeyvault();
    const challenges = new WorkerChallenges(keyvault.fetch);
    const adding = challenges.add(tlsAlpn('race.example.test'));
    challenges.remove(tlsAlpn('race.example.test'));
    keyvault.release();
    await adding;
    assert.equal(challenges.tlsAlpnContext('race.example.test'), undefined);
  });

  it('sync makes the set what the list says, except what changed while it waited', async () => {
    const challenges = new WorkerChallenges(() => Promise.resolve(bundle));
    await challenges.add(http('stale'));
    await challenges.add(http('kept'));

    let release: (list: ChallengeSpec[]) => void = () => undefined;
    const syncing = challenges.sync(
      () => new Promise<ChallengeSpec[]>((resolve) => (release = resolve)),
    );
    // Newer than the list: a removal of something it names, an add it lacks.
    challenges.remove(http('removed-meanwhile'));
    await challenges.add(http('added-meanwhile'));
    release([http('kept'), http('removed-meanwhile'), tlsAlpn('new.example.test')]);
    const report = await syncing;

    assert.deepEqual(report, { added: 1, removed: 1, failed: [] });
    assert.equal(challenges.keyAuthorization('stale'), undefined);
    assert.ok(challenges.keyAuthorization('kept'));
    assert.equal(challenges.keyAuthorization('removed-meanwhile'), undefined);
    assert.ok(challenges.keyAuthorization('added-meanwhile'));
    assert.ok(challenges.tlsAlpnContext('new.example.test'));
  });
});
