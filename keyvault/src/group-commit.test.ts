import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { GroupCommit } from './group-commit.js';

describe('GroupCommit', () => {
  it('writes what is asked in one turn as one batch and answers each caller in order', async () => {
    const batches: number[][] = [];
    const commit = new GroupCommit<number, string>((inputs) => {
      batches.push([...inputs]);
      return inputs.map((input) => `stored ${input}`);
    });

    const first = await Promise.all([1, 2, 3].map((input) => commit.write(input)));
    const second = await commit.write(4);

    assert.deepEqual(first, ['stored 1', 'stored 2', 'stored 3']);
    assert.equal(second, 'stored 4');
    assert.deepEqual(batches, [[1, 2, 3], [4]]);
  });

  it('writes a failed batch again one by one, so that only the bad input fails', async () => {
    const batches: number[][] = [];
    const commit = new GroupCommit<number, number>((inputs) => {
      batches.push([...inputs]);
      if (inputs.includes(13)) throw new Error('13 is refused');
      return inputs.map((input) => input * 10);
    });

    const results = await Promise.allSettled([1, 13, 3].map((input) => commit.write(input)));

    assert.deepEqual(
      results.map((result) => (result.status === 'fulfilled' ? result.value : 'refused')),
      [10, 'refused', 30],
    );
    const refused = results[1];
    assert.ok(refused?.status === 'rejected' && refused.reason instanceof Error);
    assert.equal(refused.reason.message, '13 is refused');
    assert.deepEqual(batches, [[1, 13, 3], [1], [13], [3]]);
  });

  it('refuses every caller when a batch answers the wrong number of results', async () => {
    const commit = new GroupCommit<number, number>((inputs) => inputs.slice(1));
    const results = await Promise.allSettled([1, 2].map((input) => commit.write(input)));
    assert.deepEqual(
      results.map((result) => result.status),
      ['rejected', 'rejected'],
    );
  });
});
