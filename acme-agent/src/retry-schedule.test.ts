import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RetryScheduleError, parseRetrySchedule } from './retry-schedule.js';

describe('parseRetrySchedule', () => {
  it('reads seconds as milliseconds, decimals and spaces allowed', () => {
    assert.deepEqual(parseRetrySchedule('1,2,5'), [1_000, 2_000, 5_000]);
    assert.deepEqual(parseRetrySchedule(' 0.5 , 30 '), [500, 30_000]);
  });

  for (const bad of ['', 'fast', '1,,2', '-1', '0', '0.01', '86401', '1e3', '5s', ' , ']) {
    it(`refuses ${JSON.stringify(bad)} naming the variable and the format`, () => {
      assert.throws(
        () => parseRetrySchedule(bad),
        (error: unknown) =>
          error instanceof RetryScheduleError &&
          error.code === 'invalid_retry_schedule' &&
          /GATEHOUSE_ACME_RETRY_SCHEDULE must be .* such as "10,30,60,300"/.test(error.message),
      );
    });
  }

  it('refuses more than 20 steps', () => {
    assert.throws(() => parseRetrySchedule(Array(21).fill('1').join(',')), /it has 21 steps/);
  });
});
