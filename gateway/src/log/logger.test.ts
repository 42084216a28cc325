import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { describe, it } from 'node:test';
import type { LogRecord } from '../ipc/messages.js';
import { Logger } from './logger.js';
import { LogStream } from './stream.js';

function collect(): { out: Writable; text: () => string } {
  let text = '';
  const out = new Writable({
    write(chunk: Buffer, _encoding, done) {
      text += chunk.toString('utf8');
      done();
    },
  });
  return { out, text: () => text };
}

describe('Logger', () => {
  it('drops records below its level and keeps the subsystem of each child', () => {
    const records: LogRecord[] = [];
    const log = new Logger((record) => records.push(record), 'worker', 'info');
    log.debug('hidden');
    log.child('acceptor').warn('seen', { attempt: 2 });
    assert.equal(records.length, 1);
    assert.equal(records[0]?.subsystem, 'acceptor');
    assert.equal(records[0]?.level, 'warn');
    assert.deepEqual(records[0]?.fields, { attempt: 2 });
  });

  it('writes errors as name, code and message, and never key material', () => {
    const records: LogRecord[] = [];
    const log = new Logger((record) => records.push(record), 'keyvault');
    const error = Object.assign(new Error('boom'), { code: 'EACCES' });
    log.error('failed', {
      error,
      pem: '-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49\n-----END PRIVATE KEY-----\n',
    });
    assert.deepEqual(records[0]?.fields, {
      error: 'Error EACCES: boom',
      pem: '[redacted: key material]',
    });
  });
});

describe('LogStream', () => {
  const record: LogRecord = {
    time: '2026-12-03T17:20:01.123Z',
    level: 'warn',
    subsystem: 'children',
    msg: 'child exited unexpectedly; restarting',
    fields: { child: 'worker#2', retry_in_ms: 250, exit: 'signal SIGKILL' },
  };

  it('writes one JSON object per line with role and pid', () => {
    const sink = collect();
    new LogStream(sink.out, 'json').write({ role: 'worker', pid: 42, instance: 2 }, record);
    const lines = sink.text().split('\n');
    assert.equal(lines.length, 2);
    assert.deepEqual(JSON.parse(lines[0] ?? ''), {
      time: record.time,
      level: 'warn',
      role: 'worker',
      pid: 42,
      instance: 2,
      subsystem: 'children',
      msg: record.msg,
      child: 'worker#2',
      retry_in_ms: 250,
      exit: 'signal SIGKILL',
    });
  });

  it('writes readable lines for a terminal', () => {
    const sink = collect();
    new LogStream(sink.out, 'pretty').write({ role: 'worker', pid: 42, instance: 2 }, record);
    assert.equal(
      sink.text(),
      '17:20:01.123 WARN  worker#2 [children] child exited unexpectedly; restarting ' +
        'child=worker#2 retry_in_ms=250 exit="signal SIGKILL"\n',
    );
  });

  it('chooses the format by whether the stream is a terminal', () => {
    const sink = collect();
    const tty = Object.assign(sink.out, { isTTY: true });
    LogStream.forStream(tty).write({ role: 'supervisor', pid: 1 }, record);
    assert.match(sink.text(), /^17:20:01\.123 WARN {2}supervisor \[children\]/);
  });
});
