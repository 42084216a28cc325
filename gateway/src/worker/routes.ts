/**
 * What a worker answers until routes are configured: a small page on
 * HTTPS, and on plain HTTP a redirect to HTTPS, except for pending http-01
 * challenges (RFC 8555 section 8.3), which plain HTTP must answer itself.
 */
import type { HttpRequest, HttpResponse } from '@btc-vision/uwebsockets.js';

const WELCOME = `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Gatehouse</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:36rem;margin:4rem auto;padding:0 1rem;color:#1d2430}
h1{font-size:1.5rem}code{background:#eef1f5;padding:.1rem .3rem;border-radius:4px}</style></head>
<body><h1>Gatehouse is running</h1>
<p>This gateway answers HTTPS but has no routes for this name yet.
Add a domain with <code>gatehouse domains add NAME</code> once domains are supported.</p></body>
</html>
`;

export function serveWelcome(res: HttpResponse, req: HttpRequest): void {
  const head = req.getMethod() === 'head';
  res.cork(() => {
    res
      .writeStatus('200 OK')
      .writeHeader('content-type', 'text/html; charset=utf-8')
      .writeHeader('cache-control', 'no-store');
    if (head) res.endWithoutBody(Buffer.byteLength(WELCOME));
    else res.end(WELCOME);
  });
}

/** A host header we can safely echo into a Location: a DNS name or an IP literal, with an optional port. */
const HOST = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]{1,253})(:\d{1,5})?$/;

export function serveHttpRedirect(httpsPort: number) {
  return function redirectToHttps(res: HttpResponse, req: HttpRequest): void {
    const host = HOST.exec(req.getHeader('host'));
    const url = req.getUrl();
    const query = req.getQuery();
    if (!host?.[1]) {
      res.cork(() => {
        res
          .writeStatus('400 Bad Request')
          .writeHeader('content-type', 'text/plain')
          .end('Missing or invalid Host header\n');
      });
      return;
    }
    const port = httpsPort === 443 ? '' : `:${httpsPort}`;
    const location = `https://${host[1]}${port}${url}${query ? `?${query}` : ''}`;
    res.cork(() => {
      res.writeStatus('308 Permanent Redirect').writeHeader('location', location).end();
    });
  };
}

/** The path a CA fetches an http-01 key authorization from; the token is the last segment. */
export const HTTP_CHALLENGE_ROUTE = '/.well-known/acme-challenge/:token';

/**
 * GET /.well-known/acme-challenge/<token>: the key authorization of a
 * pending http-01 challenge, else 404. Answered on plain HTTP rather than
 * redirected: a name waiting for its first certificate has none to serve
 * over HTTPS yet.
 */
export function serveHttpChallenge(keyAuthorization: (token: string) => string | undefined) {
  return function answerHttpChallenge(res: HttpResponse, req: HttpRequest): void {
    const answer = keyAuthorization(req.getParameter(0) ?? '');
    res.cork(() => {
      if (answer === undefined) {
        res
          .writeStatus('404 Not Found')
          .writeHeader('content-type', 'text/plain')
          .end('No ACME challenge is pending for this token\n');
        return;
      }
      res
        .writeStatus('200 OK')
        .writeHeader('content-type', 'text/plain')
        .writeHeader('cache-control', 'no-store')
        .end(answer);
    });
  };
}
