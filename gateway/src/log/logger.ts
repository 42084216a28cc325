/**
 * Structured logging for every Gatehouse process. A child's records travel
 * to the supervisor over IPC; the supervisor adds the child's role and pid
 * and writes one stream: JSON lines, or readable lines on a terminal.
 *
 * Lifecycle events (certificate obtained, process restarted) are not logs:
 * they go through the event channel that the control API streams.
 */
import type { LogRecord } from '../ipc/messages.js';

export const LEVELS = ['debug', 'info', 'warn', 'error'] as const;
export type Level = (typeof LEVELS)[number];
export type LogFields = Record<string, unknown>;

export function isLevel(value: string): value is Level {
  return (LEVELS as readonly string[]).includes(value);
}

export class Logger {
  constructor(
    private readonly sink: (record: LogRecord) => void,
    readonly subsystem: string,
    readonly minLevel: Level = 'info',
  ) {}

  /** A logger for a part of this process, sharing its sink and level. */
  child(subsystem: string): Logger {
    return new Logger(this.sink, subsystem, this.minLevel);
  }

  debug(msg: string, fields?: LogFields): void {
    this.write('debug', msg, fields);
  }

  info(msg: string, fields?: LogFields): void {
    this.write('info', msg, fields);
  }

  warn(msg: string, fields?: LogFields): void {
    this.write('warn', msg, fields);
  }

  error(msg: string, fields?: LogFields): void {
    this.write('error', msg, fields);
  }

  enabled(level: Level): boolean {
    return LEVELS.indexOf(level) >= LEVELS.indexOf(this.minLevel);
  }

  private write(level: Level, msg: string, fields?: LogFields): void {
    if (!this.enabled(level)) return;
    const record: LogRecord = {
      time: new Date().toISOString(),
      level,
      subsystem: this.subsystem,
      msg,
    };
    if (fields) record.fields = sanitize(fields);
    this.sink(record);
  }
}

/** The armour line of a PEM private key, of any kind. */
const PEM_KEY = /-----BEGIN [A-Z ]*PRIVATE KEY-----/;

/**
 * Errors become their name, code and message (never a stack with data in
 * it), and a string that holds a PEM private key is replaced: a last guard,
 * since no caller should ever pass one.
 */
function sanitize(fields: LogFields): LogFields {
  const out: LogFields = {};
  for (const [key, value] of Object.entries(fields)) {
    if (value instanceof Error) {
      const code = (value as { code?: unknown }).code;
      out[key] =
        typeof code === 'string'
          ? `${value.name} ${code}: ${value.message}`
          : `${value.name}: ${value.message}`;
    } else if (typeof value === 'string' && PEM_KEY.test(value)) {
      out[key] = '[redacted: key material]';
    } else {
      out[key] = value;
    }
  }
  return out;
}
