/**
 * A pass-through HTTPS proxy in front of a real Pebble, for tests that
 * need a Gatehouse process to die at one exact moment of an ACME exchange:
 * after the CA created an order and before the acme-agent read the answer.
 * Every request and answer goes through unchanged; Pebble builds its URLs
 * from the Host header, which is kept, so they point back at the proxy.
 * It can also refuse challenge answers with a problem document, as a CA
 * in trouble does. The proxy's own certificate comes from a throwaway openssl CA
 * (`trustFile`, for --acme-trust).
 *
 *     const proxy = await CaProxy.start(dir, pebble);
 *     proxy.onNewOrder = async () => 'drop';
 *     after(() => proxy.stop());
 */
import fs from 'node:fs';
import https from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { type LoopbackHttps, loopbackHttps } from './loopback-https.js';
import type { Pebble } from './pebble.js';

/** What to do with the CA's answer to a newOrder that created an order. */
export type NewOrderAction = 'pass' | 'drop';

export class CaProxy {
  /** Orders the CA created (201 answers to newOrder) through this proxy. */
  ordersCreated = 0;
  /**
   * Called once the CA created an order, before its answer goes on;
   * 'drop' closes the client's connection instead of answering.
   */
  onNewOrder: (() => Promise<NewOrderAction>) | undefined;
  /**
   * How many of the next challenge answers (POSTs to Pebble's /chalZ/
   * URLs) get a serverInternal problem instead of reaching Pebble.
   */
  failChallengeAnswers = 0;

  private constructor(
    private readonly listener: LoopbackHttps,
    private readonly upstream: { port: number; ca: string; newOrderPath: string },
  ) {}

  get directoryUrl(): string {
    return `https://127.0.0.1:${this.listener.port}/dir`;
  }

  /** PEM file of the root that signed the proxy's certificate (for --acme-trust). */
  get trustFile(): string {
    return this.listener.trustFile;
  }

  static async start(dir: string, pebble: Pebble): Promise<CaProxy> {
    const directory = await pebble.request(pebble.directoryUrl);
    const { newOrder } = JSON.parse(directory.body) as { newOrder: string };
    const upstream = {
      port: Number(new URL(pebble.directoryUrl).port),
      ca: fs.readFileSync(pebble.trustFile, 'utf8'),
      newOrderPath: new URL(newOrder).pathname,
    };
    const listener = await loopbackHttps(dir);
    const proxy = new CaProxy(listener, upstream);
    listener.serve((request, response) => {
      proxy.#forward(request, response);
    });
    return proxy;
  }

  stop(): Promise<void> {
    return this.listener.close();
  }

  #forward(request: IncomingMessage, response: ServerResponse): void {
    if (
      this.failChallengeAnswers > 0 &&
      request.method === 'POST' &&
      (request.url ?? '').startsWith('/chalZ/')
    ) {
      this.failChallengeAnswers -= 1;
      request.resume();
      response.writeHead(500, { 'content-type': 'application/problem+json' });
      response.end(
        JSON.stringify({
          type: 'urn:ietf:params:acme:error:serverInternal',
          detail: 'the test proxy refused this challenge answer',
          status: 500,
        }),
      );
      return;
    }
    const outbound = https.request(
      {
        host: '127.0.0.1',
        port: this.upstream.port,
        method: request.method ?? 'GET',
        path: request.url ?? '/',
        headers: request.headers,
        ca: this.upstream.ca,
        agent: false,
        timeout: 30_000,
      },
      (answer) => {
        const chunks: Buffer[] = [];
        answer.on('data', (chunk: Buffer) => chunks.push(chunk));
        answer.on('end', () => {
          void this.#answer(request, response, answer, Buffer.concat(chunks));
        });
        answer.on('error', () => response.destroy());
      },
    );
    outbound.on('timeout', () => outbound.destroy(new Error('upstream timed out')));
    outbound.on('error', () => response.destroy());
    request.pipe(outbound);
  }

  async #answer(
    request: IncomingMessage,
    response: ServerResponse,
    answer: IncomingMessage,
    body: Buffer,
  ): Promise<void> {
    if (
      request.method === 'POST' &&
      request.url === this.upstream.newOrderPath &&
      answer.statusCode === 201
    ) {
      this.ordersCreated += 1;
      if ((await this.onNewOrder?.()) === 'drop') {
        response.destroy();
        return;
      }
    }
    const headers = { ...answer.headers };
    delete headers['transfer-encoding'];
    headers['content-length'] = String(body.length);
    response.writeHead(answer.statusCode ?? 502, headers);
    response.end(body);
  }
}
