import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { childEnvironment } from './child-env.js';

describe('childEnvironment', () => {
  const inherited = { PATH: '/usr/bin', GATEHOUSE_MASTER_KEY: 'c2VjcmV0', LANG: 'C.UTF-8' };

  it('gives the master key to the keyvault only', () => {
    assert.equal(childEnvironment('keyvault', inherited, {}).GATEHOUSE_MASTER_KEY, 'c2VjcmV0');
    for (const role of ['acme-agent', 'worker'] as const) {
      const env = childEnvironment(role, inherited, {});
      assert.equal('GATEHOUSE_MASTER_KEY' in env, false, role);
      assert.equal(env.PATH, '/usr/bin');
    }
  });

  it('lets the role variables win over inherited ones', () => {
    const env = childEnvironment(
      'worker',
      { ...inherited, GATEHOUSE_LOG_LEVEL: 'debug' },
      {
        GATEHOUSE_LOG_LEVEL: 'warn',
      },
    );
    assert.equal(env.GATEHOUSE_LOG_LEVEL, 'warn');
  });
});
