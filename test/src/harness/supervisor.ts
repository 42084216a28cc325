/**
 * A Supervisor started in the test process itself, on loopback with one
 * worker and its own data directory, for tests that replace a role's entry
 * file with a misbehaving child or read the supervisor's state directly.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { LogStream } from '@gatehouse/gateway/log';
import {
  Supervisor,
  resolveRunOptions,
  type SupervisorOptions,
} from '@gatehouse/gateway/supervisor';
import { freePort } from './ports.js';

const here = path.dirname(fileURLToPath(import.meta.url));

/** The compiled fixture of this name, under test/dist/fixtures/. */
export function fixture(name: string): string {
  return path.join(here, '../fixtures', `${name}.js`);
}

export interface TestSupervisor {
  supervisor: Supervisor;
  dataDir: string;
  /** Every log line the supervisor wrote, parsed. */
  lines: Record<string, unknown>[];
  stop(): Promise<void>;
}

export async function startSupervisor(
  extra: Partial<SupervisorOptions> = {},
): Promise<TestSupervisor> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'gatehouse-supervisor-'));
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString('utf8').split('\n').filter(Boolean)) {
        lines.push(JSON.parse(line) as Record<string, unknown>);
      }
      done();
    },
  });
  try {
    const supervisor = await Supervisor.start({
      ...resolveRunOptions({
        data: dataDir,
        'https-port': String(await freePort()),
        'http-port': String(await freePort()),
        bind: ['127.0.0.1'],
        workers: '1',
      }),
      logStream: new LogStream(sink, 'json'),
      ...extra,
    });
    return {
      supervisor,
      dataDir,
      lines,
      async stop() {
        await supervisor.stop();
        fs.rmSync(dataDir, { recursive: true, force: true });
      },
    };
  } catch (error) {
    fs.rmSync(dataDir, { recursive: true, force: true });
    throw error;
  }
}

export async function until(check: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`${what} did not happen in ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
