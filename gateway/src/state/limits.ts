/**
 * The sizes state.db keeps to, in a module of their own so that the control
 * API can name them without loading SQLite.
 */

/** As many as supervisor.domains can carry to the acme-agent (acme-messages.ts). */
export const MAX_DOMAINS = 100_000;

/** Older events are deleted as new ones arrive. */
export const MAX_EVENTS = 10_000;

/** The most events one listEvents call (and one GET /v1/events) returns. */
export const MAX_EVENT_PAGE = 1_000;
