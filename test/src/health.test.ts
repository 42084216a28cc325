/**
 * Health as the control API and the CLI report it when a role is down: a
 * keyvault that crashes at every start.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { controlRequest } from '@gatehouse/gateway/control';
import { run } from './harness/clients.js';
import { GATEHOUSE_BIN } from './harness/gatehouse.js';
import { fixture, startSupervisor, until, type TestSupervisor } from './harness/supervisor.js';

describe('a role that is down', () => {
  let supervisor: TestSupervisor;

  before(async () => {
    supervisor = await startSupervisor({ entries: { keyvault: fixture('crashing-child') } });
    await until(
      () =>
        (supervisor.supervisor.childInfo().find((c) => c.role === 'keyvault')?.restarts ?? 0) >=
          2 && supervisor.supervisor.health().roles.worker.state === 'up',
      15_000,
      'two restarts of the crashing keyvault, with the worker up',
    );
  });

  after(async () => {
    await supervisor.stop();
  });

  it('makes /v1/health answer 503 and name the role', async () => {
    const socket = path.join(supervisor.dataDir, 'control.sock');
    const health = await controlRequest(socket, 'GET', '/v1/health');
    assert.equal(health.status, 503);
    const body = health.body as { status: string; roles: Record<string, { state: string }> };
    assert.equal(body.status, 'down');
    assert.equal(body.roles.keyvault?.state, 'down');
    assert.equal(body.roles.worker?.state, 'up');
  });

  it('makes gatehouse status say so and exit 1', async () => {
    const result = await run(GATEHOUSE_BIN, ['status', '--data', supervisor.dataDir]);
    assert.equal(result.code, 1);
    assert.match(result.stdout, /^Gatehouse: down$/m);
    assert.match(
      result.stdout,
      /^keyvault\s+(backoff|starting)\s+\S+\s+\S+\s+[1-9]\d*\s+exit code 3$/m,
    );
  });

  it('answers 503 for what only the keyvault knows, and the CLI says why', async () => {
    const socket = path.join(supervisor.dataDir, 'control.sock');
    const response = await controlRequest(socket, 'GET', '/v1/ca/root');
    assert.equal(response.status, 503);
    assert.deepEqual(response.body, {
      error: {
        code: 'unavailable',
        message:
          'keyvault.ca-root cannot be answered now: the keyvault is not running; retry shortly',
      },
    });

    const cli = await run(GATEHOUSE_BIN, ['ca', 'root', '--data', supervisor.dataDir]);
    assert.equal(cli.code, 1);
    assert.match(cli.stderr, /^gatehouse: keyvault.ca-root cannot be answered now/);
  });

  it('answers an unknown endpoint with a JSON 404 that says what exists', async () => {
    const socket = path.join(supervisor.dataDir, 'control.sock');
    const response = await controlRequest(socket, 'GET', '/v1/nothing');
    assert.equal(response.status, 404);
    assert.deepEqual(response.body, {
      error: {
        code: 'not_found',
        message: 'No such endpoint: GET /v1/nothing. See the control API in the README.',
      },
    });
  });
});
