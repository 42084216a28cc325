/**
 * Workers answering ACME challenges and serving each name its own
 * certificate, checked with real clients (openssl s_client, curl, Node's
 * TLS) against a real supervisor with two workers and a real keyvault. The
 * test speaks as the acme-agent through the role-proxy fixture.
 *
 * Which worker accepts a connection is the kernel's choice; to make one
 * worker take it, the test stops the other one (SIGSTOP) for the moment of
 * the handshake.
 */
import assert from 'node:assert/strict';
import { X509Certificate, createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { after, before, describe, it } from 'node:test';
import { controlRequest } from '@gatehouse/gateway/control';
import { curl, run, sClient } from './harness/clients.js';
import { handshake, type HandshakeResult } from './harness/handshake.js';
import { acmeIdentifierHex, opensslCa, opensslLeaf } from './harness/openssl-ca.js';
import { RoleProxy, type Answer } from './harness/role-proxy.js';
import { fixture, startSupervisor, until, type TestSupervisor } from './harness/supervisor.js';

const DIRECTORY = 'https://ca.test/directory';
const ACME_TLS = 'acme-tls/1';
/** Node's name for a TLS alert no_application_protocol (120) from the server. */
const NO_APPLICATION_PROTOCOL = 'ERR_SSL_TLSV1_ALERT_NO_APPLICATION_PROTOCOL';
const WORKERS = [1, 2] as const;

interface Identifier {
  type: 'dns' | 'ip';
  value: string;
}

describe('workers answer ACME challenges and serve per-name certificates', () => {
  let supervisor: TestSupervisor;
  let agent: RoleProxy;
  let scratch: string;
  let httpsPort: number;
  let httpPort: number;
  let thumbprint: string;

  const ask = <T>(type: string, payload: unknown): Promise<Answer<T>> =>
    agent.ask<T>(type, payload);
  const okOf = async <T>(type: string, payload: unknown): Promise<T> => {
    const answer = await ask<T>(type, payload);
    assert.ok(answer.ok !== undefined, `${type}: ${JSON.stringify(answer.error)}`);
    return answer.ok;
  };
  const pending = () => supervisor.supervisor.ask('supervisor.challenges', {});

  const workerPid = (instance: number): number => {
    const row = supervisor.supervisor
      .childInfo()
      .find((child) => child.role === 'worker' && child.instance === instance);
    assert.ok(row?.pid !== undefined, `worker ${instance} has no pid`);
    return row.pid;
  };

  /** Run `fn` while only worker `instance` accepts connections. */
  const onlyWorker = async <T>(instance: number, fn: () => Promise<T>): Promise<T> => {
    const others = WORKERS.filter((n) => n !== instance).map(workerPid);
    for (const pid of others) process.kill(pid, 'SIGSTOP');
    try {
      return await fn();
    } finally {
      for (const pid of others) process.kill(pid, 'SIGCONT');
    }
  };

  /** A tls-alpn-01 certificate from the keyvault, asked for as the acme-agent asks. */
  const challengeCertificate = async (identifier: Identifier) => {
    const keyAuthorization = `${randomBytes(16).toString('base64url')}.${thumbprint}`;
    const made = await okOf<{ certificatePem: string }>('keyvault.challenge-certificate', {
      identifier,
      keyAuthorization,
    });
    const digest = createHash('sha256').update(keyAuthorization).digest('hex');
    return { ...made, keyAuthorization, digest };
  };

  before(async () => {
    scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'gatehouse-challenges-'));
    process.env.ROLE_PROXY_SOCKET = path.join(scratch, 'agent.sock');
    supervisor = await startSupervisor({
      entries: { 'acme-agent': fixture('role-proxy') },
      workers: 2,
      logLevel: 'debug',
    });
    await until(() => supervisor.supervisor.health().status === 'ok', 20_000, 'every role up');
    agent = await RoleProxy.connect(path.join(scratch, 'agent.sock'));
    httpsPort = supervisor.supervisor.options.httpsPort;
    httpPort = supervisor.supervisor.options.httpPort;
    thumbprint = (
      await okOf<{ thumbprint: string }>('keyvault.account-key', { directoryUrl: DIRECTORY })
    ).thumbprint;
  });

  after(async () => {
    agent.close();
    await supervisor.stop();
    delete process.env.ROLE_PROXY_SOCKET;
    fs.rmSync(scratch, { recursive: true, force: true });
  });

  it('serves a tls-alpn-01 challenge from every worker, and normal clients are unaffected', async () => {
    const name = 'alpn.example.test';
    const identifier = { type: 'dns', value: name } as const;
    const made = await challengeCertificate(identifier);

    // Before the install, a validator is refused.
    const early = await handshake(httpsPort, name, [ACME_TLS]);
    assert.equal(early.error === undefined ? 'served' : early.code, NO_APPLICATION_PROTOCOL);

    const installed = await okOf<{ workers: number }>('supervisor.challenge-install', {
      challenge: { type: 'tls-alpn-01', identifier },
    });
    assert.deepEqual(installed, { workers: 2 });

    for (const worker of WORKERS) {
      await onlyWorker(worker, async () => {
        // openssl: acme-tls/1 negotiated, the keyvault's certificate with the
        // critical acmeIdentifier holding SHA-256 of the key authorization.
        const validator = await sClient([
          '-connect',
          `127.0.0.1:${httpsPort}`,
          '-servername',
          name,
          '-alpn',
          ACME_TLS,
        ]);
        assert.match(validator.stdout, /ALPN protocol: acme-tls\/1/, `worker ${worker}`);
        const served = /-----BEGIN CERTIFICATE-----[^]*?-----END CERTIFICATE-----\n/.exec(
          validator.stdout,
        )?.[0];
        assert.ok(served, validator.stdout);
        assert.equal(await acmeIdentifierHex(served), `0420${made.digest}`);
        assert.equal(fingerprint(served), fingerprint(made.certificatePem));

        // A normal client of the same name, at the same time: its own
        // certificate and HTTP as before.
        const visitor = await handshake(httpsPort, name, ['h2', 'http/1.1']);
        assert.equal(visitor.error, undefined, JSON.stringify(visitor));
        assert.notEqual(visitor.alpn, ACME_TLS);
        assert.ok(!hasAcmeIdentifier(visitor), 'a visitor gets no challenge certificate');
        const page = await curl(`https://${name}:${httpsPort}/`, [
          '--resolve',
          `${name}:${httpsPort}:127.0.0.1`,
        ]);
        assert.match(page.stdout, /Gatehouse is running[^]*\n200$/);
      });
    }

    // Several validations in a row, from whichever worker accepts them.
    for (let i = 0; i < 6; i += 1) {
      const validation = await handshake(httpsPort, name, [ACME_TLS]);
      assert.equal(validation.error, undefined, JSON.stringify(validation));
      assert.equal(validation.alpn, ACME_TLS);
      assert.ok(hasAcmeIdentifier(validation, made.digest));
    }
    // A name with no pending challenge still gets the alert.
    const other = await handshake(httpsPort, 'other.example.test', [ACME_TLS]);
    assert.equal(other.error === undefined ? 'served' : other.code, NO_APPLICATION_PROTOCOL);

    assert.deepEqual(
      await okOf('supervisor.challenge-remove', { challenge: { type: 'tls-alpn-01', identifier } }),
      {},
    );
    assert.deepEqual((await pending()).challenges, []);
    for (const worker of WORKERS) {
      const refused = await onlyWorker(worker, () => handshake(httpsPort, name, [ACME_TLS]));
      assert.equal(refused.error === undefined ? 'served' : refused.code, NO_APPLICATION_PROTOCOL);
    }
  });

  it('answers an IP identifier under its reverse-DNS name (RFC 8738 section 6)', async () => {
    const identifier = { type: 'ip', value: '127.0.0.1' } as const;
    const made = await challengeCertificate(identifier);
    await okOf('supervisor.challenge-install', { challenge: { type: 'tls-alpn-01', identifier } });

    const validation = await handshake(httpsPort, '1.0.0.127.in-addr.arpa', [ACME_TLS]);
    assert.equal(validation.error, undefined, JSON.stringify(validation));
    assert.equal(validation.alpn, ACME_TLS);
    assert.ok(hasAcmeIdentifier(validation, made.digest));

    await okOf('supervisor.challenge-remove', { challenge: { type: 'tls-alpn-01', identifier } });
  });

  it('answers http-01 on the plain port and redirects everything else', async () => {
    const token = randomBytes(16).toString('base64url');
    const challenge = { type: 'http-01', token, keyAuthorization: `${token}.${thumbprint}` };
    assert.deepEqual(await okOf('supervisor.challenge-install', { challenge }), { workers: 2 });

    const base = `http://127.0.0.1:${httpPort}`;
    for (const worker of WORKERS) {
      await onlyWorker(worker, async () => {
        const found = await curl(`${base}/.well-known/acme-challenge/${token}`, [
          '-w',
          '\n%{http_code} %{content_type}',
        ]);
        assert.equal(found.stdout, `${token}.${thumbprint}\n200 text/plain`, `worker ${worker}`);
      });
    }
    const unknown = await curl(`${base}/.well-known/acme-challenge/${'x'.repeat(22)}`);
    assert.match(unknown.stdout, /\n404$/);
    const elsewhere = await curl(`${base}/some/page?q=1`, ['-H', 'Host: shop.example.test']);
    assert.match(elsewhere.stdout, /\n308$/);
    const location = await run('curl', [
      '-sS',
      '-o',
      '/dev/null',
      '-w',
      '%{redirect_url}',
      `${base}/a`,
    ]);
    assert.equal(location.stdout, `https://127.0.0.1:${httpsPort}/a`);

    await okOf('supervisor.challenge-remove', { challenge });
    const removed = await curl(`${base}/.well-known/acme-challenge/${token}`);
    assert.match(removed.stdout, /\n404$/);
  });

  it('serves a still-pending challenge from a worker restarted after kill -9', async () => {
    const name = 'restart.example.test';
    const identifier = { type: 'dns', value: name } as const;
    const made = await challengeCertificate(identifier);
    const token = randomBytes(16).toString('base64url');
    const http01 = { type: 'http-01', token, keyAuthorization: `${token}.${thumbprint}` };
    await okOf('supervisor.challenge-install', { challenge: { type: 'tls-alpn-01', identifier } });
    await okOf('supervisor.challenge-install', { challenge: http01 });

    const before = workerPid(1);
    process.kill(before, 'SIGKILL');
    await until(
      () => {
        const row = supervisor.supervisor
          .childInfo()
          .find((child) => child.role === 'worker' && child.instance === 1);
        return row?.state === 'running' && row.pid !== before;
      },
      15_000,
      'worker 1 restarted',
    );

    await onlyWorker(1, async () => {
      const validation = await handshake(httpsPort, name, [ACME_TLS]);
      assert.equal(validation.error, undefined, JSON.stringify(validation));
      assert.equal(validation.alpn, ACME_TLS);
      assert.ok(hasAcmeIdentifier(validation, made.digest));
      const found = await curl(`http://127.0.0.1:${httpPort}/.well-known/acme-challenge/${token}`);
      assert.equal(found.stdout, `${token}.${thumbprint}\n200`);
    });

    await okOf('supervisor.challenge-remove', { challenge: { type: 'tls-alpn-01', identifier } });
    await okOf('supervisor.challenge-remove', { challenge: http01 });
  });

  it('refuses a challenge the keyvault has no certificate for, naming each worker', async () => {
    const identifier = { type: 'dns', value: 'uncertified.example.test' } as const;
    const answer = await ask('supervisor.challenge-install', {
      challenge: { type: 'tls-alpn-01', identifier },
    });
    assert.equal(answer.error?.code, 'handler_failed');
    assert.equal(answer.error.reason, 'worker_failed');
    assert.match(answer.error.message, /failed in 2 of 2 workers/);
    assert.match(answer.error.message, /worker 1: the keyvault holds no tls-alpn-01 certificate/);
    assert.match(answer.error.message, /worker 2: /);
    // Still pending, for a worker that starts later; removed as usual.
    const isIt = (challenge: unknown): boolean =>
      JSON.stringify(challenge) === JSON.stringify({ type: 'tls-alpn-01', identifier });
    assert.ok((await pending()).challenges.some(isIt));
    await okOf('supervisor.challenge-remove', { challenge: { type: 'tls-alpn-01', identifier } });
    assert.ok(!(await pending()).challenges.some(isIt));
  });

  it('serves a stored certificate by SNI, and the newer one after certificates-changed', async () => {
    const name = 'shop.example.com';
    const ca = await opensslCa(path.join(scratch, 'ca'));
    const first = await opensslLeaf(scratch, ca, name, 30);
    const newer = await opensslLeaf(scratch, ca, name, 60);
    const socket = path.join(supervisor.dataDir, 'control.sock');
    const importChain = async (leaf: { chainPem: string; keyPem: string }): Promise<string> => {
      const response = await controlRequest(socket, 'POST', '/v1/certificates', 10_000, {
        chain_pem: leaf.chainPem,
        key_pem: leaf.keyPem,
      });
      assert.equal(response.status, 201, JSON.stringify(response.body));
      return (response.body as { certificate: { certificateId: string } }).certificate
        .certificateId;
    };
    const announce = async () => {
      const identifiers = [{ type: 'dns', value: name }];
      assert.deepEqual(await okOf('supervisor.certificates-changed', { identifiers }), {});
    };

    const firstId = await importChain(first);
    for (const worker of WORKERS) {
      await onlyWorker(worker, async () => {
        const served = await handshake(httpsPort, name, ['http/1.1']);
        assert.equal(
          sameSerial(served, first.serial),
          true,
          `worker ${worker}: ${summary(served)}`,
        );
        const page = await curl(`https://${name}:${httpsPort}/`, [
          '--resolve',
          `${name}:${httpsPort}:127.0.0.1`,
        ]);
        assert.match(page.stdout, /\n200$/, page.stderr);
      });
    }
    // A name the keyvault has nothing for: the default certificate. No SNI
    // at all: the one for the address connected to (the local CA's here).
    const unknown = await handshake(httpsPort, 'nothing.example.com');
    assert.equal(unknown.error === undefined && unknown.subject, 'localhost');
    const bare = await handshake(httpsPort, undefined);
    assert.equal(bare.error, undefined, summary(bare));
    assert.match(new X509Certificate(bare.der).subjectAltName ?? '', /IP Address:127\.0\.0\.1/);

    // A keep-alive connection made on the first certificate.
    const open = await KeepAlive.open(httpsPort, name);
    assert.match(await open.get('/'), /^HTTP\/1\.1 200 OK/);

    // Stored, but not announced: workers keep what they loaded.
    const newerId = await importChain(newer);
    for (const worker of WORKERS) {
      const served = await onlyWorker(worker, () => handshake(httpsPort, name));
      assert.equal(sameSerial(served, first.serial), true, `worker ${worker}: ${summary(served)}`);
    }

    await announce();
    const kept: KeepAlive[] = [];
    for (const worker of WORKERS) {
      await onlyWorker(worker, async () => {
        const served = await handshake(httpsPort, name);
        assert.equal(
          sameSerial(served, newer.serial),
          true,
          `worker ${worker}: ${summary(served)}`,
        );
        const page = await curl(`https://${name}:${httpsPort}/`, [
          '--resolve',
          `${name}:${httpsPort}:127.0.0.1`,
        ]);
        assert.match(page.stdout, /\n200$/, page.stderr);
        kept.push(await KeepAlive.open(httpsPort, name));
      });
    }
    // The connection made before the change finishes on its certificate.
    assert.match(await open.get('/again'), /^HTTP\/1\.1 200 OK/);
    assert.equal(open.serial(), BigInt(`0x${first.serial}`));

    // Both deleted: new handshakes get the default certificate, and the
    // connections still open on the deleted one keep being served (uWS
    // crashed on them when a name was removed under open connections).
    const pids = WORKERS.map(workerPid);
    for (const id of [firstId, newerId]) {
      const deleted = await controlRequest(socket, 'DELETE', `/v1/certificates/${id}`);
      assert.equal(deleted.status, 204);
    }
    await announce();
    for (const worker of WORKERS) {
      const served = await onlyWorker(worker, () => handshake(httpsPort, name));
      assert.equal(served.error === undefined && served.subject, 'localhost', summary(served));
    }
    for (const connection of [open, ...kept]) {
      assert.match(await connection.get('/after-delete'), /^HTTP\/1\.1 200 OK/);
      connection.close();
    }
    // Apps left with no name are freed once their last connection closed.
    await new Promise((resolve) => setTimeout(resolve, 200));
    for (const worker of WORKERS) {
      const page = await onlyWorker(worker, () =>
        curl(`https://${name}:${httpsPort}/`, ['--resolve', `${name}:${httpsPort}:127.0.0.1`]),
      );
      assert.match(page.stdout, /\n200$/, page.stderr);
    }
    assert.deepEqual(WORKERS.map(workerPid), pids, 'no worker restarted');
    const freed = supervisor.lines.filter(
      (line) => line.role === 'worker' && line.msg === 'freed a TLS app no name is served from',
    );
    assert.ok(freed.length >= 2, 'each worker freed the apps it left behind');
  });

  it('refuses bad payloads with invalid_payload and changes nothing', async () => {
    const before = await pending();
    const refusals: [string, unknown][] = [
      [
        'supervisor.challenge-install',
        { challenge: { type: 'tls-alpn-01', identifier: { type: 'dns', value: 'bad..name' } } },
      ],
      [
        'supervisor.challenge-install',
        {
          challenge: { type: 'tls-alpn-01', identifier: { type: 'dns', value: '*.example.test' } },
        },
      ],
      [
        'supervisor.challenge-install',
        { challenge: { type: 'tls-alpn-01', identifier: { type: 'ip', value: '300.1.1.1' } } },
      ],
      [
        'supervisor.challenge-install',
        { challenge: { type: 'http-01', token: 'not base64url!', keyAuthorization: 'a.b' } },
      ],
      [
        'supervisor.challenge-install',
        { challenge: { type: 'http-01', token: 'tok', keyAuthorization: 'other.thumb' } },
      ],
      ['supervisor.challenge-install', { challenge: { type: 'dns-01', token: 'tok' } }],
      ['supervisor.challenge-install', {}],
      [
        'supervisor.challenge-remove',
        { challenge: { type: 'tls-alpn-01', identifier: { type: 'dns', value: 'a b' } } },
      ],
      ['supervisor.certificates-changed', { identifiers: [] }],
      ['supervisor.certificates-changed', { identifiers: [{ type: 'dns', value: 'x..y' }] }],
    ];
    for (const [type, payload] of refusals) {
      const answer = await ask(type, payload);
      assert.equal(answer.error?.code, 'invalid_payload', `${type} ${JSON.stringify(payload)}`);
      assert.ok(answer.error.message.length > 10, 'the message says what was wrong');
    }
    assert.deepEqual(await pending(), before);
    // The workers are unharmed: both still answer.
    for (const worker of WORKERS) {
      const served = await onlyWorker(worker, () => handshake(httpsPort, 'localhost'));
      assert.equal(served.error, undefined, JSON.stringify(served));
    }
  });
});

/** Whether the served certificate carries the tls-alpn-01 extension (with this digest). */
function hasAcmeIdentifier(result: HandshakeResult, digestHex?: string): boolean {
  if (result.error !== undefined) return false;
  // OID 1.3.6.1.5.5.7.1.31, critical, OCTET STRING { OCTET STRING (32) }.
  const oid = Buffer.from('06082b0601050507011f0101ff', 'hex');
  if (!result.der.includes(oid)) return false;
  return digestHex === undefined || result.der.includes(Buffer.from(`04220420${digestHex}`, 'hex'));
}

function sameSerial(result: HandshakeResult, serialHex: string): boolean {
  return result.error === undefined && BigInt(`0x${result.serial}`) === BigInt(`0x${serialHex}`);
}

function summary(result: HandshakeResult): string {
  return result.error === undefined
    ? `served ${result.subject} serial ${result.serial}`
    : `${result.code ?? ''} ${result.error}`;
}

function fingerprint(pem: string): string {
  return new X509Certificate(pem).fingerprint256;
}

/** One HTTP/1.1 connection kept open across requests. */
class KeepAlive {
  private buffer = '';
  private constructor(private readonly socket: tls.TLSSocket) {
    socket.on('data', (chunk: Buffer) => {
      this.buffer += chunk.toString('utf8');
    });
  }

  static open(port: number, servername: string): Promise<KeepAlive> {
    return new Promise((resolve, reject) => {
      const socket = tls.connect(
        {
          host: '127.0.0.1',
          port,
          servername,
          ALPNProtocols: ['http/1.1'],
          rejectUnauthorized: false,
        },
        () => {
          resolve(new KeepAlive(socket));
        },
      );
      socket.once('error', reject);
    });
  }

  serial(): bigint {
    return BigInt(`0x${this.socket.getPeerCertificate().serialNumber}`);
  }

  /** Send a GET and return the response head and body once it is complete. */
  async get(route: string): Promise<string> {
    this.buffer = '';
    this.socket.write(`GET ${route} HTTP/1.1\r\nHost: keep.alive\r\n\r\n`);
    const deadline = Date.now() + 5_000;
    for (;;) {
      const length = /content-length: (\d+)\r\n/i.exec(this.buffer)?.[1];
      const body = this.buffer.indexOf('\r\n\r\n');
      if (length !== undefined && body >= 0 && this.buffer.length >= body + 4 + Number(length)) {
        return this.buffer;
      }
      if (Date.now() > deadline || this.socket.destroyed) {
        throw new Error(`no whole response to GET ${route}: ${JSON.stringify(this.buffer)}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  close(): void {
    this.socket.destroy();
  }
}
