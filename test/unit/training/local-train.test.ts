import { describe, expect, it } from 'vitest';
import { buildTrainStep } from '../../../server/training/autodiff/train-step.ts';
import { trainLocally } from '../../../server/training/local-train.ts';
import { createRng } from '../../../server/training/rng.ts';
import { makeForward, normal } from './helpers/graphs.ts';
import { wasmRunner } from './helpers/ort.ts';

describe('trainLocally', () => {
  it('fits a linear regression with mse and SGD+momentum (float labels path)', async () => {
    const rng = createRng(3);
    const trueW = [1.5, -2, 0.5];
    const x = normal(rng, [256, 3]);
    const y = Float32Array.from({ length: 256 }, (_, i) => trueW.reduce((s, w, j) => s + w * x[i * 3 + j]!, 0.25));
    const fwd = makeForward({
      input: ['N', 3], params: { W: { dims: [3, 1], values: [0, 0, 0] }, b: { dims: [1], values: [0] } },
      body: (b, xin) => b.op('Add', [b.op('MatMul', [xin, 'W']), 'b']),
    });
    const step = buildTrainStep(fwd, { loss: 'mse' });
    const runner = await wasmRunner(step.model);
    const r = await trainLocally({
      step, runner, data: x, labels: y, batchSize: 32, epochs: 25,
      optimizer: { kind: 'sgd', lr: 0.05, momentum: 0.9 }, seed: 1,
    });
    await runner.release();
    expect(r.losses.at(-1)!).toBeLessThan(1e-4);
    Array.from(r.params.W!).forEach((w, j) => expect(w).toBeCloseTo(trueW[j]!, 2));
    expect(r.params.b![0]).toBeCloseTo(0.25, 2);
    expect(r.optimizer.step).toBe(200);
  });

  it('rejects data that does not fit the train step', async () => {
    const fwd = makeForward({
      input: ['N', 3], params: { W: { dims: [3, 2], values: new Float32Array(6) } },
      body: (b, xin) => b.op('MatMul', [xin, 'W']),
    });
    const step = buildTrainStep(fwd, { loss: 'cross-entropy' });
    const runner = await wasmRunner(step.model);
    const base = { step, runner, batchSize: 2, epochs: 1, optimizer: { kind: 'sgd', lr: 0.1 } as const };
    await expect(trainLocally({ ...base, data: new Float32Array(7), labels: new BigInt64Array(2) })).rejects.toThrow(/not a multiple of the sample size 3/);
    await expect(trainLocally({ ...base, data: new Float32Array(6), labels: new BigInt64Array(3) })).rejects.toThrow(/3 label values for 2 samples/);
    await expect(trainLocally({ ...base, data: new Float32Array(6), labels: new Float32Array(2) })).rejects.toThrow(/labels must be int64/);
    await runner.release();
  });
});
