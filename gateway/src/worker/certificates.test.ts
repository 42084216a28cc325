import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { IpcError } from '../ipc/channel.js';
import { Logger } from '../log/logger.js';
import type { LogRecord } from '../ipc/messages.js';
import { CertificateLoader, addressKey, type CertificateTarget } from './certificates.js';
import type { Identifier } from './names.js';
import type { NamedCertificate } from './tls-apps.js';

/** Records what would be loaded into uWS. */
class FakeTarget {
  readonly loaded = new Map<string, string>();
  readonly loads: string[] = [];
  certificateId(name: string): string | undefined {
    return this.loaded.get(name);
  }
  keys(): Iterable<string> {
    return this.loaded.keys();
  }
  get size(): number {
    return this.loaded.size;
  }
  load(name: string, certificate: NamedCertificate): void {
    this.loaded.set(name, certificate.certificateId);
    this.loads.push(`${name}=${certificate.certificateId}`);
  }
  unload(name: string): void {
    this.loaded.delete(name);
  }
}
const checkTarget: (target: FakeTarget) => CertificateTarget = (target) => target;

/** A keyvault whose answers the test releases by hand. */
class FakeKeyvault {
  readonly asked: string[] = [];
  readonly #waiting: {
    name: string;
    resolve: (value: NamedCertificate | null) => void;
    reject: (error: Error) => void;
  }[] = [];

  lookup = ({ type, value }: Identifier): Promise<NamedCertificate | null> => {
    const name = type === 'ip' ? `ip:${value}` : value;
    this.asked.push(name);
    return new Promise((resolve, reject) => this.#waiting.push({ name, resolve, reject }));
  };

  answer(name: string, certificateId: string | null, which: 'first' | 'last' = 'first'): void {
    const index =
      which === 'first'
        ? this.#waiting.findIndex((waiting) => waiting.name === name)
        : this.#waiting.findLastIndex((waiting) => waiting.name === name);
    const [waiting] = this.#waiting.splice(index, 1);
    assert.ok(waiting, `no lookup of ${name} is waiting`);
    waiting.resolve(certificateId === null ? null : certificate(certificateId));
  }

  fail(name: string, error: Error): void {
    const index = this.#waiting.findIndex((waiting) => waiting.name === name);
    const [waiting] = this.#waiting.splice(index, 1);
    assert.ok(waiting, `no lookup of ${name} is waiting`);
    waiting.reject(error);
  }
}

function certificate(certificateId: string): NamedCertificate {
  return { certificateId, certPem: 'cert', keyPem: 'key' };
}

function setup(options: ConstructorParameters<typeof CertificateLoader>[3] = {}) {
  const target = new FakeTarget();
  const keyvault = new FakeKeyvault();
  const logs: LogRecord[] = [];
  const loader = new CertificateLoader(
    checkTarget(target),
    keyvault.lookup,
    new Logger((record) => logs.push(record), 'test', 'debug'),
    { waitMs: 200, ...options },
  );
  return { target, keyvault, loader, logs };
}

const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('CertificateLoader', () => {
  it('asks the keyvault once per name, however many connections wait for it', async () => {
    const { target, keyvault, loader } = setup();
    const waits = [1, 2, 3].map(() => loader.prepare('shop.example.com'));
    assert.ok(waits.every((wait) => wait !== undefined));
    assert.deepEqual(keyvault.asked, ['shop.example.com']);

    keyvault.answer('shop.example.com', 'crt_1');
    await Promise.all(waits);
    assert.deepEqual(target.loads, ['shop.example.com=crt_1']);
    assert.equal(loader.prepare('shop.example.com'), undefined, 'loaded: no wait');
    assert.deepEqual(keyvault.asked, ['shop.example.com']);
  });

  it('remembers a name with no certificate for missTtlMs, a bounded number of names', async () => {
    const { keyvault, loader } = setup({ missTtlMs: 50, maxMisses: 2 });
    for (const name of ['a.test', 'b.test', 'c.test']) {
      const wait = loader.prepare(name);
      keyvault.answer(name, null);
      await wait;
    }
    assert.equal(loader.prepare('c.test'), undefined, 'a miss is not asked again');
    assert.equal(loader.prepare('b.test'), undefined);
    // a.test was the oldest of three misses with room for two.
    assert.ok(loader.prepare('a.test'));
    keyvault.answer('a.test', null);

    await new Promise((resolve) => setTimeout(resolve, 60));
    assert.ok(loader.prepare('c.test'), 'asked again once the miss expired');
  });

  it('runs at most maxConcurrent lookups; past that a connection gets the default at once', () => {
    const { keyvault, loader } = setup({ maxConcurrent: 2 });
    assert.ok(loader.prepare('a.test'));
    assert.ok(loader.prepare('b.test'));
    assert.equal(loader.prepare('c.test'), undefined);
    assert.ok(loader.prepare('a.test'), 'joining a running lookup costs nothing');
    assert.deepEqual(keyvault.asked, ['a.test', 'b.test']);
    assert.equal(loader.stats.overLimit, 1);
  });

  it('lets a connection wait waitMs at most, and loads a late answer for the next one', async () => {
    const { target, keyvault, loader } = setup({ waitMs: 30 });
    const started = Date.now();
    await loader.prepare('slow.test');
    assert.ok(Date.now() - started < 1_000);
    assert.equal(target.certificateId('slow.test'), undefined);

    keyvault.answer('slow.test', 'crt_late');
    await tick();
    assert.equal(target.certificateId('slow.test'), 'crt_late');
  });

  it('asks again soon after a failure, and much later after a refusal', async () => {
    const { keyvault, loader, logs } = setup({ failureTtlMs: 20, missTtlMs: 60_000 });
    let wait = loader.prepare('down.test');
    keyvault.fail('down.test', new IpcError('unavailable', 'the keyvault is not running'));
    await wait;
    wait = loader.prepare('refused.test');
    keyvault.fail('refused.test', new IpcError('handler_failed', 'no such name'));
    await wait;
    assert.ok(logs.some((record) => record.level === 'warn' && /lookup failed/.test(record.msg)));

    await new Promise((resolve) => setTimeout(resolve, 30));
    assert.ok(loader.prepare('down.test'));
    assert.equal(loader.prepare('refused.test'), undefined);
  });

  it('reload loads the newest certificate, and a stale answer arriving later does not undo it', async () => {
    const { target, keyvault, loader } = setup();
    const wait = loader.prepare('shop.example.com'); // asked before the change
    const reloaded = loader.reload([{ type: 'dns', value: 'Shop.Example.com' }]);
    assert.deepEqual(keyvault.asked, ['shop.example.com', 'shop.example.com']);

    keyvault.answer('shop.example.com', 'crt_new', 'last');
    await reloaded;
    assert.equal(target.certificateId('shop.example.com'), 'crt_new');
    keyvault.answer('shop.example.com', 'crt_old');
    await wait;
    assert.equal(target.certificateId('shop.example.com'), 'crt_new');
  });

  it('reload forgets misses, reaches names under a wildcard, and fails when the keyvault does', async () => {
    const { target, keyvault, loader } = setup();
    for (const name of ['a.example.test', 'b.example.test', 'deep.a.example.test']) {
      const wait = loader.prepare(name);
      keyvault.answer(name, null);
      await wait;
    }
    const reloaded = loader.reload([{ type: 'dns', value: '*.example.test' }]);
    assert.deepEqual(keyvault.asked.slice(3).sort(), ['a.example.test', 'b.example.test']);
    keyvault.answer('a.example.test', 'crt_a');
    keyvault.answer('b.example.test', 'crt_b');
    await reloaded;
    assert.equal(target.certificateId('a.example.test'), 'crt_a');

    const failing = loader.reload([{ type: 'dns', value: 'a.example.test' }]);
    keyvault.fail('a.example.test', new IpcError('timeout', 'no answer'));
    await assert.rejects(failing, /no answer/);
    assert.equal(target.certificateId('a.example.test'), 'crt_a', 'kept what it had');
  });

  it('finds a certificate by local address for clients without SNI', async () => {
    const { target, keyvault, loader } = setup();
    const key = addressKey('::0:1') ?? '';
    assert.equal(key, 'ip:0:0:0:0:0:0:0:1');
    assert.equal(addressKey('0.0.0.0'), undefined, 'no connection arrives on a wildcard');
    const wait = loader.prepare(key);
    assert.deepEqual(keyvault.asked, ['ip:0:0:0:0:0:0:0:1']);
    keyvault.answer(key, 'crt_ip');
    await wait;
    assert.equal(target.certificateId(key), 'crt_ip');

    const reloaded = loader.reload([{ type: 'ip', value: '::1' }]);
    keyvault.answer(key, 'crt_ip2');
    await reloaded;
    assert.equal(target.certificateId(key), 'crt_ip2');
  });

  it('unloads a name the keyvault no longer has a certificate for', async () => {
    const { target, keyvault, loader } = setup();
    const wait = loader.prepare('gone.test');
    keyvault.answer('gone.test', 'crt_1');
    await wait;
    const reloaded = loader.reload([{ type: 'dns', value: 'gone.test' }]);
    keyvault.answer('gone.test', null);
    await reloaded;
    assert.equal(target.certificateId('gone.test'), undefined);
    assert.equal(loader.prepare('gone.test'), undefined, 'now a remembered miss');
  });
});
