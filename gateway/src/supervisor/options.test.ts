import assert from 'node:assert/strict';
import path from 'node:path';
import { describe, it } from 'node:test';
import { OptionError, resolveRunOptions } from './options.js';

describe('resolveRunOptions', () => {
  it('takes the data directory from the environment when no flag is given', () => {
    const options = resolveRunOptions({}, { GATEHOUSE_DATA: '/srv/gatehouse' });
    assert.equal(options.dataDir, '/srv/gatehouse');
    assert.deepEqual(options.bind, ['0.0.0.0', '::']);
    assert.equal(options.controlMode, 0o600);
    assert.equal(options.helloTimeoutMs, 10_000);
    assert.equal(resolveRunOptions({}, {}).dataDir, path.resolve('data'));
  });

  it('reads every flag', () => {
    const options = resolveRunOptions(
      {
        data: 'x',
        'https-port': '9443',
        'http-port': '9080',
        bind: ['127.0.0.1', '::1'],
        workers: '3',
        'log-level': 'debug',
        'control-mode': '660',
        'hello-timeout': '5',
      },
      {},
    );
    assert.deepEqual(
      { ...options, dataDir: path.basename(options.dataDir) },
      {
        dataDir: 'x',
        httpsPort: 9443,
        httpPort: 9080,
        bind: ['127.0.0.1', '::1'],
        workers: 3,
        logLevel: 'debug',
        controlMode: 0o660,
        helloTimeoutMs: 5_000,
      },
    );
  });

  const refusals: [string, Parameters<typeof resolveRunOptions>[0], RegExp][] = [
    [
      'a port out of range',
      { 'https-port': '0' },
      /--https-port must be a whole number from 1 to 65535 \(got "0"\)/,
    ],
    ['a port that is not a number', { 'http-port': '80a' }, /--http-port must be a whole number/],
    [
      'the same port twice',
      { 'https-port': '9000', 'http-port': '9000' },
      /must differ \(both are 9000\)/,
    ],
    ['zero workers', { workers: '0' }, /--workers must be a whole number from 1 to 64/],
    [
      'an unknown log level',
      { 'log-level': 'loud' },
      /--log-level must be one of debug, info, warn, error \(got "loud"\)/,
    ],
    ['a host name to bind', { bind: ['localhost'] }, /--bind takes an IP address/],
    [
      'a mode that is not octal',
      { 'control-mode': '999' },
      /--control-mode must be an octal file mode/,
    ],
    [
      'a hello timeout of zero',
      { 'hello-timeout': '0' },
      /--hello-timeout must be a whole number from 1 to 300/,
    ],
  ];
  for (const [what, raw, message] of refusals) {
    it(`refuses ${what} with a message that names the flag`, () => {
      assert.throws(
        () => resolveRunOptions(raw, {}),
        (error: unknown) => {
          assert.ok(error instanceof OptionError);
          assert.match(error.message, message);
          return true;
        },
      );
    });
  }
});
