/**
 * One `gatehouse run` per data directory. The lock is a pid file created
 * exclusively; a file left by a process that is gone (after a crash or
 * kill -9) is recognised as stale and replaced.
 */
import fs from 'node:fs';
import path from 'node:path';

export class DataDirLockedError extends Error {
  readonly code = 'data_dir_locked';
  constructor(
    readonly dataDir: string,
    readonly pid: number,
  ) {
    super(
      `Gatehouse is already running on data directory ${dataDir} (pid ${pid}). ` +
        `Stop it first (kill ${pid}), or give this one another directory with --data.`,
    );
    this.name = 'DataDirLockedError';
  }
}

export class DataDirError extends Error {
  readonly code = 'data_dir_unusable';
  constructor(dataDir: string, cause: NodeJS.ErrnoException) {
    const why =
      cause.code === 'EACCES' || cause.code === 'EPERM'
        ? 'permission denied'
        : cause.code === 'ENOTDIR' || cause.code === 'EEXIST'
          ? 'a file of that name is in the way'
          : cause.message;
    super(
      `Cannot use data directory ${dataDir}: ${why}. ` +
        `Choose another with --data (or GATEHOUSE_DATA), or fix its permissions.`,
      { cause },
    );
    this.name = 'DataDirError';
  }
}

/** Create the data directory (private to its owner) if needed, and check it is one. */
export function prepareDataDir(dataDir: string): void {
  try {
    fs.mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    fs.accessSync(dataDir, fs.constants.W_OK | fs.constants.X_OK);
  } catch (error) {
    throw new DataDirError(dataDir, error as NodeJS.ErrnoException);
  }
}

export interface DataDirLock {
  release(): void;
}

export function lockDataDir(dataDir: string): DataDirLock {
  const file = path.join(dataDir, 'gatehouse.pid');

  for (let attempt = 0; attempt < 2; attempt += 1) {
    try {
      fs.writeFileSync(file, `${process.pid}\n`, { flag: 'wx', mode: 0o644 });
      return {
        release() {
          if (readPid(file) === process.pid) fs.rmSync(file, { force: true });
        },
      };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }

    const holder = readPid(file);
    if (holder !== undefined && holder !== process.pid && isGatehouse(holder)) {
      throw new DataDirLockedError(dataDir, holder);
    }
    fs.rmSync(file, { force: true });
  }
  throw new Error(`Could not take the lock file ${file}; check that nothing else is replacing it`);
}

function readPid(file: string): number | undefined {
  try {
    const pid = Number.parseInt(fs.readFileSync(file, 'utf8').trim(), 10);
    return Number.isSafeInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/** Is a live process with this pid a Gatehouse supervisor (not a reused pid)? */
function isGatehouse(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('gatehouse');
  } catch {
    // No procfs: a live pid is taken at its word.
    return true;
  }
}
