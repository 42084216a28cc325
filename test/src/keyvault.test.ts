/**
 * The keyvault as its callers see it: a real keyvault process behind a
 * real supervisor, asked over IPC as the acme-agent would ask. What comes
 * back is checked with tools no one here wrote (jose, openssl).
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import * as jose from 'jose';
import { controlRequest } from '@gatehouse/gateway/control';
import { run } from './harness/clients.js';
import { GATEHOUSE_BIN, Gatehouse } from './harness/gatehouse.js';
import { opensslCa, opensslLeaf } from './harness/openssl-ca.js';
import { RoleProxy, type Answer } from './harness/role-proxy.js';
import { fixture, startSupervisor, until, type TestSupervisor } from './harness/supervisor.js';

interface AccountKey {
  keyId: string;
  jwk: Record<string, string>;
  thumbprint: string;
}
interface Jws {
  protected: string;
  payload: string;
  signature: string;
}

const DIRECTORY = 'https://ca.test/directory';

describe('keyvault over IPC', () => {
  let supervisor: TestSupervisor;
  let agent: RoleProxy;
  let scratch: string;
  const answers: unknown[] = [];

  const ask = async <T>(type: string, payload: unknown): Promise<Answer<T>> => {
    const answer = await agent.ask<T>(type, payload);
    answers.push(answer);
    return answer;
  };
  const okOf = async <T>(type: string, payload: unknown): Promise<T> => {
    const answer = await ask<T>(type, payload);
    assert.ok(answer.ok !== undefined, `${type}: ${JSON.stringify(answer.error)}`);
    return answer.ok;
  };

  before(async () => {
    scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'gatehouse-keyvault-'));
    process.env.ROLE_PROXY_SOCKET = path.join(scratch, 'agent.sock');
    supervisor = await startSupervisor({ entries: { 'acme-agent': fixture('role-proxy') } });
    await until(() => supervisor.supervisor.health().status === 'ok', 20_000, 'every role up');
    agent = await RoleProxy.connect(path.join(scratch, 'agent.sock'));
  });

  after(async () => {
    agent.close();
    await supervisor.stop();
    delete process.env.ROLE_PROXY_SOCKET;
    fs.rmSync(scratch, { recursive: true, force: true });
  });

  it('makes one account key per CA, whose JWK and thumbprint jose agrees with', async () => {
    const first = await okOf<AccountKey>('keyvault.account-key', { directoryUrl: DIRECTORY });
    const again = await okOf<AccountKey>('keyvault.account-key', { directoryUrl: DIRECTORY });
    assert.deepEqual(again, first);
    assert.deepEqual(Object.keys(first.jwk).sort(), ['crv', 'kty', 'x', 'y']);
    assert.equal(await jose.calculateJwkThumbprint(first.jwk), first.thumbprint);

    const other = await okOf<AccountKey>('keyvault.account-key', {
      directoryUrl: 'https://other-ca.test/dir',
      algorithm: 'rsa-2048',
    });
    assert.notEqual(other.keyId, first.keyId);
    assert.equal(other.jwk.kty, 'RSA');
  });

  it('signs ACME requests that jose verifies: with jwk, with kid, and POST-as-GET', async () => {
    const account = await okOf<AccountKey>('keyvault.account-key', { directoryUrl: DIRECTORY });
    const publicKey = await jose.importJWK(account.jwk, 'ES256');

    const cases = [
      { url: 'https://ca.test/new-account', payload: { termsOfServiceAgreed: true } },
      {
        url: 'https://ca.test/new-order',
        kid: 'https://ca.test/acct/1',
        payload: { identifiers: [] },
      },
      { url: 'https://ca.test/order/1', kid: 'https://ca.test/acct/1', payload: null },
    ];
    for (const { url, kid, payload } of cases) {
      const jws = await okOf<Jws>('keyvault.sign-jws', {
        keyId: account.keyId,
        url,
        nonce: 'bm9uY2U',
        ...(kid ? { kid } : {}),
        payload,
      });
      const verified = await jose.flattenedVerify(jws, publicKey);
      const header = verified.protectedHeader;
      assert.ok(header);
      assert.equal(header.alg, 'ES256');
      assert.equal(header.url, url);
      assert.equal(header.nonce, 'bm9uY2U');
      if (kid) assert.equal(header.kid, kid);
      else assert.deepEqual(header.jwk, account.jwk);
      const text = new TextDecoder().decode(verified.payload);
      assert.equal(text, payload === null ? '' : JSON.stringify(payload));
    }
  });

  it('changes the account key (RFC 8555 section 7.3.5) only once the CA accepted it', async () => {
    const directoryUrl = 'https://rekey-ca.test/directory';
    const old = await okOf<AccountKey>('keyvault.account-key', { directoryUrl });
    const changed = await okOf<{ newKeyId: string; jwk: Record<string, string>; jws: Jws }>(
      'keyvault.key-change',
      {
        directoryUrl,
        accountUrl: 'https://rekey-ca.test/acct/7',
        url: 'https://rekey-ca.test/key-change',
        nonce: 'bm9uY2U',
      },
    );

    // The outer JWS: signed by the old key, with the account URL as kid.
    const outer = await jose.flattenedVerify(changed.jws, await jose.importJWK(old.jwk, 'ES256'));
    assert.equal(outer.protectedHeader?.kid, 'https://rekey-ca.test/acct/7');
    assert.equal(outer.protectedHeader?.url, 'https://rekey-ca.test/key-change');
    // The inner JWS: signed by the new key, which it carries, and no nonce.
    const inner = JSON.parse(new TextDecoder().decode(outer.payload)) as Jws;
    const verifiedInner = await jose.flattenedVerify(
      inner,
      await jose.importJWK(changed.jwk, 'ES256'),
    );
    assert.deepEqual(verifiedInner.protectedHeader?.jwk, changed.jwk);
    assert.equal(verifiedInner.protectedHeader?.nonce, undefined);
    assert.deepEqual(JSON.parse(new TextDecoder().decode(verifiedInner.payload)), {
      account: 'https://rekey-ca.test/acct/7',
      oldKey: old.jwk,
    });

    // Until the CA accepted it, the account keeps its key; then it moves.
    assert.equal(
      (await okOf<AccountKey>('keyvault.account-key', { directoryUrl })).keyId,
      old.keyId,
    );
    const done = await okOf<AccountKey>('keyvault.key-change-done', {
      directoryUrl,
      newKeyId: changed.newKeyId,
    });
    assert.equal(done.keyId, changed.newKeyId);
    assert.equal(
      (await okOf<AccountKey>('keyvault.account-key', { directoryUrl })).keyId,
      changed.newKeyId,
    );

    const unknown = await ask('keyvault.key-change', {
      directoryUrl: 'https://never-seen.test/dir',
      accountUrl: 'https://never-seen.test/acct/1',
      url: 'https://never-seen.test/key-change',
      nonce: 'bm9uY2U',
    });
    assert.equal(unknown.error?.reason, 'unknown_account');
  });

  it('binds the account to an external account with an HMAC jose verifies', async () => {
    const account = await okOf<AccountKey>('keyvault.account-key', { directoryUrl: DIRECTORY });
    const hmacKey = Buffer.from('an operator-given EAB key of 32 bytes').toString('base64url');
    const jws = await okOf<Jws>('keyvault.external-account-binding', {
      keyId: account.keyId,
      url: 'https://ca.test/new-account',
      eabKeyId: 'kid-1',
      hmacKey,
    });
    const verified = await jose.flattenedVerify(jws, Buffer.from(hmacKey, 'base64url'));
    assert.deepEqual(verified.protectedHeader, {
      alg: 'HS256',
      kid: 'kid-1',
      url: 'https://ca.test/new-account',
    });
    assert.deepEqual(JSON.parse(new TextDecoder().decode(verified.payload)), account.jwk);
  });

  it('makes CSRs openssl verifies, and stores a chain issued for one', async () => {
    const identifiers = [
      { type: 'dns', value: 'www.example.test' },
      { type: 'dns', value: 'example.test' },
      { type: 'ip', value: '192.0.2.7' },
    ];
    const made = await okOf<{ keyId: string; csr: string }>('keyvault.csr', {
      identifiers,
      key: { algorithm: 'ec-p256' },
    });
    const csrFile = path.join(scratch, 'request.der');
    fs.writeFileSync(csrFile, Buffer.from(made.csr, 'base64url'));
    const verify = await run('openssl', [
      'req',
      '-inform',
      'DER',
      '-in',
      csrFile,
      '-verify',
      '-noout',
      '-text',
    ]);
    assert.match(verify.stdout + verify.stderr, /verify OK/i);
    assert.match(
      verify.stdout,
      /DNS:www\.example\.test, DNS:example\.test, IP Address:192\.0\.2\.7/,
    );

    // A CA of openssl's own issues for the CSR; the keyvault keeps the chain.
    const ca = await opensslCa(scratch);
    const leafFile = path.join(scratch, 'leaf.pem');
    const signed = await run('openssl', [
      'x509',
      '-req',
      '-inform',
      'DER',
      '-in',
      csrFile,
      '-CA',
      ca.cert,
      '-CAkey',
      ca.key,
      '-days',
      '30',
      '-copy_extensions',
      'copy',
      '-out',
      leafFile,
    ]);
    assert.equal(signed.code, 0, signed.stderr);
    const chainPem = fs.readFileSync(leafFile, 'utf8') + fs.readFileSync(ca.cert, 'utf8');

    const stored = await okOf<{
      certificateId: string;
      issuer: string;
      serial: string;
      directoryUrl: string | null;
      revokedAt: string | null;
    }>('keyvault.store-chain', {
      keyId: made.keyId,
      identifiers,
      chainPem,
      directoryUrl: DIRECTORY,
    });
    assert.match(stored.issuer, /CN=Test CA/);
    assert.equal(stored.directoryUrl, DIRECTORY, 'the CA that issued it is kept');
    assert.equal(stored.revokedAt, null);
    const serial = await run('openssl', ['x509', '-in', leafFile, '-noout', '-serial']);
    assert.equal(
      BigInt(`0x${stored.serial}`),
      BigInt(`0x${serial.stdout.trim().split('=')[1] ?? ''}`),
    );

    // The same chain offered for another key, or other names, is refused.
    const other = await okOf<{ keyId: string }>('keyvault.csr', {
      identifiers,
      key: { algorithm: 'ec-p256' },
    });
    const wrongKey = await ask('keyvault.store-chain', {
      keyId: other.keyId,
      identifiers,
      chainPem,
    });
    assert.equal(wrongKey.error?.reason, 'key_mismatch');
    const wrongNames = await ask('keyvault.store-chain', {
      keyId: made.keyId,
      identifiers: [{ type: 'dns', value: 'example.test' }],
      chainPem,
    });
    assert.equal(wrongNames.error?.reason, 'identifiers_mismatch');

    // Revoked at the CA: the vault keeps when, once.
    const revoked = await okOf<{ revokedAt: string | null }>('keyvault.certificate-revoked', {
      certificateId: stored.certificateId,
    });
    assert.ok(revoked.revokedAt && Date.parse(revoked.revokedAt) <= Date.now());
    const again = await okOf<{ revokedAt: string | null }>('keyvault.certificate-revoked', {
      certificateId: stored.certificateId,
    });
    assert.equal(again.revokedAt, revoked.revokedAt);
    const { certificates } = await supervisor.supervisor.ask('keyvault.certificates', {});
    const listed = certificates.find((row) => row.certificateId === stored.certificateId);
    assert.equal(listed?.revokedAt, revoked.revokedAt);
  });

  it('makes tls-alpn-01 certificates with the critical acmeIdentifier digest', async () => {
    const account = await okOf<AccountKey>('keyvault.account-key', { directoryUrl: DIRECTORY });
    const keyAuthorization = `evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA.${account.thumbprint}`;
    const made = await okOf<{ challengeId: string; certificatePem: string }>(
      'keyvault.challenge-certificate',
      { identifier: { type: 'dns', value: 'Challenge.Example.TEST' }, keyAuthorization },
    );
    // ext_dump shows an extension openssl does not know as hex lines.
    const text = await run('openssl', ['x509', '-noout', '-text', '-certopt', 'ext_dump'], {
      input: made.certificatePem,
    });
    assert.match(text.stdout, /DNS:challenge\.example\.test/);
    const digest = createHash('sha256').update(keyAuthorization).digest('hex');
    const dump = /1\.3\.6\.1\.5\.5\.7\.1\.31: critical\n((?:\s+[0-9a-f]{4} - .*\n)+)/.exec(
      text.stdout,
    );
    assert.ok(dump?.[1], text.stdout);
    const bytes = [...dump[1].matchAll(/^\s+[0-9a-f]{4} - ((?:[0-9a-f]{2}[ -])+)/gm)]
      .map((line) => (line[1] ?? '').replace(/[^0-9a-f]/g, ''))
      .join('');
    assert.equal(bytes, `0420${digest}`);
  });

  it('refuses bad requests with the reason, and stores nothing for them', async () => {
    const before = await supervisor.supervisor.ask('keyvault.certificates', {});
    const refusals: [string, unknown, string, string][] = [
      [
        'keyvault.sign-jws',
        { keyId: 'key_nothere', url: 'https://ca.test/x', nonce: 'n', payload: null },
        'handler_failed',
        'unknown_key',
      ],
      [
        'keyvault.csr',
        { identifiers: [{ type: 'dns', value: 'bad..name' }], key: { algorithm: 'ec-p256' } },
        'handler_failed',
        'dns_name_invalid',
      ],
      ['keyvault.csr', { identifiers: [], key: { algorithm: 'ec-p256' } }, 'invalid_payload', ''],
      [
        'keyvault.sign-jws',
        { keyId: 'key_x', url: 'https://ca.test/x', nonce: 'n'.repeat(10_000), payload: null },
        'invalid_payload',
        '',
      ],
      [
        'keyvault.csr',
        { identifiers: [{ type: 'dns', value: 'a.test' }], key: { algorithm: 'dsa-1024' } },
        'invalid_payload',
        '',
      ],
      ['keyvault.bundle', { identifier: { type: 'dns', value: 'localhost' } }, 'forbidden', ''],
      ['keyvault.ca-root', {}, 'forbidden', ''],
      [
        'keyvault.certificate-revoked',
        { certificateId: 'crt_nothere' },
        'handler_failed',
        'unknown_certificate',
      ],
      ['keyvault.certificate-revoked', { certificateId: '../crt' }, 'invalid_payload', ''],
      [
        'keyvault.store-chain',
        {
          keyId: 'key_x',
          identifiers: [{ type: 'dns', value: 'a.test' }],
          chainPem: '',
          directoryUrl: 'file:///etc',
        },
        'invalid_payload',
        '',
      ],
    ];
    for (const [type, payload, code, reason] of refusals) {
      const answer = await ask(type, payload);
      assert.equal(answer.error?.code, code, `${type}: ${JSON.stringify(answer)}`);
      if (reason) assert.equal(answer.error.reason, reason, `${type}: ${answer.error.message}`);
      assert.ok((answer.error?.message.length ?? 0) > 10, 'the message says what was wrong');
    }
    // An account key asked for as a certificate key is refused by purpose.
    const account = await okOf<AccountKey>('keyvault.account-key', { directoryUrl: DIRECTORY });
    const misuse = await ask('keyvault.csr', {
      identifiers: [{ type: 'dns', value: 'a.test' }],
      key: { reuse: account.keyId },
    });
    assert.equal(misuse.error?.reason, 'wrong_key_purpose');

    assert.deepEqual(await supervisor.supervisor.ask('keyvault.certificates', {}), before);
  });

  it("imports an operator's certificate and key, checked, and deletes it", async () => {
    const socket = path.join(supervisor.dataDir, 'control.sock');
    const api = (method: string, route: string, body?: unknown) =>
      controlRequest(socket, method, route, 10_000, body);
    const ca = await opensslCa(path.join(scratch, 'import-ca'));
    const issued = await opensslLeaf(scratch, ca, 'import.example.test', 30);
    const before = await api('GET', '/v1/certificates');

    // Refused: another key, an expired certificate, an unreadable key, bad JSON.
    const otherKey = await opensslLeaf(scratch, ca, 'other.example.test', 30);
    const expired = await opensslLeaf(scratch, ca, 'old.example.test', -1);
    const refusals: [unknown, number, string][] = [
      [{ chain_pem: issued.chainPem, key_pem: otherKey.keyPem }, 422, 'key_mismatch'],
      [{ chain_pem: expired.chainPem, key_pem: expired.keyPem }, 422, 'expired'],
      [{ chain_pem: issued.chainPem, key_pem: 'not a key' }, 422, 'key_unreadable'],
      [{ chain_pem: issued.chainPem }, 400, 'invalid_request'],
    ];
    for (const [body, status, code] of refusals) {
      const response = await api('POST', '/v1/certificates', body);
      assert.equal(response.status, status, JSON.stringify(response.body));
      assert.equal((response.body as { error: { code: string } }).error.code, code);
      assert.doesNotMatch(JSON.stringify(response.body), /-----BEGIN/);
    }
    assert.deepEqual(await api('GET', '/v1/certificates'), before);

    const imported = await api('POST', '/v1/certificates', {
      chain_pem: issued.chainPem,
      key_pem: issued.keyPem,
    });
    assert.equal(imported.status, 201, JSON.stringify(imported.body));
    const certificate = (
      imported.body as { certificate: { certificateId: string; identifiers: unknown } }
    ).certificate;
    assert.deepEqual(certificate.identifiers, [{ type: 'dns', value: 'import.example.test' }]);
    assert.doesNotMatch(JSON.stringify(imported.body), /-----BEGIN [A-Z ]*PRIVATE KEY/);

    const deleted = await api('DELETE', `/v1/certificates/${certificate.certificateId}`);
    assert.equal(deleted.status, 204);
    const again = await api('DELETE', `/v1/certificates/${certificate.certificateId}`);
    assert.equal(again.status, 404);
    assert.deepEqual(await api('GET', '/v1/certificates'), before);
  });

  it('lists, imports and deletes certificates from the CLI, refusing bad files clearly', async () => {
    const cli = (...args: string[]) =>
      run(GATEHOUSE_BIN, ['certificates', ...args, '--data', supervisor.dataDir]);
    const ca = await opensslCa(path.join(scratch, 'cli-ca'));
    const issued = await opensslLeaf(scratch, ca, 'cli.example.test', 30);
    const other = await opensslLeaf(scratch, ca, 'cli-other.example.test', 30);
    const chainFile = path.join(scratch, 'cli-chain.pem');
    fs.writeFileSync(chainFile, issued.chainPem);
    const keyFile = path.join(scratch, 'cli.key');
    fs.writeFileSync(keyFile, issued.keyPem, { mode: 0o600 });
    const otherKeyFile = path.join(scratch, 'cli-other.key');
    fs.writeFileSync(otherKeyFile, other.keyPem, { mode: 0o600 });
    const before = await cli('list', '--json');
    assert.equal(before.code, 0, before.stderr);

    const mismatch = await cli('import', '--chain', chainFile, '--key', otherKeyFile);
    assert.equal(mismatch.code, 1);
    assert.match(mismatch.stderr, /key/i);
    assert.doesNotMatch(mismatch.stderr + mismatch.stdout, /-----BEGIN/);
    const missing = await cli('import', '--chain', chainFile, '--key', '/nonexistent/x.key');
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /private key file \/nonexistent\/x\.key: ENOENT/);
    for (const usage of [
      ['import', '--chain', chainFile],
      ['delete'],
      ['list', '--key', keyFile],
    ]) {
      const refused = await cli(...usage);
      assert.equal(refused.code, 2, `${usage.join(' ')}: ${refused.stderr}`);
      assert.match(refused.stderr, /gatehouse certificates/);
    }
    assert.equal((await cli('list', '--json')).stdout, before.stdout, 'nothing was stored');

    const imported = await cli('import', '--chain', chainFile, '--key', keyFile);
    assert.equal(imported.code, 0, imported.stderr);
    const id = /^Imported certificate (\S+) for cli\.example\.test, valid until /.exec(
      imported.stdout,
    )?.[1];
    assert.ok(id, imported.stdout);

    const listed = await cli('list');
    assert.equal(listed.code, 0, listed.stderr);
    const row = listed.stdout.split('\n').find((line) => line.startsWith(id));
    assert.match(row ?? '', /cli\.example\.test +\d{4}-\d\d-\d\dT.* +CN=Test CA/);
    const json = JSON.parse((await cli('list', '--json')).stdout) as {
      certificates: { certificateId: string }[];
    };
    assert.ok(json.certificates.some((certificate) => certificate.certificateId === id));

    assert.equal((await cli('delete', id)).code, 0);
    const again = await cli('delete', id);
    assert.equal(again.code, 1);
    assert.match(again.stderr, new RegExp(`No certificate ${id}`));
    assert.equal((await cli('list', '--json')).stdout, before.stdout);
  });

  it('never answers with a private key', () => {
    const text = JSON.stringify(answers);
    assert.ok(answers.length > 20);
    assert.doesNotMatch(text, /-----BEGIN [A-Z ]*PRIVATE KEY/);
    assert.doesNotMatch(text, /"d":/);
  });
});

describe('a vault started with the wrong master key', () => {
  it('keeps the keyvault down, says which key it expects, and changes no byte', async () => {
    const keyA = randomBytes(32).toString('base64');
    const first = await Gatehouse.start({ workers: 1, env: { GATEHOUSE_MASTER_KEY: keyA } });
    const dataDir = first.dataDir;
    let second: Gatehouse | undefined;
    try {
      // Something in the vault: the local CA and the localhost leaf.
      assert.equal((await controlRequest(first.socketPath, 'GET', '/v1/ca/root')).status, 200);
      await first.stop();
      const files = ['vault.db', 'vault.db-wal', 'vault.db-shm'].map((name) =>
        path.join(dataDir, name),
      );
      const before = files.map(digestOf);

      second = await Gatehouse.start({
        workers: 1,
        dataDir,
        waitHealthy: false,
        env: { GATEHOUSE_MASTER_KEY: randomBytes(32).toString('base64') },
      });
      await second.waitFor(
        () => second?.output.some((line) => line.includes('master_key_wrong')) ?? false,
        20_000,
      );
      const refusal = second.output.find((line) => line.includes('master_key_wrong')) ?? '';
      assert.match(refusal, /cannot open the vault; nothing was changed/);
      assert.doesNotMatch(refusal, new RegExp(keyA.replace(/[+/=]/g, '.')));
      const health = await second.health();
      assert.equal(health.status, 503);
      await second.stop();

      assert.deepEqual(files.map(digestOf), before);
    } finally {
      await second?.cleanup();
      await first.cleanup();
    }
  });
});

function digestOf(file: string): string {
  return fs.existsSync(file)
    ? createHash('sha256').update(fs.readFileSync(file)).digest('hex')
    : 'absent';
}

describe('rotating the master key', () => {
  it('re-seals the vault under a new master.key that opens it after a restart', async () => {
    const first = await Gatehouse.start({ workers: 1 });
    let second: Gatehouse | undefined;
    try {
      const root = await run(GATEHOUSE_BIN, ['ca', 'root', '--data', first.dataDir]);
      const keyFile = path.join(first.dataDir, 'master.key');
      const oldKey = fs.readFileSync(keyFile, 'utf8');

      const rotated = await run(GATEHOUSE_BIN, [
        'vault',
        'rotate-master-key',
        '--data',
        first.dataDir,
      ]);
      assert.equal(rotated.code, 0, rotated.stderr);
      assert.match(rotated.stdout, /^Re-sealed \d+ keys under master key [0-9a-f]+\.$/m);
      assert.notEqual(fs.readFileSync(keyFile, 'utf8'), oldKey);
      assert.equal(fs.statSync(keyFile).mode & 0o777, 0o600);
      await first.stop();

      second = await Gatehouse.start({ workers: 1, dataDir: first.dataDir });
      const again = await run(GATEHOUSE_BIN, ['ca', 'root', '--data', first.dataDir]);
      assert.equal(again.stdout, root.stdout);
    } finally {
      await second?.cleanup();
      await first.cleanup();
    }
  });

  it('is refused, with the reason, when the key comes from the environment', async () => {
    const gatehouse = await Gatehouse.start({
      workers: 1,
      env: { GATEHOUSE_MASTER_KEY: randomBytes(32).toString('base64') },
    });
    try {
      const rotated = await run(GATEHOUSE_BIN, [
        'vault',
        'rotate-master-key',
        '--data',
        gatehouse.dataDir,
      ]);
      assert.equal(rotated.code, 1);
      assert.match(rotated.stderr, /comes from .*GATEHOUSE_MASTER_KEY/);
    } finally {
      await gatehouse.cleanup();
    }
  });
});
