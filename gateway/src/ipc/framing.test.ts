import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FrameDecoder, encodeFrame } from './framing.js';

describe('FrameDecoder', () => {
  it('reassembles frames split at every byte', () => {
    const wire = Buffer.concat([encodeFrame('{"a":1}'), encodeFrame('ünïcode'), encodeFrame('')]);
    const decoder = new FrameDecoder();
    const bodies: string[] = [];
    for (const byte of wire) {
      for (const result of decoder.push(Buffer.from([byte]))) {
        assert.equal(result.kind, 'frame');
        if (result.kind === 'frame') bodies.push(result.body);
      }
    }
    assert.deepEqual(bodies, ['{"a":1}', 'ünïcode', '']);
  });

  it('reports an oversized frame once, skips its body, and reads the next frame', () => {
    const decoder = new FrameDecoder(16);
    const big = encodeFrame('x'.repeat(100));
    const results = [
      ...decoder.push(big.subarray(0, 50)),
      ...decoder.push(Buffer.concat([big.subarray(50), encodeFrame('ok')])),
    ];
    assert.deepEqual(results, [
      { kind: 'oversized', length: 100 },
      { kind: 'frame', body: 'ok' },
    ]);
  });
});
