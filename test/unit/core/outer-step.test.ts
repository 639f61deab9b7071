/** The outer optimizer of local-steps training (server/core/training/outer-step.ts) against a float64 reference. */
import { describe, expect, it } from 'vitest';
import { DILOCO_OUTER, outerOptimizer, outerStep } from '../../../server/core/training/outer-step.ts';
import { initOptimizerState, type Params } from '../../../shared/training/optimizer.ts';

const f = (...x: number[]) => Float32Array.from(x);

describe('outer step', () => {
  it("defaults to DiLoCo's Nesterov momentum, lr 0.7 and momentum 0.9", () => {
    expect(outerOptimizer()).toEqual({ kind: 'sgd', lr: 0.7, momentum: 0.9, nesterov: true });
    expect(DILOCO_OUTER).toEqual({ lr: 0.7, momentum: 0.9 });
    expect(outerOptimizer({ lr: 1, momentum: 0 })).toEqual({ kind: 'sgd', lr: 1, momentum: 0, nesterov: true });
  });

  it('with lr 1 and no momentum it is plain averaging: the weights plus the mean change (FedAvg)', () => {
    const s = initOptimizerState(outerOptimizer({ lr: 1, momentum: 0 }), { w: f(1, 2, 3) });
    const { params } = outerStep(s, { w: f(1, 2, 3) }, { w: f(0.5, -0.25, 0) });
    expect(Array.from(params.w!)).toEqual([1.5, 1.75, 3]);
  });

  it('matches a float64 Nesterov reference over five rounds (pseudo-gradient = minus the change)', () => {
    const lr = 0.7, mu = 0.9;
    const changes = [[0.1, -0.2], [0.05, 0.3], [-0.4, 0.1], [0.2, 0.2], [0, -0.05]];
    // Reference, written out from DiLoCo (PyTorch SGD, nesterov): g = θ_start − θ_avg = −Δ; b = μb + g; θ −= lr(g + μb).
    const ref = [1, -1];
    const buf = [0, 0];
    let state = initOptimizerState(outerOptimizer(), { w: f(1, -1) });
    let w: Params = { w: f(1, -1) };
    for (const d of changes) {
      for (let i = 0; i < 2; i++) {
        const g = -d[i]!;
        buf[i] = mu * buf[i]! + g;
        ref[i] = ref[i]! - lr * (g + mu * buf[i]!);
      }
      ({ params: w, state } = outerStep(state, w, { w: f(...d) }));
    }
    expect(state.step).toBe(5);
    // float32 storage of weights and the momentum buffer against float64: a few ulps after five rounds.
    for (let i = 0; i < 2; i++) expect(w.w![i]).toBeCloseTo(ref[i]!, 6);
    for (let i = 0; i < 2; i++) expect(state.slots.w!.v![i]).toBeCloseTo(buf[i]!, 6);
  });
});
