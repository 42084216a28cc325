/**
 * The supervisor's single log stream. Every record, its own and its
 * children's, is written here with the role and pid of the process that
 * made it.
 */
import type { Writable } from 'node:stream';
import type { LogRecord } from '../ipc/messages.js';
import type { Level } from './logger.js';

export interface Origin {
  role: string;
  pid: number;
  /** Worker number, for workers. */
  instance?: number;
}

export type LogFormat = 'json' | 'pretty';

const LEVEL_LABEL: Record<Level, string> = {
  debug: 'DEBUG',
  info: 'INFO ',
  warn: 'WARN ',
  error: 'ERROR',
};

export class LogStream {
  constructor(
    private readonly out: Writable,
    private readonly format: LogFormat,
  ) {}

  static forStream(out: Writable & { isTTY?: boolean }): LogStream {
    return new LogStream(out, out.isTTY ? 'pretty' : 'json');
  }

  write(origin: Origin, record: LogRecord): void {
    this.out.write(this.format === 'json' ? json(origin, record) : pretty(origin, record));
  }
}

function json(origin: Origin, record: LogRecord): string {
  const line: Record<string, unknown> = {
    time: record.time,
    level: record.level,
    role: origin.role,
    pid: origin.pid,
  };
  if (origin.instance !== undefined) line.instance = origin.instance;
  line.subsystem = record.subsystem;
  line.msg = record.msg;
  for (const [key, value] of Object.entries(record.fields ?? {})) {
    if (!(key in line)) line[key] = value;
  }
  return JSON.stringify(line) + '\n';
}

function pretty(origin: Origin, record: LogRecord): string {
  const who = origin.instance === undefined ? origin.role : `${origin.role}#${origin.instance}`;
  const fields = Object.entries(record.fields ?? {})
    .map(
      ([key, value]) =>
        `${key}=${typeof value === 'string' ? quote(value) : JSON.stringify(value)}`,
    )
    .join(' ');
  const time = record.time.slice(11, 23);
  return `${time} ${LEVEL_LABEL[record.level]} ${who} [${record.subsystem}] ${record.msg}${fields ? ' ' + fields : ''}\n`;
}

function quote(value: string): string {
  return /^[\w.:/@#-]+$/.test(value) ? value : JSON.stringify(value);
}
