/**
 * Domains across processes: added, listed and removed with the CLI and the
 * control API of a real `gatehouse run`, bad names refused with their
 * reason and nothing stored, the list kept in state.db across a restart,
 * and the round trip with the acme-agent (told of each change, reading the
 * list, its events kept and served by GET /v1/events).
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { controlRequest } from '@gatehouse/gateway/control';
import { run } from './harness/clients.js';
import { GATEHOUSE_BIN, Gatehouse } from './harness/gatehouse.js';
import { fixture, startSupervisor, until, type TestSupervisor } from './harness/supervisor.js';

interface DomainRow {
  name: string;
  added_at: string;
}

interface EventRow {
  id: number;
  time: string;
  type: string;
  payload: { identifiers: { type: string; value: string }[]; issuer: string };
}

function cli(gatehouse: Gatehouse, ...args: string[]): ReturnType<typeof run> {
  return run(GATEHOUSE_BIN, ['domains', ...args, '--data', gatehouse.dataDir]);
}

async function names(socket: string): Promise<string[]> {
  const response = await controlRequest(socket, 'GET', '/v1/domains');
  assert.equal(response.status, 200);
  return (response.body as { domains: DomainRow[] }).domains.map((domain) => domain.name);
}

/** SHA-256 of state.db, -wal and -shm together. */
function stateDigest(dataDir: string): string {
  const hash = createHash('sha256');
  for (const suffix of ['', '-wal', '-shm']) {
    const file = path.join(dataDir, `state.db${suffix}`);
    hash.update(fs.existsSync(file) ? fs.readFileSync(file) : `absent ${suffix}`);
  }
  return hash.digest('hex');
}

describe('domains in a running gatehouse', () => {
  let gatehouse: Gatehouse;

  before(async () => {
    gatehouse = await Gatehouse.start({ workers: 1 });
  });

  after(async () => {
    await gatehouse.cleanup();
  });

  it('adds, lists and removes a domain with the CLI', async () => {
    const added = await cli(gatehouse, 'add', 'WWW.Example.com');
    assert.equal(added.code, 0, added.stderr);
    assert.equal(added.stdout, 'Added domain www.example.com.\n');

    const again = await cli(gatehouse, 'add', 'www.example.com');
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, /^Domain www\.example\.com was already there \(added \d{4}-/);

    const listed = await cli(gatehouse, 'list');
    assert.equal(listed.code, 0, listed.stderr);
    assert.match(listed.stdout, /^NAME\s+ADDED\nwww\.example\.com\s+\d{4}-\d\d-\d\dT[\d:.]+Z\n$/);

    const json = await cli(gatehouse, 'list', '--json');
    const body = JSON.parse(json.stdout) as { domains: DomainRow[] };
    assert.deepEqual(
      body.domains.map((domain) => domain.name),
      ['www.example.com'],
    );
    assert.ok(Date.parse(body.domains[0]?.added_at ?? '') > Date.now() - 60_000);

    const removed = await cli(gatehouse, 'remove', 'www.example.com');
    assert.equal(removed.code, 0, removed.stderr);
    assert.equal(removed.stdout, 'Removed domain www.example.com.\n');
    assert.equal(
      (await cli(gatehouse, 'list')).stdout,
      'No domains. Add one with: gatehouse domains add NAME\n',
    );

    const absent = await cli(gatehouse, 'remove', 'www.example.com');
    assert.equal(absent.code, 1);
    assert.equal(
      absent.stderr,
      'gatehouse: No domain www.example.com; see GET /v1/domains for the list\n',
    );
  });

  it('adds, lists and removes through the control API', async () => {
    const socket = gatehouse.socketPath;
    const created = await controlRequest(socket, 'POST', '/v1/domains', 5_000, {
      name: '*.Example.NET',
    });
    assert.equal(created.status, 201);
    const { domain } = created.body as { domain: DomainRow; added: boolean };
    assert.deepEqual(created.body, { domain, added: true });
    assert.equal(domain.name, '*.example.net');

    const repeated = await controlRequest(socket, 'POST', '/v1/domains', 5_000, {
      name: '*.example.net',
    });
    assert.equal(repeated.status, 200);
    assert.deepEqual(repeated.body, { domain, added: false });

    await controlRequest(socket, 'POST', '/v1/domains', 5_000, { name: '2001:DB8:0::1' });
    await controlRequest(socket, 'POST', '/v1/domains', 5_000, { name: '192.0.2.10' });
    assert.deepEqual(await names(socket), ['*.example.net', '192.0.2.10', '2001:db8::1']);

    // The CLI sees what the API added, and removes by any spelling of it.
    assert.match((await cli(gatehouse, 'list')).stdout, /^2001:db8::1\s/m);
    assert.equal((await cli(gatehouse, 'remove', '2001:db8:0:0::1')).code, 0);

    const deleted = await controlRequest(
      socket,
      'DELETE',
      `/v1/domains/${encodeURIComponent('*.example.net')}`,
    );
    assert.equal(deleted.status, 204);
    const missing = await controlRequest(socket, 'DELETE', '/v1/domains/nothing.example');
    assert.equal(missing.status, 404);
    assert.deepEqual(missing.body, {
      error: {
        code: 'not_found',
        message: 'No domain nothing.example; see GET /v1/domains for the list',
      },
    });
    assert.deepEqual(await names(socket), ['192.0.2.10']);
    await controlRequest(socket, 'DELETE', '/v1/domains/192.0.2.10');
  });

  it('refuses bad names and bad requests with the reason, storing nothing', async () => {
    const socket = gatehouse.socketPath;
    await controlRequest(socket, 'POST', '/v1/domains', 5_000, { name: 'kept.example' });
    const before = await names(socket);

    const underscore = await cli(gatehouse, 'add', 'a_b.example');
    assert.equal(underscore.code, 1);
    assert.equal(
      underscore.stderr,
      'gatehouse: Invalid domain name: label 1 of "a_b.example" holds "_"; ' +
        'DNS names use only letters, digits and "-".\n',
    );
    assert.equal(underscore.stdout, '');

    const cases: [unknown, string, RegExp][] = [
      [{ name: '*.*.example' }, 'invalid_domain_name', /may only be the whole first label/],
      [{ name: 'example.com.' }, 'invalid_domain_name', /ends with a dot; give the name without/],
      [{ name: '300.1.1.1' }, 'invalid_domain_name', /nor a valid IP address/],
      [{ name: 'bücher.example' }, 'invalid_domain_name', /xn--bcher-kva\.example/],
      [{ name: '' }, 'invalid_domain_name', /is empty/],
      [{ name: 7 }, 'invalid_request', /^Send JSON \{"name": /],
      [{ name: 'a.example', extra: true }, 'invalid_request', /^Send JSON/],
      [undefined, 'invalid_request', /^Send JSON/],
    ];
    for (const [body, code, message] of cases) {
      const response = await controlRequest(socket, 'POST', '/v1/domains', 5_000, body);
      assert.equal(response.status, 400, JSON.stringify(body));
      const error = (response.body as { error: { code: string; message: string } }).error;
      assert.equal(error.code, code, JSON.stringify(body));
      assert.match(error.message, message, JSON.stringify(body));
    }
    const badDelete = await controlRequest(socket, 'DELETE', '/v1/domains/a%20b');
    assert.equal(badDelete.status, 400);

    assert.deepEqual(await names(socket), before);
    await controlRequest(socket, 'DELETE', '/v1/domains/kept.example');
  });

  it('exits 2 with the usage for a malformed command', async () => {
    const malformed = [
      ['add'],
      ['add', 'a.example', 'b.example'],
      ['rename', 'a.example'],
      ['add', '--json', 'a.example'],
      ['list', '--nope'],
    ];
    const results = await Promise.all(malformed.map((args) => cli(gatehouse, ...args)));
    results.forEach((result, index) => {
      const args = malformed[index]?.join(' ') ?? '';
      assert.equal(result.code, 2, args);
      assert.match(result.stderr, /^gatehouse: /, args);
      if (!args.includes('--nope')) {
        assert.match(result.stderr, /Usage: gatehouse domains add NAME \| remove NAME \| list/);
      }
    });
  });

  it('answers GET /v1/events, and refuses a bad query with what it takes', async () => {
    const socket = gatehouse.socketPath;
    const events = await controlRequest(socket, 'GET', '/v1/events?limit=5');
    assert.equal(events.status, 200);
    assert.ok(Array.isArray((events.body as { events: unknown }).events));

    for (const query of ['limit=0', 'limit=1001', 'after=-1', 'after=x', 'since=1']) {
      const response = await controlRequest(socket, 'GET', `/v1/events?${query}`);
      assert.equal(response.status, 400, query);
      assert.match(
        (response.body as { error: { message: string } }).error.message,
        /after=<event id>.*limit=<1 to 1000>/,
        query,
      );
    }
  });

  // This replaces the running gatehouse with a new one on the same data directory.
  it('keeps the domains in state.db (mode 0600) for the next gatehouse run', async () => {
    for (const name of ['one.example', '*.two.example', '198.51.100.4']) {
      const response = await controlRequest(gatehouse.socketPath, 'POST', '/v1/domains', 5_000, {
        name,
      });
      assert.equal(response.status, 201);
    }
    const listed = await controlRequest(gatehouse.socketPath, 'GET', '/v1/domains');
    assert.equal((listed.body as { domains: DomainRow[] }).domains.length, 3);

    // Not stop(): its 15 s guard timer would hold this test file open.
    const first = gatehouse;
    const exited = once(first.process, 'exit');
    first.process.kill('SIGTERM');
    assert.deepEqual(await exited, [0, null]);
    gatehouse = await Gatehouse.start({ workers: 1, dataDir: first.dataDir });

    const again = await controlRequest(gatehouse.socketPath, 'GET', '/v1/domains');
    assert.deepEqual(again.body, listed.body);
    const listedByCli = await cli(gatehouse, 'list');
    assert.match(listedByCli.stdout, /^\*\.two\.example\s.*\n198\.51\.100\.4\s.*\none\.example\s/m);
    for (const suffix of ['', '-wal', '-shm']) {
      const file = path.join(gatehouse.dataDir, `state.db${suffix}`);
      assert.equal(fs.statSync(file).mode & 0o777, 0o600, file);
    }
  });

  it('says so when gatehouse is not running', async () => {
    const result = await run(GATEHOUSE_BIN, ['domains', 'list', '--data', '/nonexistent/gh']);
    assert.equal(result.code, 1);
    assert.match(result.stderr, /^gatehouse: Gatehouse is not running on /);
  });
});

describe('domains and the acme-agent', () => {
  let test: TestSupervisor;

  before(async () => {
    test = await startSupervisor({ entries: { 'acme-agent': fixture('domains-agent') } });
  });

  after(async () => {
    await test.stop();
  });

  async function events(query = ''): Promise<EventRow[]> {
    const socket = path.join(test.dataDir, 'control.sock');
    const response = await controlRequest(socket, 'GET', `/v1/events${query}`);
    assert.equal(response.status, 200);
    return (response.body as { events: EventRow[] }).events;
  }

  it('tells the agent of each change; the agent reads the list and its events are kept', async () => {
    const socket = path.join(test.dataDir, 'control.sock');
    // The agent reports once at start, from the list it read then (empty).
    await until(
      () => test.supervisor.health().roles['acme-agent'].state === 'up',
      10_000,
      'agent up',
    );
    let seen: EventRow[] = [];
    const waitFor = async (count: number): Promise<void> => {
      const deadline = Date.now() + 10_000;
      while ((seen = await events('?after=0')).length < count) {
        if (Date.now() > deadline) assert.fail(`only ${seen.length} of ${count} events arrived`);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    };
    await waitFor(1);
    assert.equal(seen[0]?.type, 'renewal_scheduled');
    assert.deepEqual(seen[0]?.payload.identifiers, []);

    await controlRequest(socket, 'POST', '/v1/domains', 5_000, { name: 'a.example' });
    await waitFor(2);
    await controlRequest(socket, 'POST', '/v1/domains', 5_000, { name: '192.0.2.1' });
    await waitFor(3);
    // Adding a name that is there already is no change: the agent is not told.
    await controlRequest(socket, 'POST', '/v1/domains', 5_000, { name: 'a.example' });
    await controlRequest(socket, 'DELETE', '/v1/domains/a.example');
    await waitFor(4);

    assert.deepEqual(
      seen.map((event) => [event.type, event.payload.identifiers.map((i) => i.value)]),
      [
        ['renewal_scheduled', []],
        ['order_created', ['a.example']],
        ['order_created', ['192.0.2.1', 'a.example']],
        ['order_created', ['192.0.2.1']],
      ],
    );
    assert.deepEqual(
      seen[2]?.payload.identifiers.map((i) => i.type),
      ['ip', 'dns'],
    );
    const ids = seen.map((event) => event.id);
    assert.deepEqual(
      ids,
      [...ids].sort((a, b) => a - b),
    );
    assert.ok(seen.every((event) => Date.parse(event.time) > Date.now() - 60_000));

    // Paging: after an id, and the newest with a limit.
    assert.deepEqual(
      (await events(`?after=${ids[1]}&limit=1`)).map((event) => event.id),
      [ids[2]],
    );
    assert.deepEqual(
      (await events('?limit=2')).map((event) => event.id),
      ids.slice(-2),
    );

    // Each event is logged by the supervisor too.
    const logged = test.lines.filter((line) => line.msg === 'acme event');
    assert.equal(logged.length, 4, JSON.stringify(logged));
  });

  // Here nothing but a change of the list writes to state.db: this agent
  // reports only when told, where the real one also reports its retries.
  it('changes no byte of state.db for a refused name, and tells the agent nothing', async () => {
    const socket = path.join(test.dataDir, 'control.sock');
    const count = (await events('?after=0')).length;
    const digest = stateDigest(test.dataDir);

    const refused = await run(GATEHOUSE_BIN, [
      'domains',
      'add',
      'x-.example',
      '--data',
      test.dataDir,
    ]);
    assert.equal(refused.code, 1);
    assert.match(
      refused.stderr,
      /^gatehouse: Invalid domain name: label 1 of "x-\.example" starts or ends with "-"/,
    );
    for (const name of ['*.*.example', 'a..example', '10.0.0.256', 'x'.repeat(64)]) {
      const response = await controlRequest(socket, 'POST', '/v1/domains', 5_000, { name });
      assert.equal(response.status, 400, name);
    }
    assert.equal((await controlRequest(socket, 'DELETE', '/v1/domains/a_b')).status, 400);
    await new Promise((resolve) => setTimeout(resolve, 200));

    assert.equal(stateDigest(test.dataDir), digest);
    assert.equal((await events('?after=0')).length, count);
  });
});
