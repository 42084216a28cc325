import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { IpcError } from '@gatehouse/gateway/ipc';
import { HttpError } from './acme/http.js';
import { AcmeProblemError, AcmeProtocolError } from './acme/problem.js';
import { OrderError } from './order.js';
import { namesKey, worthResuming } from './order-journal.js';

const problem = (type: string, status: number): AcmeProblemError =>
  new AcmeProblemError({ type: `urn:ietf:params:acme:error:${type}`, status }, undefined);

describe('order journal: which failures keep an order for the next attempt', () => {
  it('keeps it when the CA or a Gatehouse process was out of reach, or asked to come back', () => {
    for (const error of [
      new HttpError('network', 'ECONNREFUSED'),
      new HttpError('timeout', 'slow'),
      new IpcError('unavailable', 'keyvault down'),
      new IpcError('timeout', 'no answer'),
      problem('rateLimited', 429),
      problem('serverInternal', 500),
      problem('accountDoesNotExist', 400),
    ]) {
      assert.equal(worthResuming(error), true, error.message);
    }
  });

  it('gives it up when the order or the CA’s answer is wrong', () => {
    for (const error of [
      new OrderError('order_invalid', 'invalid'),
      new OrderError('authorization_invalid', 'invalid'),
      new AcmeProtocolError('malformed_json', 'broken'),
      new HttpError('body_too_large', 'big'),
      new IpcError('handler_failed', 'key_mismatch'),
      problem('badCSR', 400),
      new Error('anything else'),
    ]) {
      assert.equal(worthResuming(error), false, error.message);
    }
  });
});

describe('order journal: names key', () => {
  it('ignores the order and case of the identifiers, not their type', () => {
    const a = namesKey([
      { type: 'dns', value: 'B.example' },
      { type: 'ip', value: '192.0.2.1' },
    ]);
    const b = namesKey([
      { type: 'ip', value: '192.0.2.1' },
      { type: 'dns', value: 'b.example' },
    ]);
    assert.equal(a, b);
    assert.notEqual(
      namesKey([{ type: 'dns', value: '192.0.2.1' }]),
      namesKey([{ type: 'ip', value: '192.0.2.1' }]),
    );
  });
});
