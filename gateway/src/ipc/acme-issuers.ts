/**
 * The list of certificate authorities the acme-agent uses, as the
 * supervisor hands it over (JSON in the agent's environment, since the
 * agent reads no file): already checked and resolved by the supervisor
 * (built-in names turned into URLs, trust files read), and checked again
 * here by the agent, since the environment is a process boundary too.
 */
import { z } from 'zod';

/** The environment variable that carries the JSON list. */
export const ACME_ISSUERS_ENV = 'GATEHOUSE_ACME_ISSUERS';

/**
 * Let's Encrypt's "New Orders per Account" limit: 300 per 3 hours, a token
 * bucket that refills one order every 36 seconds
 * (https://letsencrypt.org/docs/rate-limits/).
 */
export const DEFAULT_NEW_ORDER_LIMIT = { orders: 300, periodSeconds: 10_800 } as const;

/** Orders in flight at one issuer at most, unless configured. */
export const DEFAULT_MAX_CONCURRENT_ORDERS = 8;

const base64url = /^[A-Za-z0-9_-]+$/;

export const acmeIssuer = z
  .object({
    /** The directory URL (RFC 8555 section 7.1.1); the issuer named in events. */
    directoryUrl: z.url({ protocol: /^https$/ }).max(2048),
    /** Contact address of the account at this CA. */
    email: z.string().max(320).optional(),
    /** RFC 8555 section 7.3.4. The HMAC key is a secret: never logged. */
    externalAccountBinding: z
      .object({
        keyId: z.string().min(1).max(256),
        hmacKey: z.string().min(1).max(512).regex(base64url),
      })
      .strict()
      .optional(),
    /** PEM of an extra root to trust for this CA's own HTTPS. */
    trustPem: z
      .string()
      .max(256 * 1024)
      .optional(),
    /** Common name of the root (or topmost issuer) to prefer among the chains (section 7.4.2). */
    preferredChain: z.string().min(1).max(256).optional(),
    /** A certificate profile the CA lists in its directory's meta.profiles. */
    profile: z.string().min(1).max(64).optional(),
    maxConcurrentOrders: z.number().int().min(1).max(1000),
    newOrderLimit: z
      .object({
        orders: z.number().int().min(1).max(1_000_000),
        periodSeconds: z.number().int().min(1).max(31_536_000),
      })
      .strict(),
  })
  .strict();
export type AcmeIssuer = z.infer<typeof acmeIssuer>;

export const acmeIssuerList = z.array(acmeIssuer).min(1).max(20);
