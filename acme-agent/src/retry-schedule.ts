/**
 * The operator's retry schedule for failed certificates, from
 * GATEHOUSE_ACME_RETRY_SCHEDULE: seconds after the 1st, 2nd, ... failure of
 * a name, comma-separated (the last repeats). Default: agent.ts
 * RETRY_SCHEDULE_MS. A shorter schedule helps tests and a CA of one's own;
 * a public CA's rate limits want the default.
 */

export const RETRY_SCHEDULE_ENV = 'GATEHOUSE_ACME_RETRY_SCHEDULE';

const MAX_STEPS = 20;
const MAX_SECONDS = 86_400;

/** The schedule does not parse; the message names the variable and the format. */
export class RetryScheduleError extends Error {
  readonly code = 'invalid_retry_schedule';

  constructor(message: string) {
    super(message);
    this.name = 'RetryScheduleError';
  }
}

/** Milliseconds per step, from e.g. "1,2,5" or "0.5, 10, 60". */
export function parseRetrySchedule(value: string): number[] {
  const parts = value.split(',').map((part) => part.trim());
  const format =
    `${RETRY_SCHEDULE_ENV} must be 1 to ${MAX_STEPS} comma-separated numbers of seconds ` +
    `(each from 0.1 to ${MAX_SECONDS}), such as "10,30,60,300"`;
  if (parts.length < 1 || parts.length > MAX_STEPS) {
    throw new RetryScheduleError(`${format}; it has ${parts.length} steps`);
  }
  return parts.map((part) => {
    const seconds = /^\d{1,6}(\.\d{1,3})?$/.test(part) ? Number(part) : NaN;
    if (!(seconds >= 0.1 && seconds <= MAX_SECONDS)) {
      throw new RetryScheduleError(`${format}; ${JSON.stringify(part.slice(0, 40))} is not one`);
    }
    return Math.round(seconds * 1000);
  });
}
