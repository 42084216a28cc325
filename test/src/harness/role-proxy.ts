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
  /** The last request sent: the fixture answers in the order requests finish, so one at a time. */
  private last: Promise<unknown> = Promise.resolve();

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

  /** One request, sent once the one before it is answered. */
  ask<T = unknown>(type: string, payload: unknown): Promise<Answer<T>> {
    const asked = this.last.then(
      () =>
        new Promise<Answer<T>>((resolve) => {
          this.waiting.push((line) => {
            resolve(JSON.parse(line) as Answer<T>);
          });
          this.socket.write(JSON.stringify({ type, payload }) + '\n');
        }),
    );
    this.last = asked;
    return asked;
  }

  close(): void {
    this.socket.destroy();
  }
}
