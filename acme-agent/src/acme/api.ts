/**
 * One function per RFC 8555 resource, each a signed request through the
 * wire and a checked answer. No orchestration here: the order flow
 * (../order.ts) decides what to call when.
 */
import { z } from 'zod';
import { AcmeProtocolError } from './problem.js';
import { type AcmeWire, type SignedResponse, type Signer } from './wire.js';

const identifierSchema = z.object({
  type: z.enum(['dns', 'ip']),
  value: z.string().min(1).max(253),
});
export type AcmeIdentifier = z.infer<typeof identifierSchema>;

const problemJson = z.object({ type: z.string().max(256) }).loose();

/** RFC 8555 section 7.1.2. */
export const accountSchema = z
  .object({
    status: z.enum(['valid', 'deactivated', 'revoked']),
    contact: z.array(z.string().max(512)).max(20).optional(),
    orders: z.string().max(2048).optional(),
  })
  .loose();
export type AccountResource = z.infer<typeof accountSchema>;

/** RFC 8555 section 7.1.2.1: one page of an account's orders. */
export const ordersListSchema = z.object({ orders: z.array(z.url().max(2048)).max(1_000) }).loose();

/** RFC 8555 section 7.1.3. */
export const orderSchema = z
  .object({
    status: z.enum(['pending', 'ready', 'processing', 'valid', 'invalid']),
    expires: z.string().max(64).optional(),
    identifiers: z.array(identifierSchema).min(1).max(100),
    authorizations: z.array(z.url().max(2048)).max(100),
    finalize: z.url().max(2048),
    certificate: z.url().max(2048).optional(),
    error: problemJson.optional(),
  })
  .loose();
export type OrderResource = z.infer<typeof orderSchema>;

/** RFC 8555 section 8. */
export const challengeSchema = z
  .object({
    type: z.string().max(64),
    url: z.url().max(2048),
    status: z.enum(['pending', 'processing', 'valid', 'invalid']),
    token: z
      .string()
      .max(256)
      .regex(/^[A-Za-z0-9_-]+$/)
      .optional(),
    error: problemJson.optional(),
  })
  .loose();
export type ChallengeResource = z.infer<typeof challengeSchema>;

/** RFC 8555 section 7.1.4. */
export const authorizationSchema = z
  .object({
    status: z.enum(['pending', 'valid', 'invalid', 'deactivated', 'expired', 'revoked']),
    identifier: identifierSchema,
    challenges: z.array(challengeSchema).max(20),
    wildcard: z.boolean().optional(),
    expires: z.string().max(64).optional(),
  })
  .loose();
export type AuthorizationResource = z.infer<typeof authorizationSchema>;

/** The calls of one account at one CA. */
export class AcmeApi {
  constructor(
    readonly wire: AcmeWire,
    private readonly sign: Signer,
  ) {}

  /**
   * Create the account, or find it for this key (section 7.3: a CA answers
   * 200 with the existing account's URL). Returns the account URL.
   */
  async newAccount(request: {
    contact: string[];
    termsOfServiceAgreed: boolean;
    onlyReturnExisting?: boolean;
    externalAccountBinding?: unknown;
  }): Promise<{ url: string; account: AccountResource }> {
    const { newAccount } = await this.wire.directory();
    const response = await this.wire.post(newAccount, request, undefined, this.sign, accountSchema);
    return { url: requireLocation(response, newAccount), account: response.body };
  }

  /** Section 7.4: returns the order URL and the order. */
  async newOrder(
    accountUrl: string,
    request: { identifiers: AcmeIdentifier[]; replaces?: string; profile?: string },
  ): Promise<{ url: string; order: OrderResource }> {
    const { newOrder } = await this.wire.directory();
    const response = await this.wire.post(
      newOrder,
      request,
      accountUrl,
      this.sign,
      orderSchema,
      [201],
    );
    return { url: requireLocation(response, newOrder), order: response.body };
  }

  /** POST-as-GET an order (section 7.1.3), with the CA's Retry-After. */
  getOrder(accountUrl: string, url: string): Promise<SignedResponse<OrderResource>> {
    return this.wire.post(url, null, accountUrl, this.sign, orderSchema, [200]);
  }

  /**
   * The URLs of an account's orders (section 7.1.2.1), following at most
   * `maxPages` pages of `Link: rel="next"`. The CA may leave orders out.
   */
  async listOrders(accountUrl: string, ordersUrl: string, maxPages = 5): Promise<string[]> {
    const urls: string[] = [];
    let page: string | undefined = ordersUrl;
    for (let n = 0; page !== undefined && n < maxPages; n += 1) {
      const response: SignedResponse<z.infer<typeof ordersListSchema>> = await this.wire.post(
        page,
        null,
        accountUrl,
        this.sign,
        ordersListSchema,
        [200],
      );
      urls.push(...response.body.orders);
      const next = response.links.find((link) => link.rel === 'next');
      page = next ? new URL(next.url, page).toString() : undefined;
    }
    return urls;
  }

  /** POST-as-GET an authorization (section 7.5). */
  getAuthorization(
    accountUrl: string,
    url: string,
  ): Promise<SignedResponse<AuthorizationResource>> {
    return this.wire.post(url, null, accountUrl, this.sign, authorizationSchema, [200]);
  }

  /** Tell the CA a challenge is ready to be validated (section 7.5.1): an empty object. */
  async respondToChallenge(accountUrl: string, url: string): Promise<ChallengeResource> {
    const response = await this.wire.post(url, {}, accountUrl, this.sign, challengeSchema, [200]);
    return response.body;
  }

  /** Section 7.4: the CSR as base64url DER. */
  finalize(accountUrl: string, url: string, csr: string): Promise<SignedResponse<OrderResource>> {
    return this.wire.post(url, { csr }, accountUrl, this.sign, orderSchema, [200]);
  }

  /** Section 7.4.2: the PEM chain, with its `Link: rel="alternate"` chains. */
  async downloadCertificate(
    accountUrl: string,
    url: string,
  ): Promise<{ chainPem: string; alternates: string[] }> {
    const response = await this.wire.post<string>(url, null, accountUrl, this.sign, 'pem', [200]);
    if (!response.body.includes('-----BEGIN CERTIFICATE-----')) {
      throw new AcmeProtocolError('invalid_resource', `${url} answered no PEM certificate`);
    }
    const alternates = response.links
      .filter((link) => link.rel === 'alternate')
      .map((link) => new URL(link.url, url).toString());
    return { chainPem: response.body, alternates };
  }

  /**
   * POST to the account URL (section 7.3.2, 7.3.6): `null` reads it
   * (POST-as-GET), `{ contact }` replaces the contacts, `{ status:
   * 'deactivated' }` deactivates it for good.
   */
  async updateAccount(
    accountUrl: string,
    update: { contact: string[] } | { status: 'deactivated' } | null,
  ): Promise<AccountResource> {
    const response = await this.wire.post(
      accountUrl,
      update,
      accountUrl,
      this.sign,
      accountSchema,
      [200],
    );
    return response.body;
  }

  /**
   * Section 7.3.5: `signKeyChange` makes the whole request (the inner JWS by
   * the new key inside the outer one by the current key) for the nonce and
   * URL it is given; the CA answers with the account.
   */
  async keyChange(accountUrl: string, signKeyChange: Signer): Promise<void> {
    const { keyChange } = await this.wire.directory();
    if (!keyChange) {
      throw new AcmeProtocolError(
        'invalid_resource',
        `${this.wire.directoryUrl} offers no keyChange resource (RFC 8555 section 7.3.5)`,
      );
    }
    await this.wire.post(keyChange, {}, accountUrl, signKeyChange, 'none', [200]);
  }

  /** Section 7.6: revoke a certificate (DER, base64url) with an RFC 5280 reason code. */
  async revokeCert(
    accountUrl: string,
    request: { certificate: string; reason: number },
  ): Promise<void> {
    const { revokeCert } = await this.wire.directory();
    if (!revokeCert) {
      throw new AcmeProtocolError(
        'invalid_resource',
        `${this.wire.directoryUrl} offers no revokeCert resource (RFC 8555 section 7.6)`,
      );
    }
    await this.wire.post(revokeCert, request, accountUrl, this.sign, 'none', [200]);
  }
}

function requireLocation<T>(response: SignedResponse<T>, url: string): string {
  if (!response.location) {
    throw new AcmeProtocolError(
      'missing_header',
      `${url} created a resource without a Location header (RFC 8555 section 7.3 / 7.4)`,
    );
  }
  return new URL(response.location, url).toString();
}
