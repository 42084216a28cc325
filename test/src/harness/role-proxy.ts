/**
 * The test's side of fixtures/role-proxy: send a request as that role and
 * wait for the answer.
 */
import net from 'node:net';
import readline from 'node:readline';

export type Answer<T = unknown> =
  | { ok: T; error?: undefined }
  | { ok?: undefined; error: { code: string; reason?: string; message: string } };

export class RoleProxy {
  private readonly waiting: ((line: string) => void)[] = [];

  private constructor(private readonly socket: net.Socket) {
    readline.createInterface({ input: socket }).on('line', (line) => {
      this.waiting.shift()?.(line);
    });
  }

  static async connect(path: string): Promise<RoleProxy> {
    const socket = net.connect(path);
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    return new RoleProxy(socket);
  }

  /** One request; answers are matched in the order asked, so await each before the next. */
  ask<T = unknown>(type: string, payload: unknown): Promise<Answer<T>> {
    return new Promise((resolve) => {
      this.waiting.push((line) => {
        resolve(JSON.parse(line) as Answer<T>);
      });
      this.socket.write(JSON.stringify({ type, payload }) + '\n');
    });
  }

  close(): void {
    this.socket.destroy();
  }
}
