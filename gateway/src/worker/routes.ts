/**
 * What a worker answers until routes are configured: a small page on
 * HTTPS, and a redirect to HTTPS on plain HTTP.
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
