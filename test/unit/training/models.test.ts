import { describe, expect, it } from 'vitest';
import { buildCnn, buildMlp } from '../../../server/training/models.ts';
import { buildTrainStep } from '../../../server/training/autodiff/train-step.ts';
import { createRng, permutation } from '../../../server/training/rng.ts';
import { floats } from './helpers/fd.ts';
import { f32, uniform } from './helpers/graphs.ts';
import { wasmRunner } from './helpers/ort.ts';

function stats(v: Float32Array) {
  const mean = v.reduce((a, b) => a + b, 0) / v.length;
  const std = Math.sqrt(v.reduce((a, b) => a + (b - mean) ** 2, 0) / v.length);
  return { mean, std, max: v.reduce((a, b) => Math.max(a, Math.abs(b)), 0) };
}

describe('demo models', () => {
  it('are byte-identical for a seed and differ across seeds', () => {
    expect(buildMlp({ seed: 4 })).toEqual(buildMlp({ seed: 4 }));
    expect(buildCnn({ seed: 4 })).toEqual(buildCnn({ seed: 4 }));
    expect(buildMlp({ seed: 4 })).not.toEqual(buildMlp({ seed: 5 }));
  });

  it('MLP: default 784-128-10, He-normal hidden layer, Glorot-uniform output, zero biases', () => {
    const step = buildTrainStep(buildMlp(), { loss: 'cross-entropy' });
    expect(step.params.map((p) => [p.name, p.dims])).toEqual([
      ['fc1.weight', [128, 784]], ['fc1.bias', [128]], ['fc2.weight', [10, 128]], ['fc2.bias', [10]],
    ]);
    const w1 = stats(floats(step.initialParams['fc1.weight']!));
    expect(Math.abs(w1.mean)).toBeLessThan(0.002);
    expect(w1.std / Math.sqrt(2 / 784)).toBeGreaterThan(0.97);
    expect(w1.std / Math.sqrt(2 / 784)).toBeLessThan(1.03);
    const w2 = stats(floats(step.initialParams['fc2.weight']!));
    const limit = Math.sqrt(6 / (128 + 10));
    expect(w2.max).toBeLessThanOrEqual(limit);
    expect(w2.std / (limit / Math.sqrt(3))).toBeGreaterThan(0.9);
    expect(stats(floats(step.initialParams['fc1.bias']!)).max).toBe(0);
  });

  it('MLP sizes are configurable', () => {
    const step = buildTrainStep(buildMlp({ sizes: [20, 16, 8, 3] }), { loss: 'mse' });
    expect(step.params.map((p) => p.dims)).toEqual([[16, 20], [16], [8, 16], [8], [3, 8], [3]]);
    expect(() => buildMlp({ sizes: [5] })).toThrow(/at least two/);
  });

  it('both run in onnxruntime-web and give [N, 10] logits', async () => {
    const rng = createRng(1);
    for (const [model, dims] of [[buildMlp(), [3, 784]], [buildCnn(), [3, 1, 28, 28]]] as const) {
      const run = await wasmRunner(model);
      const out = await run.run({ input: f32([...dims], uniform(rng, [...dims], 0, 1)) });
      expect(out.logits!.dims).toEqual([3, 10]);
      expect(floats(out.logits!).every(Number.isFinite)).toBe(true);
      await run.release();
    }
  });

  it('CNN has two conv blocks and a dense head', () => {
    const step = buildTrainStep(buildCnn(), { loss: 'cross-entropy' });
    expect(step.params.map((p) => [p.name, p.dims])).toEqual([
      ['conv1.weight', [8, 1, 3, 3]], ['conv1.bias', [8]], ['conv2.weight', [16, 8, 3, 3]], ['conv2.bias', [16]],
      ['fc.weight', [10, 784]], ['fc.bias', [10]],
    ]);
    expect(step.batch.data.dims).toEqual(['N', 1, 28, 28]);
  });
});

describe('rng', () => {
  it('is deterministic per seed and roughly uniform/normal', () => {
    const a = createRng(9);
    const b = createRng(9);
    const xs = Array.from({ length: 20000 }, () => a.next());
    expect(xs.slice(0, 10)).toEqual(Array.from({ length: 10 }, () => b.next()));
    expect(Math.abs(xs.reduce((s, x) => s + x, 0) / xs.length - 0.5)).toBeLessThan(0.01);
    expect(xs.every((x) => x >= 0 && x < 1)).toBe(true);
    const c = createRng(10);
    const ns = Array.from({ length: 20000 }, () => c.normal());
    const m = ns.reduce((s, x) => s + x, 0) / ns.length;
    expect(Math.abs(m)).toBeLessThan(0.03);
    expect(Math.abs(Math.sqrt(ns.reduce((s, x) => s + (x - m) ** 2, 0) / ns.length) - 1)).toBeLessThan(0.03);
    expect(Array.from(permutation(10, createRng(1))).sort((p, q) => p - q)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });
});
