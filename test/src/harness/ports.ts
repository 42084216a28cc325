/**
 * Ports for one test run: random, below 32768 (the kernel's ephemeral range
 * starts there, so an outgoing connection cannot be holding them), and
 * checked free on both loopback addresses.
 */
import net from 'node:net';

function free(port: number, host: string): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => {
      resolve(false);
    });
    server.listen({ port, host, exclusive: true }, () => {
      server.close(() => {
        resolve(true);
      });
    });
  });
}

const taken = new Set<number>();

export async function freePort(): Promise<number> {
  for (let attempt = 0; attempt < 200; attempt += 1) {
    const port = 20_000 + Math.floor(Math.random() * 12_000);
    if (taken.has(port)) continue;
    if ((await free(port, '127.0.0.1')) && (await free(port, '::1'))) {
      taken.add(port);
      return port;
    }
  }
  throw new Error('no free port found between 20000 and 32000');
}
