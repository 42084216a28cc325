/**
 * Starts a real `gatehouse run` (bin/gatehouse) on loopback with its own
 * data directory and ports, and guarantees that every process it started is
 * gone and its directory removed at the end, even when a test fails.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { controlRequest, type ProcessRow } from '@gatehouse/gateway/control';

export type { ProcessRow };
import { freePort } from './ports.js';

const here = path.dirname(fileURLToPath(import.meta.url));
export const REPO_ROOT = path.resolve(here, '../../..');
export const GATEHOUSE_BIN = path.join(REPO_ROOT, 'bin/gatehouse');

export interface StartOptions {
  workers?: number;
  extraArgs?: string[];
  /** Wait for every process to be running; default true. */
  waitHealthy?: boolean;
  /** A command that execs the rest, such as ['prlimit', '--nofile=256:256']. */
  wrapper?: string[];
  /** Variables added to the environment of gatehouse run. */
  env?: Record<string, string>;
  /** Use this data directory instead of a new one; cleanup() removes it all the same. */
  dataDir?: string;
  /** Ports to serve on (a test CA must know them first); free ones by default. */
  httpsPort?: number;
  httpPort?: number;
}

export class Gatehouse {
  readonly output: string[] = [];
  private exitCode: number | null | undefined;
  private readonly exited: Promise<void>;
  /** Every pid seen in /v1/processes, killed at cleanup if still alive. */
  private readonly seenPids = new Set<number>();

  private constructor(
    readonly process: ChildProcess,
    readonly dataDir: string,
    readonly httpsPort: number,
    readonly httpPort: number,
  ) {
    const collect = (chunk: Buffer): void => {
      this.output.push(...chunk.toString('utf8').split('\n').filter(Boolean));
    };
    process.stdout?.on('data', collect);
    process.stderr?.on('data', collect);
    this.exited = new Promise((resolve) => {
      process.once('exit', (code) => {
        this.exitCode = code;
        resolve();
      });
    });
  }

  static async start(options: StartOptions = {}): Promise<Gatehouse> {
    const dataDir = options.dataDir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'gatehouse-test-'));
    const httpsPort = options.httpsPort ?? (await freePort());
    const httpPort = options.httpPort ?? (await freePort());
    const argv = [...(options.wrapper ?? []), GATEHOUSE_BIN];
    const command = argv.shift() ?? GATEHOUSE_BIN;
    const child = spawn(
      command,
      [
        ...argv,
        'run',
        '--data',
        dataDir,
        '--https-port',
        String(httpsPort),
        '--http-port',
        String(httpPort),
        '--bind',
        '127.0.0.1',
        '--bind',
        '::1',
        '--workers',
        String(options.workers ?? 2),
        ...(options.extraArgs ?? []),
      ],
      { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...options.env } },
    );
    const gatehouse = new Gatehouse(child, dataDir, httpsPort, httpPort);
    if (options.waitHealthy ?? true) {
      try {
        await gatehouse.waitFor(async () => {
          const health = await gatehouse.health();
          return (health.body as { status?: string } | undefined)?.status === 'ok';
        }, 20_000);
        await gatehouse.processes();
      } catch (error) {
        await gatehouse.cleanup();
        throw new Error(`gatehouse did not become healthy:\n${gatehouse.output.join('\n')}`, {
          cause: error,
        });
      }
    }
    return gatehouse;
  }

  get socketPath(): string {
    return path.join(this.dataDir, 'control.sock');
  }

  get running(): boolean {
    return this.exitCode === undefined;
  }

  async health(): Promise<{ status: number; body: unknown }> {
    try {
      return await controlRequest(this.socketPath, 'GET', '/v1/health', 2_000);
    } catch {
      return { status: 0, body: undefined };
    }
  }

  async processes(): Promise<ProcessRow[]> {
    const response = await controlRequest(this.socketPath, 'GET', '/v1/processes', 2_000);
    const rows = (response.body as { processes: ProcessRow[] }).processes;
    for (const row of rows) if (row.pid !== null) this.seenPids.add(row.pid);
    return rows;
  }

  async waitFor(check: () => Promise<boolean> | boolean, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (await check()) return;
      if (Date.now() > deadline) throw new Error(`condition not met in ${timeoutMs} ms`);
      if (!this.running) throw new Error(`gatehouse exited:\n${this.output.join('\n')}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  /** Signal and wait; resolves with the exit code and how long the stop took. */
  async stop(
    timeoutMs = 15_000,
    signal: NodeJS.Signals = 'SIGTERM',
  ): Promise<{ code: number | null; ms: number }> {
    const started = Date.now();
    if (this.running) this.process.kill(signal);
    let timeout: NodeJS.Timeout | undefined;
    const timer = new Promise<'timeout'>((resolve) => {
      timeout = setTimeout(() => {
        resolve('timeout');
      }, timeoutMs);
    });
    // The timer is cleared either way, so that it keeps no test file open.
    const outcome = await Promise.race([this.exited.then(() => 'exited' as const), timer]);
    clearTimeout(timeout);
    if (outcome === 'timeout') throw new Error(`gatehouse did not stop within ${timeoutMs} ms`);
    return { code: this.exitCode ?? null, ms: Date.now() - started };
  }

  /**
   * Pids seen during the run that are still alive and still Gatehouse's (a
   * pid reused by an unrelated process is not ours to kill).
   */
  livePids(): number[] {
    return [...this.seenPids].filter((pid) => {
      try {
        return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('gatehouse');
      } catch {
        return false;
      }
    });
  }

  /** Kill whatever is left (only pids this run started) and remove the data directory. */
  async cleanup(): Promise<void> {
    if (this.running && this.process.pid !== undefined) this.seenPids.add(this.process.pid);
    for (const pid of this.livePids()) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    if (this.running) await this.exited;
    fs.rmSync(this.dataDir, { recursive: true, force: true });
  }
}
