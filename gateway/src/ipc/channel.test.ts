/**
 * Two channels over a real Unix socket pair, as between the supervisor and
 * a child.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Channel, IpcError } from './channel.js';
import { encodeFrame } from './framing.js';
import type { RequestType } from './messages.js';

async function socketPair(dir: string): Promise<[net.Socket, net.Socket, net.Server]> {
  const file = path.join(dir, 'pair.sock');
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(file, resolve));
  const accepted = new Promise<net.Socket>((resolve) => server.once('connection', resolve));
  const client = net.connect(file);
  await new Promise<void>((resolve) => client.once('connect', resolve));
  return [client, await accepted, server];
}

describe('Channel', () => {
  let dir: string;
  let server: net.Server;
  let supervisorSide: Channel;
  let childSide: Channel;
  let rawToChild: net.Socket;
  const childProblems: string[] = [];

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gatehouse-channel-'));
    const [a, b, s] = await socketPair(dir);
    server = s;
    rawToChild = a;
    supervisorSide = new Channel({ peer: 'worker', stream: a, onProtocolError: () => undefined });
    childSide = new Channel({
      peer: 'supervisor',
      stream: b,
      onProtocolError: (problem) => childProblems.push(problem),
    });
    childSide.handle('child.ping', () => ({ uptimeMs: 5, rssBytes: 10 }));
    childSide.handle('child.shutdown', ({ deadlineMs }) => {
      if (deadlineMs === 13) throw new Error('cannot drain');
      if (deadlineMs === 14)
        throw Object.assign(new Error('vault is sealed'), { code: 'vault_sealed' });
      return new Promise(() => undefined); // never answers
    });
  });

  after(() => {
    supervisorSide.close();
    childSide.close();
    server.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('answers a request with a checked result', async () => {
    assert.deepEqual(await supervisorSide.request('child.ping', {}), { uptimeMs: 5, rssBytes: 10 });
  });

  it('times out a request that gets no answer', async () => {
    await assert.rejects(supervisorSide.request('child.shutdown', { deadlineMs: 1 }, 100), {
      name: 'IpcError',
      code: 'timeout',
    });
  });

  it('passes a handler failure back as handler_failed', async () => {
    await assert.rejects(supervisorSide.request('child.shutdown', { deadlineMs: 13 }), {
      code: 'handler_failed',
      message: 'cannot drain',
    });
  });

  it("keeps the handler's own error code as the reason", async () => {
    await assert.rejects(supervisorSide.request('child.shutdown', { deadlineMs: 14 }), {
      code: 'handler_failed',
      reason: 'vault_sealed',
      message: 'vault is sealed',
    });
  });

  it('refuses a request that claims another origin from a child', async () => {
    // Only the supervisor may speak for another role.
    await assert.rejects(childSide.request('child.ping', {}, 1_000, 'supervisor'), {
      code: 'forbidden',
      message: 'role worker may not forward requests',
    });
  });

  it('refuses a payload of the wrong shape, naming the field', async () => {
    const bad = { deadlineMs: 'soon' } as unknown as { deadlineMs: number };
    await assert.rejects(supervisorSide.request('child.shutdown', bad), (error: unknown) => {
      assert.ok(error instanceof IpcError);
      assert.equal(error.code, 'invalid_payload');
      assert.match(error.message, /deadlineMs/);
      return true;
    });
  });

  it('refuses a request the sender role may not send', async () => {
    // The supervisor end takes its peer to be a worker, and workers may
    // not ping anyone.
    await assert.rejects(childSide.request('child.ping', {}), { code: 'forbidden' });
    await assert.rejects(supervisorSide.request('no.such' as RequestType, {}), {
      code: 'unknown_type',
    });
  });

  it('survives garbage and keeps serving', async () => {
    childProblems.length = 0;
    rawToChild.write(encodeFrame('{not json'));
    rawToChild.write(
      encodeFrame(JSON.stringify({ kind: 'response', id: 999, ok: true, payload: 1 })),
    );
    rawToChild.write(encodeFrame(JSON.stringify([1, 2, 3])));
    assert.deepEqual(await supervisorSide.request('child.ping', {}), { uptimeMs: 5, rssBytes: 10 });
    assert.equal(childProblems.length, 3, JSON.stringify(childProblems));
    assert.equal(childProblems[0], 'frame is not JSON');
    assert.equal(childProblems[1], 'response to unknown request id 999');
    assert.match(childProblems[2] ?? '', /^malformed envelope: /);
  });
});
