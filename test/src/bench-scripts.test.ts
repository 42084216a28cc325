/**
 * The keyvault's benchmark scripts still run against the code as it is now.
 *
 * They are plain JavaScript over the built packages, outside the type check,
 * so a renamed export breaks them silently. Each runs here at its smallest
 * size; the figures are not judged (benchmarks are not tests), only that
 * every figure is printed and the script exits 0.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { describe, it } from 'node:test';
import { run } from './harness/clients.js';
import { REPO_ROOT } from './harness/gatehouse.js';

const script = (name: string): string => path.join(REPO_ROOT, 'scripts', name);

describe('benchmark scripts, at their smallest', () => {
  it('bench-keyvault-store fills, opens, starts and reads a small vault', async () => {
    const result = await run(
      script('bench-keyvault-store'),
      ['--certificates', '5', '--seconds', '1'],
      {
        timeoutMs: 60_000,
      },
    );
    assert.equal(result.code, 0, result.stderr);
    for (const figure of ['fill:', 'open, this process:', 'start, new process:', 'bundle reads:']) {
      assert.match(
        result.stdout,
        new RegExp(`^${figure}`, 'm'),
        `${figure} missing:\n${result.stdout}`,
      );
    }
  });

  it('bench-keyvault measures every operation over IPC', async () => {
    const result = await run(script('bench-keyvault'), ['1'], { timeoutMs: 90_000 });
    assert.equal(result.code, 0, result.stderr);
    for (const operation of [
      'es256JwsPerSecond',
      'challengeCertificatesPerSecond',
      'p256CsrsPerSecond',
      'bundleReadsPerSecond',
    ]) {
      assert.match(
        result.stdout,
        new RegExp(`\\| ${operation} +\\| +[1-9]\\d* \\|`),
        `${operation} missing or zero:\n${result.stdout}`,
      );
    }
  });
});
