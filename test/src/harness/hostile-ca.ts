/**
 * A fake ACME CA that misbehaves on purpose, for the tests of what
 * Gatehouse does with a broken or hostile CA. No real CA can be made to
 * answer this way, so this one speaks enough of RFC 8555 over HTTPS on
 * loopback (directory, nonces, newAccount with a checked JWS) to reach
 * newOrder, and answers that with the fault set in `fault`. Its HTTPS
 * certificate comes from a throwaway openssl CA (`trustFile`, for
 * --acme-trust).
 *
 *     const ca = await HostileCa.start(dir);
 *     after(() => ca.stop());
 */
import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import path from 'node:path';
import { type LoopbackHttps, loopbackHttps } from './loopback-https.js';

/** How newOrder is answered. */
export type HostileFault =
  | 'malformed_json'
  | 'oversized_body'
  | 'wrong_content_type'
  | 'redirect_loop'
  | 'slow_body'
  | 'rate_limited';

/** rate_limited asks for no new order for this long (Retry-After, seconds). */
export const RATE_LIMIT_SECONDS = 3_600;

/** Beyond acme-agent/src/acme/http.ts's 1 MiB limit. */
const OVERSIZED_BYTES = 2 * 1024 * 1024;
/** slow_body sends one byte this often, forever: never idle, never done. */
const DRIP_MS = 1_000;

export class HostileCa {
  /** What newOrder answers; change it at any time. */
  fault: HostileFault = 'malformed_json';
  /** Requests seen, as "METHOD /path", for a failing test's message. */
  readonly seen: string[] = [];
  readonly #nonces = new Set<string>();
  readonly #drips = new Set<NodeJS.Timeout>();

  private constructor(
    private readonly listener: LoopbackHttps,
    readonly port: number,
    readonly trustFile: string,
  ) {}

  get directoryUrl(): string {
    return `${this.base}/dir`;
  }

  private get base(): string {
    return `https://127.0.0.1:${this.port}`;
  }

  static async start(dir: string): Promise<HostileCa> {
    const listener = await loopbackHttps(path.join(dir, 'hostile-ca'));
    const hostile = new HostileCa(listener, listener.port, listener.trustFile);
    listener.serve((request, response) => {
      hostile.#answer(request, response);
    });
    return hostile;
  }

  /** Close the server and every connection, drips included. */
  async stop(): Promise<void> {
    for (const drip of this.#drips) clearInterval(drip);
    this.#drips.clear();
    await this.listener.close();
  }

  #answer(request: IncomingMessage, response: ServerResponse): void {
    const url = request.url ?? '/';
    this.seen.push(`${request.method ?? '?'} ${url}`);
    this.seen.splice(0, this.seen.length - 200);
    if (request.method === 'GET' && url === '/dir') {
      this.#json(response, 200, {
        newNonce: `${this.base}/nonce`,
        newAccount: `${this.base}/account`,
        newOrder: `${this.base}/order`,
      });
      return;
    }
    if (request.method === 'HEAD' && url === '/nonce') {
      response.writeHead(200, { 'replay-nonce': this.#nonce(), 'cache-control': 'no-store' });
      response.end();
      return;
    }
    if (request.method !== 'POST') {
      this.#problem(response, 405, 'malformed', `${request.method ?? '?'} ${url} is not served`);
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    request.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= 64 * 1024) chunks.push(chunk);
    });
    request.on('end', () => {
      const jws = this.#checkJws(Buffer.concat(chunks).toString('utf8'), url);
      if (typeof jws === 'string') {
        this.#problem(response, 400, jws.startsWith('nonce') ? 'badNonce' : 'malformed', jws);
        return;
      }
      if (url === '/account') {
        this.#json(response, 201, { status: 'valid', contact: [] }, `${this.base}/acct/1`);
        return;
      }
      if (url === '/order') {
        this.#fault(response);
        return;
      }
      this.#problem(response, 404, 'malformed', `${url} is no resource of this CA`);
    });
  }

  /** The JWS of an RFC 8555 section 6.2 request: flattened, with this URL and a nonce we gave. */
  #checkJws(body: string, url: string): { protected: Record<string, unknown> } | string {
    try {
      const jws = JSON.parse(body) as { protected?: string; payload?: string; signature?: string };
      if (typeof jws.protected !== 'string' || typeof jws.signature !== 'string') {
        return 'not a flattened JWS';
      }
      const header = JSON.parse(Buffer.from(jws.protected, 'base64url').toString('utf8')) as {
        nonce?: unknown;
        url?: unknown;
      } & Record<string, unknown>;
      if (header.url !== `${this.base}${url}`) return `JWS url ${String(header.url)} is not ${url}`;
      if (typeof header.nonce !== 'string' || !this.#nonces.delete(header.nonce)) {
        return 'nonce unknown or used';
      }
      return { protected: header };
    } catch {
      return 'body is not JSON';
    }
  }

  #fault(response: ServerResponse): void {
    const nonce = { 'replay-nonce': this.#nonce() };
    switch (this.fault) {
      case 'malformed_json':
        response.writeHead(201, {
          ...nonce,
          'content-type': 'application/json',
          location: `${this.base}/order/1`,
        });
        response.end('{"status": "pending", "identifiers": [');
        return;
      case 'oversized_body':
        response.writeHead(201, {
          ...nonce,
          'content-type': 'application/json',
          location: `${this.base}/order/1`,
        });
        response.end(`{"padding": "${'x'.repeat(OVERSIZED_BYTES)}"}`);
        return;
      case 'wrong_content_type':
        response.writeHead(201, {
          ...nonce,
          'content-type': 'text/html',
          location: `${this.base}/order/1`,
        });
        response.end('<html><body>Welcome to our CA</body></html>');
        return;
      case 'rate_limited':
        // A well-formed refusal, as Let's Encrypt sends when a limit is hit.
        response.writeHead(429, {
          ...nonce,
          'content-type': 'application/problem+json',
          'retry-after': String(RATE_LIMIT_SECONDS),
        });
        response.end(
          JSON.stringify({
            type: 'urn:ietf:params:acme:error:rateLimited',
            detail: 'too many new orders recently',
            status: 429,
          }),
        );
        return;
      case 'redirect_loop':
        // Back to itself: a client that followed it would never stop.
        response.writeHead(302, { ...nonce, location: `${this.base}/order` });
        response.end();
        return;
      case 'slow_body': {
        response.writeHead(201, {
          ...nonce,
          'content-type': 'application/json',
          location: `${this.base}/order/1`,
        });
        response.write('{');
        const drip = setInterval(() => {
          response.write(' ');
        }, DRIP_MS);
        this.#drips.add(drip);
        response.on('close', () => {
          clearInterval(drip);
          this.#drips.delete(drip);
        });
        return;
      }
    }
  }

  #nonce(): string {
    const nonce = randomBytes(16).toString('base64url');
    this.#nonces.add(nonce);
    return nonce;
  }

  #json(response: ServerResponse, status: number, body: unknown, location?: string): void {
    response.writeHead(status, {
      'content-type': 'application/json',
      'replay-nonce': this.#nonce(),
      ...(location ? { location } : {}),
    });
    response.end(JSON.stringify(body));
  }

  #problem(response: ServerResponse, status: number, type: string, detail: string): void {
    response.writeHead(status, {
      'content-type': 'application/problem+json',
      'replay-nonce': this.#nonce(),
    });
    response.end(JSON.stringify({ type: `urn:ietf:params:acme:error:${type}`, detail, status }));
  }
}
