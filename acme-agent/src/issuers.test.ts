import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ACME_ISSUERS_ENV } from '@gatehouse/gateway/ipc';
import { AcmeProblemError } from './acme/problem.js';
import { explainAccountRefusal } from './external-account-binding.js';
import { IssuerError, IssuerRotation, issuersFromEnvironment } from './issuers.js';

const SECRET = 'c2VjcmV0LWhtYWMta2V5';

describe('issuer list and rotation', () => {
  it('moves a failed name to the next CA, wraps, and starts over after a success', () => {
    const rotation = new IssuerRotation(3);
    assert.equal(rotation.current('a.example'), 0);
    assert.deepEqual(rotation.failed('a.example', 0), { next: 1, wrapped: false });
    assert.equal(rotation.current('a.example'), 1);
    assert.equal(rotation.current('b.example'), 0, 'other names keep their own place');
    assert.deepEqual(rotation.failed('a.example', 1), { next: 2, wrapped: false });
    assert.deepEqual(rotation.failed('a.example', 2), { next: 0, wrapped: true });
    rotation.failed('a.example', 0);
    rotation.succeeded('a.example');
    assert.equal(rotation.current('a.example'), 0);
    assert.deepEqual(new IssuerRotation(1).failed('x', 0), { next: 0, wrapped: true });
  });

  it('reads the list from the supervisor, or one CA from the shorthand variables', () => {
    const list = [
      {
        directoryUrl: 'https://ca.test/dir',
        externalAccountBinding: { keyId: 'kid', hmacKey: SECRET },
        maxConcurrentOrders: 2,
        newOrderLimit: { orders: 5, periodSeconds: 60 },
      },
    ];
    assert.deepEqual(issuersFromEnvironment({ [ACME_ISSUERS_ENV]: JSON.stringify(list) }), list);
    assert.deepEqual(
      issuersFromEnvironment({
        GATEHOUSE_ACME_DIRECTORY: 'https://ca.test/dir',
        GATEHOUSE_ACME_EMAIL: 'ops@example.com',
      }),
      [
        {
          directoryUrl: 'https://ca.test/dir',
          email: 'ops@example.com',
          maxConcurrentOrders: 8,
          newOrderLimit: { orders: 300, periodSeconds: 10_800 },
        },
      ],
    );
  });

  it('refuses a broken list by the path of the fault, never showing a value', () => {
    const broken = [
      {
        directoryUrl: 'https://ca.test/dir',
        externalAccountBinding: { keyId: 'kid', hmacKey: `${SECRET}==` },
        maxConcurrentOrders: 2,
        newOrderLimit: { orders: 5, periodSeconds: 60 },
      },
    ];
    assert.throws(
      () => issuersFromEnvironment({ [ACME_ISSUERS_ENV]: JSON.stringify(broken) }),
      (error: Error) =>
        error instanceof IssuerError &&
        error.code === 'invalid_issuers' &&
        error.message.includes('0.externalAccountBinding.hmacKey') &&
        !error.message.includes(SECRET),
    );
    assert.throws(() => issuersFromEnvironment({ [ACME_ISSUERS_ENV]: '{' }), /at \(root\)/);
  });

  it("explains a CA's refusal of the account binding, and leaves transient problems alone", () => {
    const issuer = {
      directoryUrl: 'https://ca.test/dir',
      externalAccountBinding: { keyId: 'kid-7', hmacKey: SECRET },
      maxConcurrentOrders: 1,
      newOrderLimit: { orders: 1, periodSeconds: 1 },
    };
    const refused = new AcmeProblemError(
      { type: 'urn:ietf:params:acme:error:unauthorized', detail: 'bad MAC', status: 403 },
      undefined,
    );
    const explained = explainAccountRefusal(refused, issuer);
    assert.ok(explained instanceof IssuerError);
    assert.equal(explained.code, 'account_refused');
    assert.equal(explained.details.problem, refused.problem);
    assert.match(explained.details.action ?? '', /key id "kid-7".*check keyId and hmacKey/);
    assert.ok(!JSON.stringify(explained.details).includes(SECRET));
    assert.ok(!explained.message.includes(SECRET));

    const busy = new AcmeProblemError(
      { type: 'urn:ietf:params:acme:error:rateLimited', status: 429 },
      undefined,
    );
    assert.equal(explainAccountRefusal(busy, issuer), busy);
    const unbound = { ...issuer, externalAccountBinding: undefined };
    assert.equal(explainAccountRefusal(refused, unbound), refused);
  });
});
