import { describe, expect, it } from 'vitest';
import {
  initOptimizerState, optimizerStateFromPlain, optimizerStateToPlain, optimizerStep,
} from '../../../server/training/optimizer.ts';
import type { OptimizerConfig, Params } from '../../../server/training/optimizer.ts';

const f = (...x: number[]) => Float32Array.from(x);

describe('SGD', () => {
  it('plain step: p - lr*g', () => {
    const s = initOptimizerState({ kind: 'sgd', lr: 0.1 }, { w: f(1, 2) });
    const { params } = optimizerStep(s, { w: f(1, 2) }, { w: f(0.5, -1) });
    expect(Array.from(params.w!)).toEqual([Math.fround(0.95), Math.fround(2.1)]);
  });

  it('momentum and weight decay match hand computation over two steps', () => {
    const cfg: OptimizerConfig = { kind: 'sgd', lr: 0.1, momentum: 0.9, weightDecay: 0.01 };
    let state = initOptimizerState(cfg, { w: f(1) });
    let p: Params = { w: f(1) };
    // step 1: g' = 0.5 + 0.01*1 = 0.51; v = 0.51; p = 1 - 0.051 = 0.949
    ({ params: p, state } = optimizerStep(state, p, { w: f(0.5) }));
    expect(p.w![0]).toBeCloseTo(0.949, 6);
    // step 2: g' = 0.5 + 0.01*0.949 = 0.50949; v = 0.9*0.51 + 0.50949 = 0.96849; p = 0.949 - 0.096849
    ({ params: p, state } = optimizerStep(state, p, { w: f(0.5) }));
    expect(p.w![0]).toBeCloseTo(0.949 - 0.096849, 6);
    expect(state.step).toBe(2);
    expect(state.slots.w!.v![0]).toBeCloseTo(0.96849, 6);
  });

  it('nesterov uses g + mu*v', () => {
    const s = initOptimizerState({ kind: 'sgd', lr: 1, momentum: 0.5, nesterov: true }, { w: f(0) });
    // v = 1; d = 1 + 0.5*1 = 1.5
    expect(optimizerStep(s, { w: f(0) }, { w: f(1) }).params.w![0]).toBe(-1.5);
  });
});

describe('Adam', () => {
  it('matches the textbook update for two steps', () => {
    const cfg: OptimizerConfig = { kind: 'adam', lr: 0.01, beta1: 0.9, beta2: 0.999, eps: 1e-8 };
    let state = initOptimizerState(cfg, { w: f(1, -1) });
    let p: Params = { w: f(1, -1) };
    const g1 = [0.2, -0.4];
    const g2 = [0.1, 0.3];
    ({ params: p, state } = optimizerStep(state, p, { w: f(...g1) }));
    // step 1: mhat = g, vhat = g^2 -> p -= lr * g/|g| (up to eps)
    expect(p.w![0]).toBeCloseTo(1 - 0.01, 6);
    expect(p.w![1]).toBeCloseTo(-1 + 0.01, 6);
    ({ params: p, state } = optimizerStep(state, p, { w: f(...g2) }));
    for (let i = 0; i < 2; i++) {
      const m = 0.9 * (0.1 * g1[i]!) + 0.1 * g2[i]!;
      const v = 0.999 * (0.001 * g1[i]! ** 2) + 0.001 * g2[i]! ** 2;
      const mhat = m / (1 - 0.9 ** 2);
      const vhat = v / (1 - 0.999 ** 2);
      const p1 = (i === 0 ? 1 : -1) - 0.01 * g1[i]! / (Math.abs(g1[i]!) + 1e-8);
      expect(p.w![i]).toBeCloseTo(p1 - 0.01 * mhat / (Math.sqrt(vhat) + 1e-8), 6);
    }
  });

  it('decoupled weight decay shrinks the weights by lr*wd first', () => {
    const s = initOptimizerState({ kind: 'adam', lr: 0.1, weightDecay: 0.5 }, { w: f(2) });
    // zero gradient: Adam term is 0/(0+eps) = 0; decay: 2 - 0.1*0.5*2 = 1.9
    expect(optimizerStep(s, { w: f(2) }, { w: f(0) }).params.w![0]).toBeCloseTo(1.9, 6);
  });
});

describe('optimizer state', () => {
  it('round-trips through JSON and continues identically', () => {
    const cfg: OptimizerConfig = { kind: 'adam', lr: 0.003 };
    let state = initOptimizerState(cfg, { a: f(1, 2, 3), b: f(-1) });
    let p: Params = { a: f(1, 2, 3), b: f(-1) };
    for (let k = 0; k < 3; k++) ({ params: p, state } = optimizerStep(state, p, { a: f(0.1 * k, -0.2, 0.3), b: f(k) }));
    const restored = optimizerStateFromPlain(JSON.parse(JSON.stringify(optimizerStateToPlain(state))));
    expect(restored).toEqual(state);
    const g = { a: f(0.5, 0.5, 0.5), b: f(-2) };
    expect(optimizerStep(restored, p, g)).toEqual(optimizerStep(state, p, g));
  });

  it('steps are pure and deterministic', () => {
    const p = { w: f(1, 2) };
    const s = initOptimizerState({ kind: 'sgd', lr: 0.1, momentum: 0.9 }, p);
    const a = optimizerStep(s, p, { w: f(1, 1) });
    const b = optimizerStep(s, p, { w: f(1, 1) });
    expect(a).toEqual(b);
    expect(Array.from(p.w)).toEqual([1, 2]);
    expect(s.step).toBe(0);
  });

  it('rejects malformed state and mismatched gradients', () => {
    expect(() => optimizerStateFromPlain({ config: { kind: 'adam', lr: 1 }, step: 1, slots: { w: { m: [0] } } })).toThrow(/slots for w are \[m\], expected \[m,v\]/);
    expect(() => optimizerStateFromPlain({ config: { kind: 'adam', lr: -1 }, step: 0, slots: {} })).toThrow(/lr/);
    const s = initOptimizerState({ kind: 'sgd', lr: 1 }, { w: f(1) });
    expect(() => optimizerStep(s, { w: f(1) }, { w: f(1, 2) })).toThrow(/gradient for w has 2 values/);
    expect(() => optimizerStep(s, { w: f(1) }, {})).toThrow(/missing gradient for w/);
  });
});
