/**
 * The preferred chain (RFC 8555 section 7.4.2): a CA may offer the same
 * certificate under several chains, the default one plus others named by
 * `Link: rel="alternate"`. The operator names the root (or topmost issuer)
 * they want by its common name, as certbot and lego do; Gatehouse keeps
 * the first chain whose topmost certificate is that root or is issued by
 * it, and the default chain when none is.
 */
import { X509Certificate } from 'node:crypto';
import type { Logger } from '@gatehouse/gateway/log';
import type { AcmeApi } from './acme/api.js';

/** Alternates fetched at most; a CA offers one or two. */
const MAX_ALTERNATES = 8;

/** Download the certificate chain, the preferred one when the CA offers it. */
export async function downloadPreferredChain(
  api: AcmeApi,
  accountUrl: string,
  certificateUrl: string,
  preferred: string | undefined,
  log: Logger,
): Promise<string> {
  const first = await api.downloadCertificate(accountUrl, certificateUrl);
  if (preferred === undefined || chainEndsIn(first.chainPem, preferred)) return first.chainPem;
  for (const url of first.alternates.slice(0, MAX_ALTERNATES)) {
    try {
      const alternate = await api.downloadCertificate(accountUrl, url);
      if (chainEndsIn(alternate.chainPem, preferred)) {
        log.info('using the preferred chain', { preferred_chain: preferred, chain_url: url });
        return alternate.chainPem;
      }
    } catch (error) {
      log.warn('could not download an alternate chain; trying the next', {
        chain_url: url,
        error: error instanceof Error ? error.message : String(error),
      });
    }
  }
  log.warn('the CA offers no chain ending in the preferred root; keeping the default chain', {
    preferred_chain: preferred,
    default_chain_ends_in: topmostIssuer(first.chainPem) ?? 'unknown',
    alternates: first.alternates.length,
  });
  return first.chainPem;
}

/**
 * Whether the chain's topmost certificate is named `name` (a chain that
 * carries its root) or is issued by `name` (the usual chain, root left out).
 */
export function chainEndsIn(chainPem: string, name: string): boolean {
  const top = topmost(chainPem);
  if (!top) return false;
  return commonNames(top.subject).includes(name) || commonNames(top.issuer).includes(name);
}

/** The common name of the topmost certificate's issuer, for logs. */
export function topmostIssuer(chainPem: string): string | undefined {
  const top = topmost(chainPem);
  return top ? commonNames(top.issuer)[0] : undefined;
}

function topmost(chainPem: string): X509Certificate | undefined {
  const blocks = chainPem.match(
    /-----BEGIN CERTIFICATE-----[A-Za-z0-9+/=\s]+?-----END CERTIFICATE-----/g,
  );
  const last = blocks?.at(-1);
  if (!last) return undefined;
  try {
    return new X509Certificate(last);
  } catch {
    return undefined;
  }
}

/** CN values of a distinguished name as Node prints it (one `KEY=value` per line). */
function commonNames(distinguishedName: string): string[] {
  return distinguishedName
    .split('\n')
    .filter((line) => line.startsWith('CN='))
    .map((line) => line.slice(3));
}
