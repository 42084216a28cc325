/**
 * The one way the acme-agent reaches a certificate authority: HTTPS with
 * Node's `https`, a bounded time and a bounded body, and no redirect ever
 * followed (RFC 8555 gives every resource its own URL; a redirect from the
 * CA is an error to report, not a place to go). The CA's own certificate is
 * checked against Node's roots plus an operator's extra root (`--acme-trust`,
 * as Pebble needs).
 */
import https from 'node:https';
import tls from 'node:tls';

export interface HttpResponse {
  readonly status: number;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  readonly body: Buffer;
}

export interface HttpRequest {
  readonly method: 'GET' | 'HEAD' | 'POST';
  readonly url: string;
  readonly headers?: Readonly<Record<string, string>>;
  readonly body?: string;
}

export type HttpErrorCode = 'timeout' | 'network' | 'body_too_large' | 'bad_url';

/** The CA could not be reached, or answered with more than we read. */
export class HttpError extends Error {
  constructor(
    readonly code: HttpErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'HttpError';
  }
}

export interface HttpClientOptions {
  /** Extra root certificates (PEM) to trust besides Node's own. */
  readonly extraRootsPem?: string;
  readonly timeoutMs?: number;
  /** Largest body read; RFC 8555 resources and chains are a few KB. */
  readonly maxBodyBytes?: number;
  readonly userAgent?: string;
}

export type HttpClient = (request: HttpRequest) => Promise<HttpResponse>;

export function httpClient(options: HttpClientOptions = {}): HttpClient {
  const timeoutMs = options.timeoutMs ?? 30_000;
  const maxBodyBytes = options.maxBodyBytes ?? 1024 * 1024;
  const ca = options.extraRootsPem ? [...tls.rootCertificates, options.extraRootsPem] : undefined;
  const agent = new https.Agent({ keepAlive: true, maxSockets: 8, ...(ca ? { ca } : {}) });
  const userAgent = options.userAgent ?? 'Gatehouse acme-agent (RFC 8555)';

  return function send(request: HttpRequest): Promise<HttpResponse> {
    let url: URL;
    try {
      url = new URL(request.url);
    } catch (error) {
      return Promise.reject(
        new HttpError('bad_url', `${request.url} is not a URL`, { cause: error }),
      );
    }
    if (url.protocol !== 'https:') {
      return Promise.reject(
        new HttpError(
          'bad_url',
          `${request.url} is not https; ACME needs HTTPS (RFC 8555 section 6.1)`,
        ),
      );
    }

    return new Promise((resolve, reject) => {
      const outgoing = https.request(
        url,
        {
          method: request.method,
          agent,
          timeout: timeoutMs,
          headers: { 'user-agent': userAgent, ...request.headers },
        },
        (incoming) => {
          const chunks: Buffer[] = [];
          let size = 0;
          incoming.on('data', (chunk: Buffer) => {
            size += chunk.length;
            if (size > maxBodyBytes) {
              incoming.destroy();
              outgoing.destroy();
              reject(
                new HttpError(
                  'body_too_large',
                  `${request.method} ${request.url} answered more than ${maxBodyBytes} bytes`,
                ),
              );
              return;
            }
            chunks.push(chunk);
          });
          incoming.on('end', () => {
            resolve({
              status: incoming.statusCode ?? 0,
              headers: incoming.headers,
              body: Buffer.concat(chunks),
            });
          });
          incoming.on('error', (error) => {
            reject(networkError(request, error));
          });
        },
      );
      const timedOut = (): void => {
        const error = new HttpError(
          'timeout',
          `${request.method} ${request.url} took more than ${timeoutMs} ms`,
        );
        // Rejected first: the aborted answer's own error must not be what is reported.
        reject(error);
        outgoing.destroy(error);
      };
      outgoing.on('timeout', timedOut);
      // The socket timeout above counts idle time only: a CA that trickles
      // its answer a byte at a time would hold the order forever without
      // this bound on the whole exchange.
      const deadline = setTimeout(timedOut, timeoutMs);
      deadline.unref();
      outgoing.on('close', () => {
        clearTimeout(deadline);
      });
      outgoing.on('error', (error) => {
        reject(error instanceof HttpError ? error : networkError(request, error));
      });
      outgoing.end(request.body);
    });
  };
}

function networkError(request: HttpRequest, error: Error): HttpError {
  const code = (error as NodeJS.ErrnoException).code;
  return new HttpError(
    'network',
    `${request.method} ${request.url} failed: ${code ?? error.message}` +
      (code === 'ECONNREFUSED'
        ? ' (connection refused: the CA is down or not at this address)'
        : '') +
      (code?.startsWith('ERR_TLS') || code?.includes('CERT')
        ? ' (if the CA uses a private root, give it with --acme-trust FILE)'
        : ''),
    { cause: error },
  );
}

/** A header's single value, lowercased name. */
export function header(response: HttpResponse, name: string): string | undefined {
  const value = response.headers[name.toLowerCase()];
  return Array.isArray(value) ? value[0] : value;
}
