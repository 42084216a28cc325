/**
 * One supervised child process: spawning it with its IPC pipe and inherited
 * listening sockets, noticing when it is ready, restarting it with
 * exponential backoff when it dies, and stopping it within a deadline.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import type { Duplex, Readable } from 'node:stream';
import readline from 'node:readline';
import { Channel, type ChannelOptions } from '../ipc/channel.js';
import { CHILD_ENV } from '../ipc/child.js';
import type { ChildRole, EventPayload, EventType } from '../ipc/messages.js';
import type { Logger } from '../log/logger.js';
import type { LogStream } from '../log/stream.js';

export type ChildState = 'starting' | 'running' | 'backoff' | 'stopping' | 'stopped';

export interface ChildSpec {
  role: ChildRole;
  /** 1-based worker number; undefined for singleton roles. */
  instance: number | undefined;
  /** The compiled entry file that the child runs. */
  entry: string;
  /** File descriptors the child inherits as fd 4, 5, ... */
  inheritFds: number[];
  /** The child's whole environment (see child-env.ts), without the IPC variables. */
  env: Record<string, string>;
}

/** An event a child emitted, checked against the message table; narrowing on `type` types it. */
export type ChildEvent = { [T in EventType]: { type: T; payload: EventPayload<T> } }[EventType];

export interface BackoffPolicy {
  initialMs: number;
  maxMs: number;
  /** A child that ran this long before dying starts its backoff afresh. */
  resetAfterMs: number;
  /** A child that has not said it is ready in this time is killed and restarted. */
  readyTimeoutMs: number;
  /** A running child is pinged this often... */
  heartbeatMs: number;
  /** ...and killed and restarted after this many pings in a row go unanswered. */
  missedHeartbeats: number;
}

export const DEFAULT_BACKOFF: BackoffPolicy = {
  initialMs: 250,
  maxMs: 30_000,
  resetAfterMs: 30_000,
  readyTimeoutMs: 20_000,
  heartbeatMs: 5_000,
  missedHeartbeats: 3,
};

export interface ChildInfo {
  role: ChildRole;
  instance: number | undefined;
  state: ChildState;
  pid: number | undefined;
  /** Milliseconds since the current process started; undefined when none runs. */
  uptimeMs: number | undefined;
  restarts: number;
  lastExit: string | undefined;
}

export class ManagedChild {
  private process: ChildProcess | undefined;
  private channel: Channel | undefined;
  private state: ChildState = 'stopped';
  private startedAt = 0;
  private restarts = 0;
  private consecutiveFailures = 0;
  private lastExit: string | undefined;
  private restartTimer: NodeJS.Timeout | undefined;
  private readyTimer: NodeJS.Timeout | undefined;
  private heartbeat: NodeJS.Timeout | undefined;
  private missed = 0;
  private exited: Promise<void> = Promise.resolve();

  constructor(
    readonly spec: ChildSpec,
    private readonly log: Logger,
    private readonly logStream: LogStream,
    private readonly backoff: BackoffPolicy,
    /** Passes on a request this child sent to the role that answers it. */
    private readonly forward: NonNullable<ChannelOptions['forward']>,
    /** Receives every event but child.ready, which this class handles. */
    private readonly onEvent?: (event: ChildEvent) => void,
  ) {}

  /** The channel to a child that is running (ready and not stopping), or undefined. */
  get runningChannel(): Channel | undefined {
    return this.state === 'running' ? this.channel : undefined;
  }

  get name(): string {
    return this.spec.instance === undefined
      ? this.spec.role
      : `${this.spec.role}#${this.spec.instance}`;
  }

  info(): ChildInfo {
    const running =
      this.process !== undefined && this.state !== 'backoff' && this.state !== 'stopped';
    return {
      role: this.spec.role,
      instance: this.spec.instance,
      state: this.state,
      pid: running ? this.process?.pid : undefined,
      uptimeMs: running ? Date.now() - this.startedAt : undefined,
      restarts: this.restarts,
      lastExit: this.lastExit,
    };
  }

  start(): void {
    const { spec } = this;
    const stdio: ('ignore' | 'pipe' | number)[] = [
      'ignore',
      'pipe',
      'pipe',
      'pipe',
      ...spec.inheritFds,
    ];
    const child = spawn(process.execPath, [spec.entry], {
      stdio,
      env: {
        ...spec.env,
        [CHILD_ENV.ipcFd]: '3',
        ...(spec.instance === undefined ? {} : { [CHILD_ENV.instance]: String(spec.instance) }),
      },
    });
    this.process = child;
    this.startedAt = Date.now();
    this.setState('starting');

    this.exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        this.onExit(child, code, signal);
        resolve();
      });
    });
    child.once('error', (error) => {
      this.log.error('could not start child process', { child: this.name, error });
    });

    this.forwardOutput(child.stdout, 'debug', 'stdout');
    this.forwardOutput(child.stderr, 'warn', 'stderr');
    const pipe = child.stdio[3] as Duplex;
    const channel = new Channel({
      peer: spec.role,
      stream: pipe,
      onProtocolError: (problem) => {
        this.log.warn('refused a message from a child', {
          child: this.name,
          pid: child.pid,
          problem,
        });
      },
      onLog: (record) => {
        this.logStream.write(this.origin(child), record);
      },
      onEvent: (type, payload) => {
        if (type === 'child.ready') this.markReady();
        else this.onEvent?.({ type, payload } as ChildEvent);
      },
      forward: this.forward,
    });
    this.channel = channel;

    this.readyTimer = setTimeout(() => {
      this.log.error('child did not become ready in time; killing it', {
        child: this.name,
        pid: child.pid,
        timeout_ms: this.backoff.readyTimeoutMs,
      });
      child.kill('SIGKILL');
    }, this.backoff.readyTimeoutMs);
  }

  /**
   * Ask the child to drain and exit; SIGKILL it if it has not exited by the
   * deadline. Resolves once it is gone.
   */
  async stop(deadlineMs: number): Promise<void> {
    clearTimeout(this.restartTimer);
    clearTimeout(this.readyTimer);
    clearInterval(this.heartbeat);
    const child = this.process;
    if (!child || this.state === 'stopped' || this.state === 'backoff') {
      this.setState('stopped');
      return;
    }
    this.setState('stopping');

    const kill = setTimeout(() => {
      this.log.warn('child did not stop in time; killing it', { child: this.name, pid: child.pid });
      child.kill('SIGKILL');
    }, deadlineMs);
    // The drain budget leaves the child a moment to exit before the kill.
    this.channel
      ?.request('child.shutdown', { deadlineMs: Math.max(0, deadlineMs - 500) }, deadlineMs)
      .catch(() => undefined);
    await this.exited;
    clearTimeout(kill);
  }

  private markReady(): void {
    clearTimeout(this.readyTimer);
    if (this.state !== 'starting') return;
    this.setState('running');
    this.log.info('child is ready', { child: this.name, pid: this.process?.pid });
    this.missed = 0;
    this.heartbeat = setInterval(() => {
      this.checkHeartbeat();
    }, this.backoff.heartbeatMs);
  }

  /** A child that is alive but stuck (a busy loop, a deadlock) is killed and restarted. */
  private checkHeartbeat(): void {
    const channel = this.channel;
    const child = this.process;
    if (!channel || !child || this.state !== 'running') return;
    channel.request('child.ping', {}, this.backoff.heartbeatMs).then(
      () => {
        this.missed = 0;
      },
      () => {
        this.missed += 1;
        if (this.missed < this.backoff.missedHeartbeats || this.process !== child) return;
        this.log.error('child stopped answering pings; killing it', {
          child: this.name,
          pid: child.pid,
          missed: this.missed,
        });
        child.kill('SIGKILL');
      },
    );
  }

  private onExit(child: ChildProcess, code: number | null, signal: NodeJS.Signals | null): void {
    clearTimeout(this.readyTimer);
    clearInterval(this.heartbeat);
    this.channel?.close();
    this.lastExit = signal ? `signal ${signal}` : `exit code ${code ?? 'unknown'}`;
    if (this.state === 'stopping') {
      this.setState('stopped');
      this.log.info('child stopped', { child: this.name, pid: child.pid, exit: this.lastExit });
      return;
    }

    const ranMs = Date.now() - this.startedAt;
    if (ranMs >= this.backoff.resetAfterMs) this.consecutiveFailures = 0;
    const delay = Math.min(
      this.backoff.maxMs,
      this.backoff.initialMs * 2 ** this.consecutiveFailures,
    );
    this.consecutiveFailures += 1;
    this.restarts += 1;
    this.setState('backoff');
    this.log.warn('child exited unexpectedly; restarting', {
      child: this.name,
      pid: child.pid,
      exit: this.lastExit,
      restarts: this.restarts,
      retry_in_ms: delay,
    });
    this.restartTimer = setTimeout(() => {
      this.start();
    }, delay);
  }

  private setState(state: ChildState): void {
    this.state = state;
  }

  private origin(child: ChildProcess): { role: string; pid: number; instance?: number } {
    const origin: { role: string; pid: number; instance?: number } = {
      role: this.spec.role,
      pid: child.pid ?? 0,
    };
    if (this.spec.instance !== undefined) origin.instance = this.spec.instance;
    return origin;
  }

  /** A child's own stdout and stderr lines become log records of its role. */
  private forwardOutput(stream: Readable | null, level: 'debug' | 'warn', subsystem: string): void {
    if (!stream) return;
    if (!this.log.enabled(level)) {
      stream.resume(); // drained, so the child never blocks on a full pipe
      return;
    }
    const lines = readline.createInterface({ input: stream, crlfDelay: Infinity });
    const child = this.process;
    lines.on('line', (line) => {
      if (!child) return;
      this.logStream.write(this.origin(child), {
        time: new Date().toISOString(),
        level,
        subsystem,
        msg: line.slice(0, 4096),
      });
    });
  }
}
