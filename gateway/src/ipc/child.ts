/**
 * What every child process does first: open its IPC pipe to the supervisor
 * (fd 3, set up by the supervisor's spawn), send its logs there, answer
 * pings, and drain and exit when asked. If the supervisor goes away the
 * pipe closes and the child exits, so no child outlives it.
 */
import net from 'node:net';
import { Channel } from './channel.js';
import type { ChildRole, LogRecord } from './messages.js';
import { Logger, isLevel, type Level } from '../log/logger.js';

/** Environment variables the supervisor sets for each child. */
export const CHILD_ENV = {
  ipcFd: 'GATEHOUSE_IPC_FD',
  logLevel: 'GATEHOUSE_LOG_LEVEL',
  instance: 'GATEHOUSE_INSTANCE',
} as const;

export interface ChildRuntime {
  role: ChildRole;
  /** Worker number (1-based) for workers; undefined for singletons. */
  instance: number | undefined;
  channel: Channel;
  log: Logger;
  /** Register the drain step run on `child.shutdown`, before the process exits. */
  onShutdown(drain: (deadlineMs: number) => Promise<void>): void;
  /** Tell the supervisor this process is serving. */
  ready(): void;
}

export function startChild(role: ChildRole): ChildRuntime {
  const instanceText = process.env[CHILD_ENV.instance];
  const instance = instanceText ? Number(instanceText) : undefined;
  process.title = instance === undefined ? `gatehouse ${role}` : `gatehouse ${role} ${instance}`;

  const levelText = process.env[CHILD_ENV.logLevel] ?? 'info';
  const level: Level = isLevel(levelText) ? levelText : 'info';
  const fd = Number(process.env[CHILD_ENV.ipcFd] ?? '3');

  // Records go to the supervisor; once the pipe is gone, to stderr.
  const sink = (record: LogRecord): void => {
    if (!channel.isClosed) channel.log(record);
    else process.stderr.write(JSON.stringify({ role, pid: process.pid, ...record }) + '\n');
  };
  const log = new Logger(sink, role, level);

  const stream = new net.Socket({ fd, readable: true, writable: true });
  const channel = new Channel({
    peer: 'supervisor',
    stream,
    onProtocolError: (problem) => {
      log.warn('refused a message from the supervisor', { problem });
    },
    onClose: () => {
      // The supervisor is gone (or closed us): nobody would restart or
      // route for this process any more.
      process.exit(0);
    },
  });

  let drain: (deadlineMs: number) => Promise<void> = () => Promise.resolve();
  const started = Date.now();

  channel.handle('child.ping', () => ({
    uptimeMs: Date.now() - started,
    rssBytes: process.memoryUsage.rss(),
  }));
  channel.handle('child.shutdown', async ({ deadlineMs }) => {
    await drain(deadlineMs);
    // Exit once the answer has been written out.
    setImmediate(() => process.exit(0));
    return {};
  });

  process.on('uncaughtException', (error) => {
    log.error('uncaught exception; exiting so the supervisor restarts this process', {
      error,
      stack: error.stack,
    });
    setImmediate(() => process.exit(1));
  });
  process.on('unhandledRejection', (reason) => {
    log.error('unhandled promise rejection; exiting', {
      error: reason instanceof Error ? reason : String(reason),
    });
    setImmediate(() => process.exit(1));
  });
  // The supervisor decides when children stop; a terminal's Ctrl-C reaches
  // the whole process group, and the supervisor's shutdown request follows.
  process.on('SIGINT', () => undefined);
  // A SIGTERM sent to the whole group (timeout(1), some service managers)
  // drains like a shutdown request does.
  process.once('SIGTERM', () => {
    void drain(5_000).finally(() => process.exit(0));
  });

  const runtime: ChildRuntime = {
    role,
    instance,
    channel,
    log,
    onShutdown(fn) {
      drain = fn;
    },
    ready() {
      channel.emit('child.ready', {});
    },
  };
  return runtime;
}
