export { Supervisor, ROLE_ENTRIES, type SupervisorOptions } from './supervisor.js';
export { resolveRunOptions, OptionError, type RunOptions } from './options.js';
export { DataDirError, DataDirLockedError } from './lock.js';
export type { ChildInfo, ChildState, BackoffPolicy } from './managed-child.js';
