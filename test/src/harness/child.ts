/**
 * A peer process a test or benchmark starts (Pebble, challtestsrv, named,
 * Caddy): its output tail kept for error messages, its exit described,
 * and signals sent by PID only while it has not been reaped, so a stop can
 * never hit a process someone else started with a recycled PID.
 */
import { spawn, type ChildProcess } from 'node:child_process';

const OUTPUT_LINES_KEPT = 200;
const STOP_GRACE_MS = 5_000;

export interface ChildOptions {
  /** Added to this process's environment. */
  env?: Record<string, string>;
  /** The Debian package to name when the command is missing. */
  debianPackage?: string;
  /** Sees every line the child writes, stdout and stderr. */
  onLine?: (line: string) => void;
}

export class Child {
  readonly process: ChildProcess;
  /** Resolves once the child exited and its output pipes are drained. */
  readonly exited: Promise<void>;
  private readonly lines: string[] = [];
  private exit: string | undefined;
  private reaped = false;

  constructor(
    readonly command: string,
    args: string[],
    options: ChildOptions = {},
  ) {
    this.process = spawn(command, args, {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ...options.env },
    });
    const collect = (chunk: Buffer): void => {
      const lines = chunk.toString('utf8').split('\n').filter(Boolean);
      this.lines.push(...lines);
      this.lines.splice(0, this.lines.length - OUTPUT_LINES_KEPT);
      if (options.onLine) lines.forEach(options.onLine);
    };
    this.process.stdout?.on('data', collect);
    this.process.stderr?.on('data', collect);
    this.process.once('exit', () => {
      this.reaped = true;
    });

    // 'close' comes after 'exit' and after the output pipes are drained, so
    // a fatal message written just before exiting is in the tail.
    this.exited = new Promise((resolve) => {
      this.process.once('close', (code, signal) => {
        this.exit ??= signal === null ? `exited with code ${code}` : `was killed by ${signal}`;
        resolve();
      });
      // A command that cannot be spawned never emits 'exit'.
      this.process.once('error', (error: NodeJS.ErrnoException) => {
        if (this.process.pid !== undefined) return;
        const install = options.debianPackage
          ? ` (install it: apt-get install ${options.debianPackage})`
          : '';
        this.exit ??=
          error.code === 'ENOENT'
            ? `could not be run: ${command} not found${install}`
            : `could not be run: ${error.message}`;
        resolve();
      });
    });
  }

  get pid(): number | undefined {
    return this.process.pid;
  }

  get running(): boolean {
    return this.exit === undefined;
  }

  /** "is running", or how it ended. */
  get state(): string {
    return this.exit ?? 'is running';
  }

  /** Signal by PID, only while not yet reaped: after 'exit' the PID may be someone else's. */
  signal(signal: NodeJS.Signals): void {
    if (this.reaped || this.pid === undefined) return;
    try {
      process.kill(this.pid, signal);
    } catch {
      // exited between the check and the kill
    }
  }

  /** SIGTERM, then SIGKILL after a grace period; throws if it survives both. */
  async stop(graceMs = STOP_GRACE_MS): Promise<void> {
    this.signal('SIGTERM');
    if (await this.exitsWithin(graceMs)) return;
    this.signal('SIGKILL');
    if (await this.exitsWithin(graceMs)) return;
    throw new Error(`${this.command} (pid ${this.pid}) survived SIGKILL`);
  }

  exitsWithin(ms: number): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => {
        resolve(false);
      }, ms);
    });
    return Promise.race([this.exited.then(() => true), timeout]).finally(() => {
      clearTimeout(timer);
    });
  }

  /** How it ended (or that it runs) and its last output lines, for an error message. */
  describe(lines = 30): string {
    const tail = this.lines.length === 0 ? '(none)' : this.lines.slice(-lines).join('\n');
    return `\n--- ${this.command} ${this.state}; its last output:\n${tail}`;
  }
}
