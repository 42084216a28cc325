/**
 * Real TLS clients, run as child processes: curl and openssl s_client.
 */
import { spawn } from 'node:child_process';

export interface CommandResult {
  code: number | null;
  stdout: string;
  stderr: string;
  ms: number;
}

export function run(
  command: string,
  args: string[],
  options: { input?: string; timeoutMs?: number } = {},
): Promise<CommandResult> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 15_000);
    child.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr, ms: Date.now() - started });
    });
    // A command that exits without reading its input (openssl req, at
    // times) makes this write fail with EPIPE; that is no failure of the run.
    child.stdin.on('error', () => undefined);
    child.stdin.end(options.input ?? '');
  });
}

/** GET an HTTPS URL with curl, trusting nothing (the gateway's certificate is self-signed). */
export function curl(url: string, extra: string[] = []): Promise<CommandResult> {
  return run('curl', [
    '-sS',
    '-k',
    '--max-time',
    '10',
    '-o',
    '-',
    '-w',
    '\n%{http_code}',
    ...extra,
    url,
  ]);
}

/** Open a TLS connection with openssl s_client, send `request`, and return what came back. */
export function sClient(args: string[], request = ''): Promise<CommandResult> {
  return run('openssl', ['s_client', '-ign_eof', ...args], { input: request, timeoutMs: 15_000 });
}
