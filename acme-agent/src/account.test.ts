/**
 * The key change's promise to the operator: when the CA refuses, the old
 * key stays in use. Pebble never refuses a key change made with a fresh
 * key, so the CA here is a small one speaking the real HttpClient
 * interface, with the keyvault's answers in its place.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  type AcmeEvent,
  DEFAULT_MAX_CONCURRENT_ORDERS,
  DEFAULT_NEW_ORDER_LIMIT,
} from '@gatehouse/gateway/ipc';
import { Logger } from '@gatehouse/gateway/log';
import { AccountError, AcmeAccounts } from './account.js';
import type { HttpClient, HttpRequest, HttpResponse } from './acme/http.js';
import { issuerStates } from './issuers.js';
import type { Ask } from './order.js';

const DIRECTORY = 'https://ca.test/dir';
const ACCOUNT = 'https://ca.test/acct/1';

function json(status: number, body: unknown, headers: Record<string, string> = {}): HttpResponse {
  const type = status >= 400 ? 'application/problem+json' : 'application/json';
  return {
    status,
    headers: { 'content-type': type, 'replay-nonce': `n${String(status)}x`, ...headers },
    body: Buffer.from(JSON.stringify(body)),
  };
}

/** A CA that knows one account and refuses every key change with `refusal`. */
function refusingCa(refusal: { type: string; detail: string }): {
  http: HttpClient;
  seen: HttpRequest[];
} {
  const seen: HttpRequest[] = [];
  const http: HttpClient = (request) => {
    seen.push(request);
    if (request.method === 'GET') {
      return Promise.resolve(
        json(200, {
          newNonce: 'https://ca.test/nonce',
          newAccount: 'https://ca.test/new-acct',
          newOrder: 'https://ca.test/new-order',
          keyChange: 'https://ca.test/key-change',
          revokeCert: 'https://ca.test/revoke',
        }),
      );
    }
    if (request.method === 'HEAD') {
      return Promise.resolve({
        status: 200,
        headers: { 'replay-nonce': 'abc' },
        body: Buffer.alloc(0),
      });
    }
    if (request.url === 'https://ca.test/new-acct' || request.url === ACCOUNT) {
      return Promise.resolve(
        json(200, { status: 'valid', contact: ['mailto:ops@example.com'] }, { location: ACCOUNT }),
      );
    }
    if (request.url === 'https://ca.test/key-change') return Promise.resolve(json(409, refusal));
    return Promise.resolve(json(404, { type: 'urn:ietf:params:acme:error:malformed' }));
  };
  return { http, seen };
}

function keyvault(): { ask: Ask; asked: string[] } {
  const asked: string[] = [];
  const jws = { protected: 'p', payload: 'q', signature: 's' };
  const answers: Record<string, unknown> = {
    'keyvault.account-key': { keyId: 'key_old', jwk: { kty: 'EC' }, thumbprint: 'old-thumb' },
    'keyvault.sign-jws': jws,
    'keyvault.key-change': { newKeyId: 'key_new', jwk: { kty: 'EC' }, jws },
    'keyvault.key-change-done': { keyId: 'key_new', jwk: { kty: 'EC' }, thumbprint: 'new-thumb' },
  };
  const ask = ((type: string) => {
    asked.push(type);
    return Promise.resolve(answers[type]);
  }) as Ask;
  return { ask, asked };
}

describe('account key change', () => {
  it('keeps the old key when the CA refuses, and reports the CA problem', async () => {
    const refusal = {
      type: 'urn:ietf:params:acme:error:conflict',
      detail: 'new key is already in use for a different account',
    };
    const ca = refusingCa(refusal);
    const vault = keyvault();
    const events: AcmeEvent[] = [];
    const [issuer] = issuerStates(
      [
        {
          directoryUrl: DIRECTORY,
          email: 'ops@example.com',
          maxConcurrentOrders: DEFAULT_MAX_CONCURRENT_ORDERS,
          newOrderLimit: { ...DEFAULT_NEW_ORDER_LIMIT },
        },
      ],
      Date.now,
      () => ca.http,
    );
    const accounts = new AcmeAccounts({
      directoryUrl: DIRECTORY,
      issuer: (url) => (url === DIRECTORY ? issuer : undefined),
      ask: vault.ask,
      emit: (event) => events.push(event),
      log: new Logger(() => undefined, 'acme', 'error'),
    });

    await assert.rejects(accounts.changeKey({}), (error: unknown) => {
      assert.ok(error instanceof AccountError);
      assert.equal(error.code, 'ca_refused');
      assert.match(error.message, /already in use/);
      return true;
    });
    assert.ok(vault.asked.includes('keyvault.key-change'), 'the change was attempted');
    assert.ok(!vault.asked.includes('keyvault.key-change-done'), 'the vault was not switched');
    const view = await accounts.describe({});
    assert.equal(view.thumbprint, 'old-thumb');
    const event = events.find((e) => e.type === 'account_key_changed');
    assert.equal(event?.problem?.type, refusal.type);
    assert.equal(event.accountUrl, ACCOUNT);
  });
});
