import { describe, expect, it } from 'vitest';
import { INFERENCE, TRAIN } from '../../../server/core/jobs/kinds.ts';
import type { InferenceSpec, TrainSpec } from '../../../server/core/jobs/types.ts';
import { connectionAllowance, copyUploadBytes, resultFramingBytes, shapedResultBytes } from '../../../server/core/limits/result-allowance.ts';

const MiB = 1024 * 1024;

describe('result allowance', () => {
  it('bounds a result by its output shapes, axis 0 of stacked outputs being the shard\'s records', () => {
    const outputs = [{ name: 'y', dtype: 'float32' as const, dims: [null, 256] }, { name: 'k', dtype: 'int64' as const, dims: [null, 2] }];
    expect(shapedResultBytes(outputs, 1024, true)).toBe(1024 * 256 * 4 + 1024 * 2 * 8);
    // Not stacked, a free dim bounds nothing; nor do unknown dims.
    expect(shapedResultBytes(outputs, 1024, false)).toBeNull();
    expect(shapedResultBytes([{ name: 'y', dtype: 'float32', dims: null }], 4, true)).toBeNull();
    expect(shapedResultBytes([{ name: 'y', dtype: 'float16', dims: [3, 5] }], 4, false)).toBe(30);
    expect(INFERENCE.resultBytes({ outputs, stackOutputs: true } as InferenceSpec, 10)).toBe(10 * 256 * 4 + 10 * 2 * 8);
  });

  it('bounds a training result by its parameters: gradients, or a change with one loss per local step', () => {
    const sync = { outputs: [{ name: 'loss', dtype: 'float32', dims: [] }, { name: 'g', dtype: 'float32', dims: [10, 3] }] } as unknown as TrainSpec;
    expect(TRAIN.resultBytes(sync, 64)).toBe(4 + 120);
    const local = {
      outputs: [
        { name: 'local.losses', dtype: 'float32', dims: [null] },
        { name: 'local.update', dtype: 'int8', dims: [1000] },
        { name: 'local.scales', dtype: 'float32', dims: [16] },
      ],
      localSteps: { steps: 8 },
    } as unknown as TrainSpec;
    expect(TRAIN.resultBytes(local, 64)).toBe(8 * 4 + 1000 + 16 * 4);
  });

  it('never allows more than the coordinator\'s result limit, plus framing', () => {
    expect(copyUploadBytes(1000, MiB, 2)).toBe(1000 + resultFramingBytes(2));
    expect(copyUploadBytes(64 * MiB, MiB, 1)).toBe(MiB + resultFramingBytes(1));
    expect(copyUploadBytes(null, MiB, 1)).toBe(MiB + resultFramingBytes(1));
  });

  it('holding several copies, one message may be the largest result and all of them may be in flight; holding none, the small allowance', () => {
    expect(connectionAllowance([], 16_384)).toEqual({ messageBytes: 16_384, inFlightBytes: 16_384, copies: 0 });
    expect(connectionAllowance([300_000, 1_000_000], 16_384)).toEqual({ messageBytes: 1_000_000, inFlightBytes: 16_384 + 1_300_000, copies: 2 });
    // A tiny result still leaves the small allowance for everything else.
    expect(connectionAllowance([100], 16_384).messageBytes).toBe(16_384);
  });
});
