/**
 * One TLS handshake with Node's TLS client, reporting what the server
 * chose: the ALPN protocol and the certificate, or the alert or error that
 * ended it. Certificates are not verified: tests compare them instead.
 */
import tls from 'node:tls';

export type HandshakeResult =
  | { alpn: string | false; der: Buffer; serial: string; subject: string; error?: undefined }
  | { error: string; code: string | undefined };

export function handshake(
  port: number,
  servername: string | undefined,
  alpn: string[] = [],
  timeoutMs = 10_000,
): Promise<HandshakeResult> {
  return new Promise((resolve) => {
    const socket = tls.connect({
      host: '127.0.0.1',
      port,
      ...(servername === undefined ? {} : { servername }),
      ALPNProtocols: alpn,
      rejectUnauthorized: false,
    });
    const timer = setTimeout(() => {
      socket.destroy();
      resolve({ error: `no handshake in ${timeoutMs} ms`, code: 'timeout' });
    }, timeoutMs);
    socket.once('secureConnect', () => {
      clearTimeout(timer);
      const peer = socket.getPeerCertificate();
      resolve({
        alpn: socket.alpnProtocol ?? false,
        der: peer.raw,
        serial: peer.serialNumber.toUpperCase(),
        subject: [peer.subject.CN ?? ''].flat().join(', '),
      });
      socket.destroy();
    });
    socket.once('error', (error: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      resolve({ error: error.message, code: error.code });
      socket.destroy();
    });
  });
}
