/**
 * A small HTTP client for the control socket, used by the CLI.
 */
import http from 'node:http';

export class ControlSocketError extends Error {
  constructor(
    readonly code: 'not_running' | 'permission' | 'bad_response',
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'ControlSocketError';
  }
}

export interface ControlResponse {
  status: number;
  body: unknown;
}

export function controlRequest(
  socketPath: string,
  method: string,
  path: string,
  timeoutMs = 5_000,
  body?: unknown,
): Promise<ControlResponse> {
  const payload = body === undefined ? undefined : JSON.stringify(body);
  const headers: Record<string, string> =
    payload === undefined ? {} : { 'content-type': 'application/json' };
  return new Promise((resolve, reject) => {
    const options = { socketPath, method, path, timeout: timeoutMs, headers };
    const request = http.request(options, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        if (text === '') {
          resolve({ status: response.statusCode ?? 0, body: undefined });
          return;
        }
        try {
          resolve({ status: response.statusCode ?? 0, body: JSON.parse(text) as unknown });
        } catch (cause) {
          reject(
            new ControlSocketError(
              'bad_response',
              `${path} answered with something that is not JSON`,
              {
                cause,
              },
            ),
          );
        }
      });
    });
    request.on('timeout', () => {
      request.destroy(new Error(`no answer in ${timeoutMs} ms`));
    });
    request.on('error', (cause: NodeJS.ErrnoException) => {
      if (cause.code === 'ENOENT' || cause.code === 'ECONNREFUSED') {
        reject(
          new ControlSocketError(
            'not_running',
            `Gatehouse is not running on ${socketPath}. Start it with "gatehouse run", or pass the --data directory it runs with.`,
            { cause },
          ),
        );
      } else if (cause.code === 'EACCES') {
        reject(
          new ControlSocketError(
            'permission',
            `No permission to use ${socketPath}. Run as the user that runs Gatehouse.`,
            { cause },
          ),
        );
      } else {
        reject(
          new ControlSocketError('bad_response', `${path} failed: ${cause.message}`, { cause }),
        );
      }
    });
    request.end(payload);
  });
}
