/**
 * The ACME wire (RFC 8555 section 6): the directory, a pool of nonces, and
 * signed POSTs whose JWS the keyvault makes (the agent holds no key). Every
 * answer is checked before use: status, content type, size, JSON shape. A
 * `badNonce` problem is retried with the fresh nonce it carries (section
 * 6.5), never by resending a used one.
 */
import { z } from 'zod';
import { type HttpClient, type HttpResponse, header } from './http.js';
import { AcmeProblemError, AcmeProtocolError, parseProblem, parseRetryAfter } from './problem.js';

/** RFC 8555 section 7.1.1, with the fields Gatehouse reads. */
export const directorySchema = z.object({
  newNonce: z.url(),
  newAccount: z.url(),
  newOrder: z.url(),
  revokeCert: z.url().optional(),
  keyChange: z.url().optional(),
  renewalInfo: z.url().optional(),
  meta: z
    .object({
      termsOfService: z.string().max(2048).optional(),
      website: z.string().max(2048).optional(),
      caaIdentities: z.array(z.string().max(253)).max(100).optional(),
      externalAccountRequired: z.boolean().optional(),
      profiles: z.record(z.string().max(64), z.string().max(2048)).optional(),
    })
    .optional(),
});
export type Directory = z.infer<typeof directorySchema>;

/** The JWS the keyvault makes for a request (flattened JSON, RFC 7515 section 7.2.2). */
export interface FlattenedJws {
  protected: string;
  payload: string;
  signature: string;
}

/** Signs one request: with `kid` the account URL, else the JWK goes in the header. */
export type Signer = (request: {
  url: string;
  nonce: string;
  kid: string | undefined;
  payload: unknown;
}) => Promise<FlattenedJws>;

export interface SignedResponse<T> {
  readonly status: number;
  readonly location: string | undefined;
  readonly retryAfter: number | undefined;
  readonly links: readonly { url: string; rel: string }[];
  readonly body: T;
}

const MAX_NONCES = 32;
const BAD_NONCE_RETRIES = 5;
const NONCE = /^[A-Za-z0-9_-]{1,256}$/;

export class AcmeWire {
  #directory: Directory | undefined;
  readonly #nonces: string[] = [];

  constructor(
    readonly directoryUrl: string,
    private readonly http: HttpClient,
  ) {}

  /** The directory, fetched once (section 7.1.1). */
  async directory(): Promise<Directory> {
    if (this.#directory) return this.#directory;
    const response = await this.http({ method: 'GET', url: this.directoryUrl });
    const json = expectJson(response, this.directoryUrl, [200]);
    const parsed = directorySchema.safeParse(json);
    if (!parsed.success) {
      throw new AcmeProtocolError(
        'invalid_resource',
        `${this.directoryUrl} is not an ACME directory (${parsed.error.issues[0]?.message ?? ''}); ` +
          'check --acme-directory',
      );
    }
    this.#directory = parsed.data;
    return parsed.data;
  }

  /**
   * A signed POST (section 6.2); `payload` null is POST-as-GET (section
   * 6.3). JSON answers are parsed with `schema`; `schema` 'pem' reads a
   * certificate chain (section 7.4.2); 'none' reads no body (revokeCert,
   * section 7.6, answers 200 with nothing to read).
   */
  async post<T>(
    url: string,
    payload: unknown,
    kid: string | undefined,
    sign: Signer,
    schema: z.ZodType<T> | 'pem' | 'none',
    expected: readonly number[] = [200, 201],
  ): Promise<SignedResponse<T>> {
    let nonce = await this.#nonce();
    for (let attempt = 0; ; attempt += 1) {
      const jws = await sign({ url, nonce, kid, payload });
      const response = await this.http({
        method: 'POST',
        url,
        headers: {
          'content-type': 'application/jose+json',
          accept: schema === 'pem' ? 'application/pem-certificate-chain' : 'application/json',
        },
        body: JSON.stringify(jws),
      });
      const fresh = header(response, 'replay-nonce');
      const problem = asProblem(response);
      if (
        problem?.kind === 'badNonce' &&
        fresh &&
        NONCE.test(fresh) &&
        attempt < BAD_NONCE_RETRIES
      ) {
        nonce = fresh;
        continue;
      }
      this.#keep(fresh);
      if (problem) throw problem;
      return this.#read(response, url, schema, expected);
    }
  }

  #read<T>(
    response: HttpResponse,
    url: string,
    schema: z.ZodType<T> | 'pem' | 'none',
    expected: readonly number[],
  ): SignedResponse<T> {
    const common = {
      status: response.status,
      location: header(response, 'location'),
      retryAfter: parseRetryAfter(header(response, 'retry-after')),
      links: parseLinks(response.headers.link),
    };
    if (schema === 'none') {
      expectStatus(response, url, expected);
      return { ...common, body: undefined as T };
    }
    if (schema === 'pem') {
      expectStatus(response, url, expected);
      const type = contentType(response);
      if (type !== 'application/pem-certificate-chain') {
        throw new AcmeProtocolError(
          'wrong_content_type',
          `${url} answered ${type || 'no content type'} for a certificate chain, ` +
            'not application/pem-certificate-chain (RFC 8555 section 7.4.2)',
        );
      }
      return { ...common, body: response.body.toString('utf8') as T };
    }
    const json = expectJson(response, url, expected);
    const parsed = schema.safeParse(json);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw new AcmeProtocolError(
        'invalid_resource',
        `${url} answered JSON that is not the expected resource: ` +
          (issue ? `${issue.path.join('.') || '(root)'} ${issue.message}` : 'invalid'),
      );
    }
    return { ...common, body: parsed.data };
  }

  async #nonce(): Promise<string> {
    const pooled = this.#nonces.pop();
    if (pooled) return pooled;
    const { newNonce } = await this.directory();
    const response = await this.http({ method: 'HEAD', url: newNonce });
    if (response.status !== 200 && response.status !== 204) {
      throw new AcmeProtocolError(
        'unexpected_status',
        `${newNonce} answered HTTP ${response.status} to HEAD (RFC 8555 section 7.2)`,
      );
    }
    const nonce = header(response, 'replay-nonce');
    if (!nonce || !NONCE.test(nonce)) {
      throw new AcmeProtocolError(
        'missing_header',
        `${newNonce} gave no usable Replay-Nonce header (RFC 8555 section 6.5.1)`,
      );
    }
    return nonce;
  }

  #keep(nonce: string | undefined): void {
    if (nonce && NONCE.test(nonce) && this.#nonces.length < MAX_NONCES) this.#nonces.push(nonce);
  }
}

function contentType(response: HttpResponse): string {
  return (header(response, 'content-type') ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
}

function asProblem(response: HttpResponse): AcmeProblemError | undefined {
  if (response.status < 400) return undefined;
  let json: unknown;
  try {
    json = JSON.parse(response.body.toString('utf8'));
  } catch {
    json = undefined;
  }
  const retryAfter = parseRetryAfter(header(response, 'retry-after'));
  return new AcmeProblemError(parseProblem(json, response.status), retryAfter);
}

function expectStatus(response: HttpResponse, url: string, expected: readonly number[]): void {
  if (response.status >= 300 && response.status < 400) {
    throw new AcmeProtocolError(
      'redirect',
      `${url} redirected (HTTP ${response.status}) to ${header(response, 'location') ?? 'nowhere'}; ` +
        'ACME resources are not redirected, check the directory URL',
    );
  }
  const problem = asProblem(response);
  if (problem) throw problem;
  if (!expected.includes(response.status)) {
    throw new AcmeProtocolError(
      'unexpected_status',
      `${url} answered HTTP ${response.status}, expected ${expected.join(' or ')}`,
    );
  }
}

function expectJson(response: HttpResponse, url: string, expected: readonly number[]): unknown {
  expectStatus(response, url, expected);
  const type = contentType(response);
  if (type !== 'application/json') {
    throw new AcmeProtocolError(
      'wrong_content_type',
      `${url} answered ${type || 'no content type'}, not application/json`,
    );
  }
  try {
    return JSON.parse(response.body.toString('utf8'));
  } catch (error) {
    throw new AcmeProtocolError('malformed_json', `${url} answered malformed JSON`, {
      cause: error,
    });
  }
}

/** Link headers (RFC 8288), as `up` and `alternate` are used by RFC 8555. */
export function parseLinks(value: string | string[] | undefined): { url: string; rel: string }[] {
  const values = value === undefined ? [] : Array.isArray(value) ? value : [value];
  const links: { url: string; rel: string }[] = [];
  for (const item of values) {
    for (const match of item.matchAll(/<([^>]{1,2048})>\s*;\s*rel="?([A-Za-z-]{1,32})"?/g)) {
      if (match[1] && match[2]) links.push({ url: match[1], rel: match[2] });
    }
  }
  return links;
}
