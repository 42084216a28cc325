/**
 * Length-prefixed frames for the IPC pipe between the supervisor and each
 * child. Node's built-in IPC channel parses a message before the receiver
 * sees it, so a child could make its parent buffer and parse anything; with
 * our own frames the size is checked from the 4-byte header, before a single
 * byte of the body is kept.
 *
 * A frame is a big-endian uint32 body length followed by that many bytes of
 * UTF-8 JSON.
 */

/** Largest frame body accepted by default: ample for certificate chains. */
export const DEFAULT_MAX_FRAME_BYTES = 1024 * 1024;

export function encodeFrame(body: string): Buffer {
  const bytes = Buffer.from(body, 'utf8');
  const frame = Buffer.allocUnsafe(4 + bytes.length);
  frame.writeUInt32BE(bytes.length, 0);
  bytes.copy(frame, 4);
  return frame;
}

export type FrameResult = { kind: 'frame'; body: string } | { kind: 'oversized'; length: number };

/**
 * Splits a byte stream into frame bodies. An oversized frame is reported
 * once and its body skipped as it streams past, so the stream stays in step
 * and the sender's next frame is read normally.
 */
export class FrameDecoder {
  private buffered: Buffer = Buffer.alloc(0);
  private skipping = 0;

  constructor(private readonly maxFrameBytes = DEFAULT_MAX_FRAME_BYTES) {}

  push(chunk: Buffer): FrameResult[] {
    const results: FrameResult[] = [];
    let data = this.buffered.length > 0 ? Buffer.concat([this.buffered, chunk]) : chunk;

    for (;;) {
      if (this.skipping > 0) {
        const skipped = Math.min(this.skipping, data.length);
        this.skipping -= skipped;
        data = data.subarray(skipped);
        if (this.skipping > 0) break;
      }
      if (data.length < 4) break;

      const length = data.readUInt32BE(0);
      if (length > this.maxFrameBytes) {
        results.push({ kind: 'oversized', length });
        this.skipping = length;
        data = data.subarray(4);
        continue;
      }
      if (data.length < 4 + length) break;

      results.push({ kind: 'frame', body: data.toString('utf8', 4, 4 + length) });
      data = data.subarray(4 + length);
    }

    // Copy the remainder so a large chunk is not kept alive by a small tail.
    this.buffered = Buffer.from(data);
    return results;
  }
}
