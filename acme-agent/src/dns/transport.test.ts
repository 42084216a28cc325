/**
 * What the TCP exchange refuses, against a loopback server that answers
 * the way a broken or hostile DNS server would (no real server sends these).
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { OPCODE, RRCLASS, RRTYPE, encodeMessage } from './message.js';
import { DnsTransportError, exchange } from './transport.js';

type Reply = (query: Buffer, socket: net.Socket) => void;
let reply: Reply = () => undefined;
let server: net.Server;
let port = 0;

before(async () => {
  server = net.createServer((socket) => {
    let received = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      if (received.length >= 2 && received.length >= 2 + received.readUInt16BE(0)) {
        reply(received.subarray(2), socket);
      }
    });
    socket.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as net.AddressInfo).port;
});
after(() => {
  server.close();
});

function query(name = 'example.test'): Uint8Array {
  return encodeMessage({
    id: 0x4242,
    qr: false,
    opcode: OPCODE.QUERY,
    aa: false,
    tc: false,
    rd: false,
    ra: false,
    rcode: 0,
    questions: [{ name, type: RRTYPE.SOA, class: RRCLASS.IN }],
    answers: [],
    authorities: [],
    additionals: [],
  });
}

/** The query turned into an answer, then changed by `edit`. */
function answerWith(edit: (answer: Buffer) => Buffer): Reply {
  return (received, socket) => {
    const answer = Buffer.from(received);
    answer[2] = (answer[2] ?? 0) | 0x80;
    const body = edit(answer);
    const length = Buffer.alloc(2);
    length.writeUInt16BE(body.length);
    socket.end(Buffer.concat([length, body]));
  };
}

async function rejects(
  code: DnsTransportError['code'],
  pattern: RegExp,
  timeoutMs = 2_000,
): Promise<void> {
  await assert.rejects(
    exchange({ host: '127.0.0.1', port }, query(), timeoutMs),
    (error: unknown) => {
      assert.ok(error instanceof DnsTransportError, String(error));
      assert.equal(error.code, code, error.message);
      assert.match(error.message, pattern);
      return true;
    },
  );
}

describe('DNS over TCP exchange', () => {
  it('returns a well-formed answer to its query', async () => {
    reply = answerWith((answer) => answer);
    const { message } = await exchange({ host: '127.0.0.1', port }, query());
    assert.equal(message.id, 0x4242);
    assert.equal(message.qr, true);
  });

  it('refuses an answer with another id', async () => {
    reply = answerWith((answer) => {
      answer.writeUInt16BE(0x4243, 0);
      return answer;
    });
    await rejects('dns_mismatch', /answered with id 16963/);
  });

  it('refuses a message that is not an answer (QR clear)', async () => {
    reply = answerWith((answer) => {
      answer[2] = (answer[2] ?? 0) & 0x7f;
      return answer;
    });
    await rejects('dns_mismatch', /qr false/);
  });

  it('refuses an answer to another question', async () => {
    reply = (_received, socket) => {
      answerWith((answer) => answer)(Buffer.from(query('other.test')), socket);
    };
    await rejects('dns_mismatch', /about other\.test/);
  });

  it('refuses an announced length under a header, a cut answer and trailing bytes', async () => {
    reply = (_received, socket) => socket.end(Buffer.from([0, 5, 1, 2, 3, 4, 5]));
    await rejects('dns_malformed', /announced a 5-byte DNS answer/);
    reply = (received, socket) => socket.end(Buffer.concat([Buffer.from([0, 200]), received]));
    await rejects('dns_malformed', /closed the connection before a whole answer/);
    reply = answerWith((answer) => Buffer.concat([answer, Buffer.from([0])]));
    await rejects('dns_malformed', /1 bytes follow the last record/);
  });

  it('gives up on a server that never answers, and names an unreachable one', async () => {
    reply = () => undefined;
    await rejects('dns_timeout', /did not answer over TCP within 300 ms/, 300);
    const closed = net.createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const deadPort = (closed.address() as net.AddressInfo).port;
    await new Promise<void>((resolve) =>
      closed.close(() => {
        resolve();
      }),
    );
    await assert.rejects(exchange({ host: '127.0.0.1', port: deadPort }, query()), /ECONNREFUSED/);
  });
});
