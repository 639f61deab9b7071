import { describe, expect, it } from 'vitest';
import { outputsDisagreement, tensorDisagreement } from '../../../server/core/validation/compare.ts';
import { agreementNeeded, decideQuorum } from '../../../server/core/validation/quorum.ts';
import { resultShapeProblem } from '../../../server/core/validation/result-shape.ts';
import { tensorFromTyped } from '../../../shared/tensor/tensor.ts';

const TOL = { rtol: 1e-3, atol: 1e-5 };
const f32 = (...v: number[]) => tensorFromTyped('float32', [v.length], new Float32Array(v));

describe('tensorDisagreement', () => {
  it('accepts floats within rtol/atol and refuses beyond', () => {
    expect(tensorDisagreement(f32(1, 100), f32(1.0009, 100.09), TOL)).toBeNull();
    expect(tensorDisagreement(f32(0), f32(9e-6), TOL)).toBeNull();
    expect(tensorDisagreement(f32(1), f32(1.0021), TOL)).toMatch(/^element 0: 1 vs 1\.00\d+ \(\|diff\| /);
    expect(tensorDisagreement(f32(0), f32(2e-5), TOL)).toMatch(/element 0/);
  });

  it('treats NaN or Inf against a number as disagreement, NaN against NaN as agreement', () => {
    expect(tensorDisagreement(f32(NaN), f32(1), TOL)).toBe('element 0: NaN vs 1');
    expect(tensorDisagreement(f32(Infinity), f32(1e38), TOL)).toMatch(/Infinity vs/);
    expect(tensorDisagreement(f32(NaN, 2), f32(NaN, 2), TOL)).toBeNull();
    expect(tensorDisagreement(f32(-Infinity), f32(-Infinity), TOL)).toBeNull();
  });

  it('compares integers and bools exactly, whatever the tolerance', () => {
    const a = tensorFromTyped('int64', [2], new BigInt64Array([1n, 2n]));
    const b = tensorFromTyped('int64', [2], new BigInt64Array([1n, 3n]));
    expect(tensorDisagreement(a, b, { rtol: 1, atol: 10 })).toMatch(/int64 values differ/);
    const t = tensorFromTyped('bool', [2], new Uint8Array([1, 0]));
    expect(tensorDisagreement(t, tensorFromTyped('bool', [2], new Uint8Array([1, 1])), { rtol: 1, atol: 1 })).toMatch(/bool values differ/);
  });

  it('compares float16 by value', () => {
    const h = (bits: number[]) => tensorFromTyped('float16', [bits.length], new Uint16Array(bits));
    expect(tensorDisagreement(h([0x3c00]), h([0x3c01]), TOL)).toBeNull(); // 1 vs 1.000977: within rtol 1e-3
    expect(tensorDisagreement(h([0x3c00]), h([0x4000]), TOL)).toMatch(/1 vs 2/);
  });

  it('refuses different shapes and dtypes, and names the output', () => {
    expect(tensorDisagreement(f32(1, 2), f32(1), TOL)).toBe('shape float32[2] vs float32[1]');
    expect(outputsDisagreement([{ name: 'y', ...f32(1) }], [{ name: 'y', ...f32(2) }], TOL)).toMatch(/^output "y": element 0/);
  });
});

describe('decideQuorum', () => {
  const differ = (a: number, b: number) => (Math.abs(a - b) < 0.01 ? null : `${a} vs ${b}`);
  const r = (...vals: number[]) => vals.map((v, i) => ({ copyId: `c${i}`, result: v }));

  it('needs a strict majority of the replicas', () => {
    expect([1, 2, 3, 4, 5].map(agreementNeeded)).toEqual([1, 2, 2, 3, 3]);
  });

  it('validates two agreeing copies', () => {
    expect(decideQuorum(r(1, 1.001), 2, differ)).toEqual({ consensus: true, canonical: 'c0', valid: ['c0', 'c1'], invalid: [] });
  });

  it('has no consensus when two copies disagree, and finds it with a third', () => {
    expect(decideQuorum(r(1, 5), 2, differ)).toMatchObject({ consensus: false });
    const d = decideQuorum(r(5, 1, 1.002), 2, differ);
    expect(d).toMatchObject({ consensus: true, canonical: 'c1', valid: ['c1', 'c2'] });
    if (d.consensus) expect(d.invalid).toEqual([{ copyId: 'c0', reason: 'disagrees with the canonical result: 1 vs 5' }]);
  });

  it('never lets a minority win, even a colluding pair against three', () => {
    const d = decideQuorum(r(9, 9, 1, 1, 1), 3, differ);
    expect(d).toMatchObject({ consensus: true, valid: ['c2', 'c3', 'c4'] });
  });

  it('accepts one result when no replication is asked', () => {
    expect(decideQuorum(r(3), 1, differ)).toMatchObject({ consensus: true, canonical: 'c0' });
  });
});

describe('resultShapeProblem', () => {
  const spec = [{ name: 'y', dtype: 'float32' as const, dims: [null, 2] }];
  const y = (dims: number[]) => ({ name: 'y', ...tensorFromTyped('float32', dims, new Float32Array(dims.reduce((a, b) => a * b, 1))) });
  it('checks count, names, dtypes, records and fixed dims', () => {
    expect(resultShapeProblem([y([3, 2])], spec, 3, true)).toBeNull();
    expect(resultShapeProblem([], spec, 3, true)).toBe('expected 1 outputs (y), got 0');
    expect(resultShapeProblem([{ ...y([3, 2]), name: 'z' }], spec, 3, true)).toBe('output 0 must be "y", got "z"');
    expect(resultShapeProblem([y([2, 2])], spec, 3, true)).toBe('output "y" must have 3 records on axis 0, got float32[2,2]');
    expect(resultShapeProblem([y([3, 4])], spec, 3, true)).toBe('output "y" dim 1 must be 2, got float32[3,4]');
    expect(resultShapeProblem([y([3, 2, 1])], spec, 3, true)).toBe('output "y" must have rank 2, got float32[3,2,1]');
  });
});
