import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { chainEndsIn, topmostIssuer } from './preferred-chain.js';

let dir = '';
const pem = (name: string): string => fs.readFileSync(path.join(dir, `${name}.pem`), 'utf8');

/** A root and an intermediate it signs, made by openssl. */
function makeCa(root: string, intermediate: string, prefix: string): void {
  const file = (name: string): string => path.join(dir, name);
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
  execFileSync(
    'openssl',
    [
      ...['req', '-x509', ...ec, '-keyout', file(`${prefix}-root.key`)],
      ...['-out', file(`${prefix}-root.pem`), '-days', '1', '-subj', `/O=Test/CN=${root}`],
    ],
    { stdio: 'ignore' },
  );
  execFileSync(
    'openssl',
    [
      ...['req', ...ec, '-keyout', file(`${prefix}-int.key`), '-out', file(`${prefix}-int.csr`)],
      ...['-subj', `/CN=${intermediate}`],
    ],
    { stdio: 'ignore' },
  );
  execFileSync(
    'openssl',
    [
      ...['x509', '-req', '-in', file(`${prefix}-int.csr`), '-days', '1'],
      ...['-CA', file(`${prefix}-root.pem`), '-CAkey', file(`${prefix}-root.key`)],
      ...['-set_serial', '7', '-out', file(`${prefix}-int.pem`)],
    ],
    { stdio: 'ignore' },
  );
}

before(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gatehouse-chain-test-'));
  makeCa('Test Root X1', 'Test Intermediate E1', 'a');
  makeCa('Test Root X2', 'Test Intermediate E2', 'b');
});
after(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('preferred chain', () => {
  it("matches the topmost certificate's issuer, or the root itself when the chain carries it", () => {
    const chain = pem('a-int') + pem('a-int');
    assert.equal(chainEndsIn(chain, 'Test Root X1'), true);
    assert.equal(chainEndsIn(chain, 'Test Root X2'), false);
    assert.equal(chainEndsIn(pem('b-int') + pem('b-root'), 'Test Root X2'), true);
    assert.equal(topmostIssuer(pem('b-int')), 'Test Root X2');
  });

  it('looks at the topmost certificate only, and matches names exactly', () => {
    const chain = pem('b-int') + pem('a-int');
    assert.equal(chainEndsIn(chain, 'Test Root X1'), true);
    assert.equal(chainEndsIn(chain, 'Test Root X2'), false);
    assert.equal(chainEndsIn(chain, 'Test Root'), false);
    assert.equal(chainEndsIn('not a chain', 'Test Root X1'), false);
  });
});
