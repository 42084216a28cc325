/**
 * The ACME account and revocation as an operator drives them, against a
 * real CA (Pebble): read, update the contact, change the key, revoke a
 * certificate and get it replaced, deactivate; bad input refused with a
 * clear error and nothing changed. What the CA holds is checked at the CA:
 * the account by POST-as-GET, revocations on Pebble's management interface,
 * the old key by a request it signs after the key change.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { after, before, describe, it } from 'node:test';
import { controlRequest } from '@gatehouse/gateway/control';
import { acmeEvents, until as untilValue } from './harness/acme-checks.js';
import { run } from './harness/clients.js';
import { GATEHOUSE_BIN, Gatehouse } from './harness/gatehouse.js';
import { Pebble } from './harness/pebble.js';
import { freePort } from './harness/ports.js';
import { RoleProxy } from './harness/role-proxy.js';
import { fixture, startSupervisor, until } from './harness/supervisor.js';

interface AccountRow {
  issuer: string;
  url: string;
  status: string;
  contact: string[];
  key_thumbprint: string;
}
interface EventRow {
  type: string;
  payload: {
    identifiers?: { value: string }[];
    problem?: { type: string; detail?: string };
    action?: string;
    reason?: number;
  };
}

/** The serial (upper-case hex) of the certificate served for `name`, if it verifies. */
function servedSerial(port: number, name: string, ca: string): Promise<string | undefined> {
  return new Promise((resolve) => {
    const socket = tls.connect({ host: '127.0.0.1', port, servername: name, ca, timeout: 5_000 });
    const done = (serial: string | undefined): void => {
      socket.destroy();
      resolve(serial);
    };
    socket.once('secureConnect', () => {
      done(socket.getPeerCertificate().serialNumber);
    });
    socket.once('error', () => {
      done(undefined);
    });
    socket.once('timeout', () => {
      done(undefined);
    });
  });
}

/** A signed POST to Pebble (the JWS is made elsewhere), trusting Pebble's own root only. */
function postJose(
  url: string,
  ca: string,
  body: string,
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const request = https.request(
      url,
      {
        method: 'POST',
        ca,
        agent: false,
        timeout: 5_000,
        headers: { 'content-type': 'application/jose+json' },
      },
      (response) => {
        let text = '';
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => (text += chunk));
        response.on('end', () => {
          resolve({ status: response.statusCode ?? 0, body: text });
        });
      },
    );
    request.on('timeout', () => request.destroy(new Error(`POST ${url} timed out`)));
    request.on('error', reject);
    request.end(body);
  });
}

describe('the ACME account and revocation, against Pebble', () => {
  let pebble: Pebble;
  let gatehouse: Gatehouse;
  let rootPem: string;
  let pebbleTrust: string;
  /** Gatehouse runs stopped and replaced by a restart, cleaned up at the end all the same. */
  const earlier: Gatehouse[] = [];
  /** The account key's thumbprint before the key change. */
  let oldThumbprint = '';

  const cli = (...args: string[]) => run(GATEHOUSE_BIN, [...args, '--data', gatehouse.dataDir]);
  const api = (method: string, url: string, body?: unknown) =>
    controlRequest(gatehouse.socketPath, method, url, 70_000, body);
  const account = async (): Promise<AccountRow> => {
    const shown = await cli('acme', 'account', '--json');
    assert.equal(shown.code, 0, shown.stderr);
    return (JSON.parse(shown.stdout) as { account: AccountRow }).account;
  };
  const events = async (): Promise<EventRow[]> => {
    const response = await api('GET', '/v1/events?limit=1000');
    return (response.body as { events: EventRow[] }).events;
  };
  const certified = (name: string, not?: string) =>
    untilValue(`a certificate for ${name}`, 60_000, async () => {
      const serial = await servedSerial(gatehouse.httpsPort, name, rootPem);
      return serial !== undefined && serial !== not ? serial : undefined;
    });

  before(async () => {
    const httpsPort = await freePort();
    const httpPort = await freePort();
    pebble = await Pebble.start({ httpPort, tlsPort: httpsPort });
    rootPem = await pebble.rootPem();
    pebbleTrust = fs.readFileSync(pebble.trustFile, 'utf8');
    gatehouse = await Gatehouse.start({
      httpsPort,
      httpPort,
      workers: 1,
      extraArgs: [
        ...['--acme-directory', pebble.directoryUrl, '--acme-trust', pebble.trustFile],
        ...['--acme-email', 'ops@example.com', '--acme-challenge', 'tls-alpn-01'],
      ],
    });
  });
  after(async () => {
    for (const instance of [...earlier, gatehouse]) await instance?.cleanup();
    await pebble?.stop();
  });

  it('shows the account as the CA holds it, and never a key', async () => {
    const shown = await cli('acme', 'account', '--json');
    assert.equal(shown.code, 0, shown.stderr);
    assert.doesNotMatch(shown.stdout, /"d"|PRIVATE/);
    const row = (JSON.parse(shown.stdout) as { account: AccountRow }).account;
    assert.equal(row.issuer, pebble.directoryUrl);
    assert.equal(row.status, 'valid');
    assert.deepEqual(row.contact, ['mailto:ops@example.com']);
    assert.match(row.url, /^https:\/\/127\.0\.0\.1:\d+\/my-account\//);
    assert.match(row.key_thumbprint, /^[A-Za-z0-9_-]{43}$/);
    const table = await cli('acme', 'account');
    assert.match(table.stdout, /Status: +valid/);
  });

  it('refuses bad input at every endpoint and command, and changes nothing', async () => {
    const before = await account();
    const refusals: [string, string, unknown, number][] = [
      ['PATCH', '/v1/acme/account', { contact: ['ops@example.com'] }, 400],
      ['PATCH', '/v1/acme/account', { contact: ['mailto:a@b.c'], extra: 1 }, 400],
      ['PATCH', '/v1/acme/account', undefined, 400],
      ['GET', '/v1/acme/account?issuer=http://127.0.0.1/dir', undefined, 400],
      ['POST', '/v1/acme/account/key-change', { algorithm: 'rsa-1024' }, 400],
      ['POST', '/v1/acme/account/deactivate', {}, 400],
      ['POST', '/v1/acme/account/deactivate', { confirm: 'yes' }, 400],
      ['POST', '/v1/certificates/cert_nonexistent0/revoke', { reason: 'keyCompromise' }, 404],
      ['POST', '/v1/certificates/cert_nonexistent0/revoke', { reason: 'certificateHold' }, 400],
      ['POST', '/v1/certificates/cert_nonexistent0/revoke', { reason: 2 }, 400],
    ];
    for (const [method, url, body, status] of refusals) {
      const response = await api(method, url, body);
      const error = (response.body as { error?: { code: string; message: string } }).error;
      assert.equal(response.status, status, `${method} ${url}: ${JSON.stringify(response.body)}`);
      assert.ok(error && error.message.length > 20, `${method} ${url} says why`);
    }
    const commands: [string[], RegExp][] = [
      [['acme', 'account', 'update'], /needs --email ADDR/],
      [['acme', 'account', 'update', '--email', 'not-an-address'], /needs --email ADDR/],
      [['acme', 'account', 'deactivate'], /final.*--yes/s],
      [['acme', 'account', 'rename'], /Usage: gatehouse acme account/],
      [['acme', 'account', 'key-change', '--yes'], /Usage: gatehouse acme account/],
      [['certificates', 'revoke'], /Usage: gatehouse certificates/],
    ];
    for (const [args, message] of commands) {
      const result = await cli(...args);
      assert.equal(result.code, 2, `${args.join(' ')}: ${result.stderr}`);
      assert.match(result.stderr, message);
    }
    const reason = await cli('certificates', 'revoke', 'cert_nonexistent0', '--reason', 'bogus');
    assert.equal(reason.code, 1);
    assert.match(reason.stderr, /keyCompromise/);
    assert.deepEqual(await account(), before);
  });

  it('updates the contact at the CA', async () => {
    const updated = await cli('acme', 'account', 'update', '--email', 'new@example.org');
    assert.equal(updated.code, 0, updated.stderr);
    // Read again: the agent asks the CA (POST-as-GET) each time.
    assert.deepEqual((await account()).contact, ['mailto:new@example.org']);
    assert.ok((await events()).some((event) => event.type === 'account_updated'));
  });

  it('revokes a certificate with its reason, and serves a new one for its names', async () => {
    const name = 'revoke.example.com';
    assert.equal((await cli('domains', 'add', name)).code, 0);
    const firstSerial = await certified(name);
    const listed = await api('GET', '/v1/certificates');
    const certificate = (
      listed.body as {
        certificates: { certificateId: string; serial: string; identifiers: { value: string }[] }[];
      }
    ).certificates.find((row) => row.identifiers.some((identifier) => identifier.value === name));
    assert.ok(certificate);

    const revoked = await cli(
      'certificates',
      'revoke',
      certificate.certificateId,
      '--reason',
      'keyCompromise',
    );
    assert.equal(revoked.code, 0, revoked.stderr);
    const status = await pebble.request(
      `${pebble.managementUrl}/cert-status-by-serial/${certificate.serial.toLowerCase()}`,
    );
    assert.equal(status.status, 200, status.body);
    const parsed = JSON.parse(status.body) as { Status: string; Reason: number };
    assert.equal(parsed.Status, 'Revoked');
    assert.equal(parsed.Reason, 1);

    const secondSerial = await certified(name, firstSerial);
    assert.notEqual(secondSerial, firstSerial);
    // The vault keeps the revocation, so a restarted acme-agent renews from nothing revoked.
    const after = (
      (await api('GET', '/v1/certificates')).body as {
        certificates: { certificateId: string; revokedAt: string | null; directoryUrl: string }[];
      }
    ).certificates;
    const old = after.find((row) => row.certificateId === certificate.certificateId);
    assert.ok(old?.revokedAt, JSON.stringify(old));
    assert.equal(old.directoryUrl, pebble.directoryUrl);
    const table = await cli('certificates', 'list');
    const line = table.stdout.split('\n').find((row) => row.startsWith(certificate.certificateId));
    assert.match(line ?? '', /\(revoked\)/, table.stdout);
    const event = (await events()).find((row) => row.type === 'certificate_revoked')?.payload;
    assert.equal(event?.reason, 1);
    assert.equal(event.problem, undefined);
  });

  it('changes the account key; new orders are signed with the new key', async () => {
    const before = await account();
    oldThumbprint = before.key_thumbprint;
    const changed = await cli('acme', 'account', 'key-change');
    assert.equal(changed.code, 0, changed.stderr);
    const now = await account();
    assert.equal(now.url, before.url);
    assert.notEqual(now.key_thumbprint, before.key_thumbprint);
    assert.ok((await events()).some((event) => event.type === 'account_key_changed'));
    const name = 'after-key-change.example.com';
    assert.equal((await cli('domains', 'add', name)).code, 0);
    await certified(name);
  });

  it('deactivates the account; a new domain then fails saying what to do', async () => {
    const deactivated = await cli('acme', 'account', 'deactivate', '--yes');
    assert.equal(deactivated.code, 0, deactivated.stderr);
    assert.match(deactivated.stdout, /Status: +deactivated/);
    const name = 'after-deactivation.example.com';
    assert.equal((await cli('domains', 'add', name)).code, 0);
    const failed = await untilValue('a certificate_failed event', 30_000, async () =>
      (await acmeEvents(gatehouse, name)).find((event) => event.type === 'certificate_failed'),
    );
    assert.match(failed.payload.action ?? '', /deactivated.*--acme-directory/s);
    assert.ok((await events()).some((event) => event.type === 'account_deactivated'));
  });

  it('the CA refuses the old account key after the key change', async () => {
    // Stop Gatehouse and speak as the acme-agent to its keyvault, to sign with the old key.
    await gatehouse.stop();
    const vault = path.join(gatehouse.dataDir, 'vault.db');
    const sql = (query: string) =>
      execFileSync('sqlite3', [vault, query], { encoding: 'utf8' }).trim().split('\n');
    const [current] = sql('SELECT key_id FROM accounts');
    assert.match(oldThumbprint, /^[A-Za-z0-9_-]{43}$/, 'the key change test ran');
    const old = sql(
      `SELECT id FROM keys WHERE purpose = 'account' AND thumbprint = '${oldThumbprint}'`,
    );
    assert.equal(old.length, 1, 'the old account key is still in the vault');
    assert.notEqual(old[0], current);

    const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'gatehouse-account-'));
    process.env.ROLE_PROXY_SOCKET = path.join(scratch, 'agent.sock');
    const supervisor = await startSupervisor({
      dataDir: gatehouse.dataDir,
      entries: { 'acme-agent': fixture('role-proxy') },
    });
    try {
      await until(() => supervisor.supervisor.health().status === 'ok', 20_000, 'roles up');
      const proxy = await RoleProxy.connect(process.env.ROLE_PROXY_SOCKET);
      try {
        const directory = JSON.parse((await pebble.request(pebble.directoryUrl)).body) as Record<
          string,
          string
        >;
        // Pebble refuses 5% of nonces: a badNonce is retried with a fresh one (section 6.5).
        const findWith = async (keyId: string | undefined) => {
          for (let attempt = 1; ; attempt++) {
            const nonce = (await pebble.request(directory.newNonce ?? '', 'HEAD')).headers[
              'replay-nonce'
            ];
            const jws = await proxy.ask('keyvault.sign-jws', {
              keyId,
              url: directory.newAccount,
              nonce,
              payload: { onlyReturnExisting: true },
            });
            assert.ok(jws.ok, JSON.stringify(jws.error));
            const answer = await postJose(
              directory.newAccount ?? '',
              pebbleTrust,
              JSON.stringify(jws.ok),
            );
            if (!answer.body.includes('badNonce') || attempt === 5) return answer;
          }
        };
        // Only the supervisor may ask for the account operations, not the agent's own role.
        const forbidden = await proxy.ask('acme.account-deactivate', {});
        assert.equal(forbidden.error?.code, 'forbidden', JSON.stringify(forbidden));
        const refused = await findWith(old[0]);
        assert.equal(refused.status, 400, refused.body);
        assert.match(refused.body, /accountDoesNotExist/);
        // The current key is known to the CA (deactivated by the test above, so not found is wrong).
        const known = await findWith(current);
        assert.doesNotMatch(known.body, /accountDoesNotExist/);
      } finally {
        proxy.close();
      }
    } finally {
      await supervisor.stop();
      delete process.env.ROLE_PROXY_SOCKET;
      fs.rmSync(scratch, { recursive: true, force: true });
    }
  });

  it('after a restart, still tells the operator the account is deactivated', async () => {
    const again = await Gatehouse.start({
      dataDir: gatehouse.dataDir,
      httpsPort: gatehouse.httpsPort,
      httpPort: gatehouse.httpPort,
      workers: 1,
      extraArgs: [
        ...['--acme-directory', pebble.directoryUrl, '--acme-trust', pebble.trustFile],
        ...['--acme-challenge', 'tls-alpn-01'],
      ],
    });
    earlier.push(gatehouse);
    gatehouse = again;
    const name = 'after-restart.example.com';
    assert.equal((await cli('domains', 'add', name)).code, 0);
    const failed = await untilValue('a certificate_failed event', 30_000, async () =>
      (await acmeEvents(gatehouse, name)).find((event) => event.type === 'certificate_failed'),
    );
    assert.match(failed.payload.action ?? '', /deactivated.*--acme-directory/s);
    assert.match(failed.payload.problem?.type ?? '', /unauthorized/);
  });
});

describe('the account operations while the acme-agent is down', () => {
  let supervisor: Awaited<ReturnType<typeof startSupervisor>> | undefined;

  before(async () => {
    supervisor = await startSupervisor({ entries: { 'acme-agent': fixture('crashing-child') } });
    const started = supervisor;
    await until(
      () =>
        (started.supervisor.childInfo().find((c) => c.role === 'acme-agent')?.restarts ?? 0) >= 1,
      15_000,
      'a restart of the crashing acme-agent',
    );
  });
  after(async () => {
    await supervisor?.stop();
  });

  it('answers 503 unavailable, and the CLI says why', async () => {
    assert.ok(supervisor);
    const socket = path.join(supervisor.dataDir, 'control.sock');
    const response = await controlRequest(socket, 'GET', '/v1/acme/account');
    assert.equal(response.status, 503, JSON.stringify(response.body));
    const error = (response.body as { error: { code: string; message: string } }).error;
    assert.equal(error.code, 'unavailable');
    assert.match(error.message, /acme-agent is not running; retry shortly/);
    const cli = await run(GATEHOUSE_BIN, [
      'acme',
      'account',
      'key-change',
      '--data',
      supervisor.dataDir,
    ]);
    assert.equal(cli.code, 1);
    assert.match(cli.stderr, /acme-agent is not running/);
  });
});
