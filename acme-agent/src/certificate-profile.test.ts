/**
 * Profiles against a CA that speaks the real HTTP interface: Pebble 2.4
 * has no profiles, so this small CA answers the directory, nonces and
 * newOrder, and records what Gatehouse sent.
 * Known gap: no test against a real CA with profiles (Pebble 2.6) yet.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { AcmeEvent } from '@gatehouse/gateway/ipc';
import { Logger } from '@gatehouse/gateway/log';
import { AcmeApi } from './acme/api.js';
import type { HttpClient, HttpRequest } from './acme/http.js';
import { AcmeWire, type Signer } from './acme/wire.js';
import { IssuerError } from './issuers.js';
import { type Ask, OrderError, obtainCertificate } from './order.js';

const CA = 'https://ca.test';

function fakeCa(profiles: Record<string, string> | undefined): {
  http: HttpClient;
  orders: unknown[];
} {
  const orders: unknown[] = [];
  const json = (status: number, body: unknown, headers: Record<string, string> = {}) => ({
    status,
    headers: { 'content-type': 'application/json', 'replay-nonce': 'n0nce', ...headers },
    body: Buffer.from(JSON.stringify(body)),
  });
  const order = {
    status: 'invalid',
    identifiers: [{ type: 'dns', value: 'a.example' }],
    authorizations: [],
    finalize: `${CA}/finalize/1`,
    error: { type: 'urn:ietf:params:acme:error:serverInternal', detail: 'test stops here' },
  };
  const http: HttpClient = (request: HttpRequest) => {
    if (request.url === `${CA}/dir`) {
      return Promise.resolve(
        json(200, {
          newNonce: `${CA}/nonce`,
          newAccount: `${CA}/account`,
          newOrder: `${CA}/order`,
          ...(profiles ? { meta: { profiles } } : {}),
        }),
      );
    }
    if (request.url === `${CA}/nonce`) return Promise.resolve(json(200, {}));
    const jws = JSON.parse(request.body ?? '{}') as { payload: string };
    if (request.url === `${CA}/order`) {
      orders.push(JSON.parse(Buffer.from(jws.payload, 'base64url').toString('utf8')));
      return Promise.resolve(json(201, order, { location: `${CA}/order/1` }));
    }
    if (request.url === `${CA}/order/1`) return Promise.resolve(json(200, order));
    return Promise.resolve(json(404, { type: 'about:blank' }));
  };
  return { http, orders };
}

// The fake CA checks no signature: the payload is what matters here.
const sign: Signer = ({ payload }) =>
  Promise.resolve({
    protected: 'e30',
    payload: payload === null ? '' : Buffer.from(JSON.stringify(payload)).toString('base64url'),
    signature: 'c2ln',
  });

async function order(profiles: Record<string, string> | undefined, profile: string | undefined) {
  const ca = fakeCa(profiles);
  const events: AcmeEvent[] = [];
  const ask: Ask = () => Promise.reject(new Error('no keyvault in this test'));
  const error = await obtainCertificate(
    {
      api: new AcmeApi(new AcmeWire(`${CA}/dir`, ca.http), sign),
      accountUrl: `${CA}/account/1`,
      issuer: `${CA}/dir`,
      thumbprint: 'thumb',
      ask,
      emit: (event) => events.push(event),
      log: new Logger(() => undefined, 'test'),
      challengeTypes: ['http-01'],
      profile,
    },
    [{ type: 'dns', value: 'a.example' }],
  ).then(
    () => undefined,
    (caught: unknown) => caught,
  );
  return { error, orders: ca.orders };
}

describe('certificate profiles on newOrder', () => {
  it('sends the profile when the CA lists it', async () => {
    const { error, orders } = await order({ shortlived: 'https://ca.test/docs' }, 'shortlived');
    assert.deepEqual(orders, [
      { identifiers: [{ type: 'dns', value: 'a.example' }], profile: 'shortlived' },
    ]);
    assert.ok(error instanceof OrderError, 'the fake order ends invalid after newOrder');
  });

  it('sends no profile member when none is configured', async () => {
    const { orders } = await order({ shortlived: 'x' }, undefined);
    assert.deepEqual(orders, [{ identifiers: [{ type: 'dns', value: 'a.example' }] }]);
  });

  it('refuses a profile the CA does not list, naming those it does, and orders nothing', async () => {
    const { error, orders } = await order({ classic: 'x', tlsserver: 'y' }, 'shortlived');
    assert.deepEqual(orders, []);
    assert.ok(error instanceof IssuerError);
    assert.equal(error.code, 'profile_not_offered');
    assert.equal(
      error.message,
      'https://ca.test/dir does not offer the certificate profile "shortlived"; ' +
        'it offers "classic", "tlsserver"',
    );
    assert.match(error.details.action ?? '', /Change or remove "profile"/);

    const none = await order(undefined, 'shortlived');
    assert.match(String(none.error), /its directory lists no profiles/);
  });
});
