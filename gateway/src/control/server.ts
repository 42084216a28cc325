/**
 * Serves the control API on `<data>/control.sock`. The socket's mode is the
 * access control (0600 by default: only the user running Gatehouse), so it
 * is created under a umask that never lets it be wider, even for a moment.
 */
import fs from 'node:fs';
import type { Server } from 'node:http';
import { createAdaptorServer } from '@hono/node-server';
import type { Hono } from 'hono';

export interface ControlServer {
  path: string;
  close(): Promise<void>;
}

export async function serveControlSocket(
  app: Hono,
  socketPath: string,
  mode: number,
): Promise<ControlServer> {
  // A socket file left by a crashed run would make listen fail; the data
  // directory lock already proved no other Gatehouse owns it.
  fs.rmSync(socketPath, { force: true });

  const server = createAdaptorServer({ fetch: app.fetch }) as Server;
  const previousUmask = process.umask(0o177);
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(socketPath, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } finally {
    process.umask(previousUmask);
  }
  fs.chmodSync(socketPath, mode);

  return {
    path: socketPath,
    close() {
      return new Promise((resolve) => {
        server.close(() => {
          fs.rmSync(socketPath, { force: true });
          resolve();
        });
        server.closeAllConnections();
      });
    },
  };
}
