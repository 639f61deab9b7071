/**
 * The volunteer's inner loop (shared/training/local-steps.ts): H inner steps on
 * H contiguous micro-batches, against float64 references of SGD with momentum
 * and AdamW written out here; and the replica comparison of its results
 * (server/core/validation/updates.ts).
 */
import { describe, expect, it } from 'vitest';
import { localUpdateDisagreement } from '../../../server/core/validation/updates.ts';
import { createRng } from '../../../server/training/rng.ts';
import { type NamedTensor, type Tensor, typedView } from '../../../shared/tensor/tensor.ts';
import { LOCAL_OUTPUTS, type LocalStepsPlan, microBatches, runLocalSteps } from '../../../shared/training/local-steps.ts';
import type { OptimizerConfig } from '../../../shared/training/optimizer.ts';
import { decodeUpdate, type UpdateFormat } from '../../../shared/training/update-codec.ts';

const D = 3;
const bytes = (a: Float32Array) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
const f32 = (t: Tensor) => typedView(t as Tensor & { dtype: 'float32' });

/** Linear regression y ≈ x·w + b, loss = mean squared error: the exact gradient, as a train-step graph would give it. */
async function linearStep(feeds: Record<string, Tensor>, outputs: string[]): Promise<NamedTensor[]> {
  const x = f32(feeds.x!), y = f32(feeds.y!), w = f32(feeds.w!), b = f32(feeds.b!)[0]!;
  const n = y.length;
  let loss = 0;
  const gw = new Float64Array(D);
  let gb = 0;
  for (let r = 0; r < n; r++) {
    let p = b;
    for (let j = 0; j < D; j++) p += x[r * D + j]! * w[j]!;
    const e = p - y[r]!;
    loss += (e * e) / n;
    for (let j = 0; j < D; j++) gw[j]! += (2 * e * x[r * D + j]!) / n;
    gb += (2 * e) / n;
  }
  expect(outputs).toEqual(['loss', 'gw', 'gb']);
  return [
    { name: 'loss', dtype: 'float32', dims: [], data: bytes(Float32Array.of(loss)) },
    { name: 'gw', dtype: 'float32', dims: [D], data: bytes(Float32Array.from(gw)) },
    { name: 'gb', dtype: 'float32', dims: [1], data: bytes(Float32Array.of(gb)) },
  ];
}

function problem(records: number) {
  const rng = createRng(9);
  const x = Float32Array.from({ length: records * D }, () => rng.normal());
  const y = Float32Array.from({ length: records }, (_, r) => 0.5 * x[r * D]! - 2 * x[r * D + 1]! + 0.1 + rng.normal() * 0.01);
  const feeds: Record<string, Tensor> = {
    x: { dtype: 'float32', dims: [records, D], data: bytes(x) },
    y: { dtype: 'float32', dims: [records], data: bytes(y) },
    w: { dtype: 'float32', dims: [D], data: bytes(Float32Array.of(0.2, 0.1, -0.3)) },
    b: { dtype: 'float32', dims: [1], data: bytes(Float32Array.of(0)) },
  };
  return { x, y, feeds };
}

const plan = (optimizer: OptimizerConfig, steps: number, updateFormat: UpdateFormat = 'fp32'): LocalStepsPlan => ({
  steps, optimizer, params: ['w', 'b'], loss: 'loss', grads: ['gw', 'gb'], batched: ['x', 'y'], updateFormat, blockSize: 64,
});

/** H steps in float64, written out from the optimizers' definitions (PyTorch SGD momentum; AdamW, Loshchilov & Hutter). */
function reference(x: Float32Array, y: Float32Array, steps: number, opt: OptimizerConfig, lrAt: (k: number) => number = () => opt.lr) {
  const p = [0.2, 0.1, -0.3, 0];
  const start = [...p];
  const m = [0, 0, 0, 0], v = [0, 0, 0, 0];
  const losses: number[] = [];
  microBatches(y.length, steps).forEach(({ start: s, end: e }, k) => {
    const g = [0, 0, 0, 0];
    let loss = 0;
    for (let r = s; r < e; r++) {
      let pred = p[3]!;
      for (let j = 0; j < D; j++) pred += x[r * D + j]! * p[j]!;
      const err = pred - y[r]!;
      loss += (err * err) / (e - s);
      for (let j = 0; j < D; j++) g[j]! += (2 * err * x[r * D + j]!) / (e - s);
      g[3]! += (2 * err) / (e - s);
    }
    losses.push(loss);
    const lr = lrAt(k);
    for (let i = 0; i < 4; i++) {
      if (opt.kind === 'sgd') {
        m[i] = (opt.momentum ?? 0) * m[i]! + g[i]!;
        p[i]! -= lr * m[i]!;
      } else {
        const t = k + 1;
        m[i] = 0.9 * m[i]! + 0.1 * g[i]!;
        v[i] = 0.999 * v[i]! + 0.001 * g[i]! * g[i]!;
        p[i] = p[i]! * (1 - lr * (opt.weightDecay ?? 0)) - (lr * (m[i]! / (1 - 0.9 ** t))) / (Math.sqrt(v[i]! / (1 - 0.999 ** t)) + 1e-8);
      }
    }
  });
  return { losses, change: p.map((q, i) => q - start[i]!) };
}

describe('local steps on the volunteer', () => {
  it('splits a shard into H near-equal contiguous micro-batches', () => {
    expect(microBatches(10, 3)).toEqual([{ start: 0, end: 3 }, { start: 3, end: 6 }, { start: 6, end: 10 }]);
    expect(microBatches(2, 4)).toEqual([{ start: 0, end: 1 }, { start: 1, end: 2 }]);
  });

  for (const opt of [{ kind: 'sgd', lr: 0.05, momentum: 0.9 }, { kind: 'adam', lr: 0.1, weightDecay: 0.1 }] as OptimizerConfig[]) {
    it(`takes H=8 ${opt.kind === 'sgd' ? 'SGD-momentum' : 'AdamW'} steps and returns their losses and the parameter change, as a float64 reference does`, async () => {
      const { x, y, feeds } = problem(64);
      const ref = reference(x, y, 8, opt);
      const r = await runLocalSteps(plan(opt, 8), feeds, linearStep, null);
      expect(r.outputs.map((t) => t.name)).toEqual([LOCAL_OUTPUTS.losses, LOCAL_OUTPUTS.update]);
      const losses = Array.from(f32(r.outputs[0]!));
      const change = Array.from(f32(r.outputs[1]!));
      expect(losses).toHaveLength(8);
      losses.forEach((l, i) => expect(l).toBeCloseTo(ref.losses[i]!, 5));
      change.forEach((c, i) => expect(c).toBeCloseTo(ref.change[i]!, 5));
      // It trained: the loss over all 64 records is lower at the start weights plus the change.
      const mse = (p: number[]) => Array.from(y).reduce((s, t, r) => s + (p[3]! + [0, 1, 2].reduce((a, j) => a + x[r * D + j]! * p[j]!, 0) - t) ** 2, 0) / y.length;
      const before = [0.2, 0.1, -0.3, 0];
      expect(mse(before.map((q, i) => q + change[i]!))).toBeLessThan(mse(before) * 0.7);
      // The fed weights are left as they were (the change is returned, not applied).
      expect(Array.from(f32(feeds.w!))).toEqual([Math.fround(0.2), Math.fround(0.1), Math.fround(-0.3)]);
    });
  }

  it("scales each inner step's lr by the run's schedule from the shard's first step (round 3 of a cosine run), as the reference does", async () => {
    const { x, y, feeds } = problem(64);
    const opt: OptimizerConfig = { kind: 'adam', lr: 0.1, weightDecay: 0.1 };
    // 8 rounds of H=8 inner steps, 4 of warm-up: round 3's shard takes inner steps 24..31 of 64, all in the decay.
    const schedule = { kind: 'cosine' as const, warmupSteps: 4, totalSteps: 64, minRatio: 0 };
    const lrAt = (k: number) => 0.1 * 0.5 * (1 + Math.cos((Math.PI * (24 + k - 4)) / 60));
    const ref = reference(x, y, 8, opt, lrAt);
    const r = await runLocalSteps({ ...plan(opt, 8), lrSchedule: { schedule, firstStep: 24 } }, feeds, linearStep, null);
    const change = Array.from(f32(r.outputs[1]!));
    change.forEach((c, i) => expect(c).toBeCloseTo(ref.change[i]!, 6));
    // Not the constant-lr result: the schedule was applied (the lrs here are 0.75 down to 0.58 of the base).
    const constant = reference(x, y, 8, opt);
    expect(Math.abs(change[0]! - constant.change[0]!)).toBeGreaterThan(1e-3);
  });

  it('says when the inner steps diverge instead of sending NaN', async () => {
    const { feeds } = problem(16);
    await expect(runLocalSteps(plan({ kind: 'sgd', lr: 1e30 }, 4), feeds, linearStep, null)).rejects.toThrow(/diverged/);
  });
});

describe('replicas of a local-steps shard', () => {
  const tol = { steps: 8, inner: { kind: 'sgd', lr: 0.05 } as OptimizerConfig, blockSize: 64, lossTolerance: { rtol: 1e-3, atol: 1e-4 } };

  async function result(format: UpdateFormat, tamper?: (change: Float32Array, losses: Float32Array) => void) {
    const { feeds } = problem(64);
    const r = await runLocalSteps(plan(tol.inner, 8, format), feeds, linearStep, null);
    const outs = r.outputs.map((t) => ({ ...t, data: t.data.slice() }));
    if (tamper) {
      const losses = f32(outs[0]!);
      if (format !== 'fp32') throw new Error('tamper fp32 only');
      tamper(f32(outs[1]!), losses);
    }
    return outs;
  }

  for (const format of ['fp32', 'fp16', 'int8'] as const) {
    it(`${format}: two honest replicas agree, and a replica carrying a residual from an earlier round still agrees`, async () => {
      const a = await result(format);
      const { feeds } = problem(64);
      // An earlier round left this volunteer a residual (what rounding dropped): it rides on this change.
      const earlier = await runLocalSteps(plan(tol.inner, 8, format), feeds, linearStep, null);
      const b = (await runLocalSteps(plan(tol.inner, 8, format), feeds, linearStep, earlier.residual)).outputs;
      expect(localUpdateDisagreement({ ...tol, updateFormat: format }, 1e-6, 4, a, b)).toBeNull();
      if (format !== 'fp32') expect(Array.from(decodeUpdate({ format, blockSize: 64, values: typedView(b[1]! as Tensor & { dtype: 'int8' }), scales: f32(b[2]!) }))).toHaveLength(4);
    });
  }

  it('catches a scaled or sign-flipped change and a different loss', async () => {
    const honest = await result('fp32');
    const spec = { ...tol, updateFormat: 'fp32' as const };
    expect(localUpdateDisagreement(spec, 0.01, 4, honest, await result('fp32', (c) => c.forEach((v, i) => { c[i] = -v; })))).toMatch(/parameter changes disagree: .*relative L2 2\.00/);
    expect(localUpdateDisagreement(spec, 0.01, 4, honest, await result('fp32', (c) => c.forEach((v, i) => { c[i] = v * 1.05; })))).toMatch(/parameter changes disagree/);
    expect(localUpdateDisagreement(spec, 0.01, 4, honest, await result('fp32', (_, l) => { l[3] = l[3]! * 1.01; }))).toMatch(/loss of inner step 4/);
    expect(localUpdateDisagreement(spec, 0.01, 4, honest, await result('fp32', (c) => { c[1] = NaN; }))).toMatch(/update value 1 is NaN/);
  });
});
