/**
 * Clients that send a real ClientHello in awkward ways. Node's own TLS
 * client makes the handshake; a Duplex in between decides how its first
 * flight reaches the wire (byte by byte, re-cut into small TLS records, or
 * both), then passes everything through, so the handshake still completes
 * and the gateway must answer normally.
 */
import net from 'node:net';
import tls from 'node:tls';
import { Duplex } from 'node:stream';

export interface WireShape {
  /**
   * Send the first flight one byte per TCP segment, this many ms apart; 0
   * sends the next byte on the next event-loop turn, so that a long flight
   * stays well inside the gateway's hello timeout on a loaded machine.
   */
  bytewiseDelayMs?: number;
  /** Re-cut the first flight's handshake records into records of this many bytes. */
  recordSize?: number;
}

/** Split TLS records of type 22 into several records of at most `size` body bytes. */
export function recut(flight: Buffer, size: number): Buffer {
  const out: Buffer[] = [];
  let offset = 0;
  while (offset + 5 <= flight.length) {
    const type = flight[offset] ?? 0;
    const length = flight.readUInt16BE(offset + 3);
    const body = flight.subarray(offset + 5, offset + 5 + length);
    const header = flight.subarray(offset, offset + 3);
    if (type !== 22) {
      out.push(flight.subarray(offset, offset + 5 + length));
    } else {
      for (let start = 0; start < body.length; start += size) {
        const piece = body.subarray(start, start + size);
        const pieceHeader = Buffer.alloc(5);
        header.copy(pieceHeader);
        pieceHeader.writeUInt16BE(piece.length, 3);
        out.push(pieceHeader, piece);
      }
    }
    offset += 5 + length;
  }
  out.push(flight.subarray(offset));
  return Buffer.concat(out);
}

class ShapingDuplex extends Duplex {
  private first = true;

  constructor(
    private readonly raw: net.Socket,
    private readonly shape: WireShape,
  ) {
    super();
    raw.on('data', (chunk: Buffer) => {
      if (!this.push(chunk)) raw.pause();
    });
    raw.on('end', () => this.push(null));
    raw.on('error', (error) => this.destroy(error));
    raw.on('close', () => this.destroy());
  }

  override _read(): void {
    this.raw.resume();
  }

  override _write(
    chunk: Buffer,
    _encoding: BufferEncoding,
    done: (error?: Error | null) => void,
  ): void {
    if (!this.first) {
      this.raw.write(chunk, done);
      return;
    }
    this.first = false;
    const flight = this.shape.recordSize ? recut(chunk, this.shape.recordSize) : chunk;
    const delay = this.shape.bytewiseDelayMs;
    if (delay === undefined) {
      this.raw.write(flight, done);
      return;
    }
    void (async () => {
      for (const byte of flight) {
        this.raw.write(Buffer.from([byte]));
        await new Promise((resolve) =>
          delay === 0 ? setImmediate(resolve) : setTimeout(resolve, delay),
        );
      }
      done();
    })();
  }

  override _final(done: () => void): void {
    this.raw.end(done);
  }
}

/**
 * GET / over TLS with a shaped first flight; resolves with the raw HTTP
 * response text. Certificate checks are off: the gateway's is self-signed.
 */
export async function shapedGet(
  port: number,
  shape: WireShape,
  servername = 'localhost',
): Promise<string> {
  const raw = net.connect({ host: '127.0.0.1', port });
  raw.setNoDelay(true);
  await new Promise<void>((resolve, reject) => {
    raw.once('connect', resolve);
    raw.once('error', reject);
  });
  const socket = tls.connect({
    socket: new ShapingDuplex(raw, shape),
    servername,
    rejectUnauthorized: false,
    ALPNProtocols: ['http/1.1'],
  });
  return new Promise((resolve, reject) => {
    let text = '';
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no response in 20 s; got ${JSON.stringify(text)}`));
    }, 20_000);
    socket.once('secureConnect', () => {
      socket.write('GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n');
    });
    socket.on('data', (chunk: Buffer) => (text += chunk.toString('utf8')));
    socket.once('error', (error: Error) => {
      clearTimeout(timer);
      reject(error);
    });
    socket.once('close', () => {
      clearTimeout(timer);
      resolve(text);
    });
  });
}

export interface RawExchange {
  /** Bytes the server sent before closing. */
  received: Buffer;
  /** Milliseconds from the last write to the close. */
  closedAfterMs: number;
}

/** Write raw bytes (optionally half-closing), and wait for the server to close. */
export async function rawExchange(
  port: number,
  bytes: Buffer,
  options: { end?: boolean; timeoutMs?: number } = {},
): Promise<RawExchange> {
  const socket = net.connect({ host: '127.0.0.1', port });
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  const chunks: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  const written = Date.now();
  if (bytes.length > 0) socket.write(bytes);
  if (options.end) socket.end();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`server did not close in ${options.timeoutMs ?? 5_000} ms`));
    }, options.timeoutMs ?? 5_000);
    socket.on('error', () => undefined); // a reset counts as closed
    socket.once('close', () => {
      clearTimeout(timer);
      resolve({ received: Buffer.concat(chunks), closedAfterMs: Date.now() - written });
    });
  });
}
