/**
 * The one error class of state.db: each refusal has a stable `code` that
 * the control API passes on, and a message that says what went wrong and
 * what to do about it.
 */

export type StateErrorCode =
  /** A domain name that is neither a DNS name nor an IP address (see names.ts). */
  | 'invalid_domain_name'
  /** The store already holds as many domains as the IPC messages can carry. */
  | 'too_many_domains'
  /** An event whose type or payload the store does not take. */
  | 'invalid_event'
  /** state.db was written by a newer Gatehouse. */
  | 'schema_too_new'
  /** state.db cannot be created, opened or read as a database. */
  | 'state_unreadable'
  /** The store was used after close(). */
  | 'closed';

export class StateError extends Error {
  constructor(
    readonly code: StateErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'StateError';
  }
}
