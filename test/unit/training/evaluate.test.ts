import { describe, expect, it } from 'vitest';
import { scoreBatch } from '../../../server/training/evaluate.ts';
import { gatherRecords, tensorFromTyped, typedView } from '../../../shared/tensor/tensor.ts';

describe('held-out scoring', () => {
  it('counts top-1 hits and sums softmax cross-entropy per record', () => {
    const logits = new Float32Array([2, 0, 0, /**/ 0, 0, 5]);
    const labels = tensorFromTyped('int64', [2], new BigInt64Array([0n, 1n]));
    const s = scoreBatch(logits, labels, 'cross-entropy', 2);
    expect(s.correct).toBe(1);
    const ce = (row: number[], k: number) => Math.log(row.reduce((a, x) => a + Math.exp(x), 0)) - row[k]!;
    expect(s.lossSum).toBeCloseTo(ce([2, 0, 0], 0) + ce([0, 0, 5], 1), 6);
  });

  it('averages squared error within a record for MSE', () => {
    const s = scoreBatch(new Float32Array([1, 3, 0, 0]), tensorFromTyped('float32', [2, 2], new Float32Array([0, 1, 0, 2])), 'mse', 2);
    expect(s.lossSum).toBeCloseTo((1 + 4) / 2 + 4 / 2, 6);
    expect(s.correct).toBe(0);
  });

  it('gathers records along axis 0 and refuses rows outside the tensor', () => {
    const t = tensorFromTyped('float32', [3, 2], new Float32Array([0, 1, 2, 3, 4, 5]));
    const g = gatherRecords(t, [2, 0]);
    expect(g.dims).toEqual([2, 2]);
    expect(Array.from(typedView(g as typeof g & { dtype: 'float32' }))).toEqual([4, 5, 0, 1]);
    expect(() => gatherRecords(t, [3])).toThrow('record 3 is outside 0..2');
  });
});
