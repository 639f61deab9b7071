import { describe, expect, it } from 'vitest';
import {
  compareGradients, cosineSimilarity, flattenGradients, gradientsAgree, relativeL2Error,
} from '../../../server/core/validation/gradients.ts';

const f = (...x: number[]) => Float32Array.from(x);

describe('gradient comparison', () => {
  it('relative L2 error and cosine by hand', () => {
    // ||a-b|| = ||(0,1)|| = 1; max(||a||,||b||) = max(5, sqrt(9+25)) = sqrt(34)
    expect(relativeL2Error(f(3, 4), f(3, 5))).toBeCloseTo(1 / Math.sqrt(34), 12);
    expect(cosineSimilarity(f(1, 0), f(0, 1))).toBe(0);
    expect(cosineSimilarity(f(1, 1), f(2, 2))).toBeCloseTo(1, 12);
    expect(cosineSimilarity(f(1, 1), f(-1, -1))).toBeCloseTo(-1, 12);
    expect(compareGradients(f(0, 0), f(0, 0))).toEqual({ relL2: 0, cosine: 1 });
    expect(compareGradients(f(0, 0), f(1, 0)).cosine).toBe(0);
  });

  it('gradientsAgree needs both bounds', () => {
    const a = f(1, 2, 3);
    const tol = { maxRelL2: 0.05, minCosine: 0.99 };
    expect(gradientsAgree(a, f(1.01, 2, 3), tol)).toBe(true);
    expect(gradientsAgree(a, f(2, 4, 6), tol)).toBe(false); // same direction, twice as long
    expect(gradientsAgree(a, f(-1, -2, -3), tol)).toBe(false);
    expect(gradientsAgree(a, f(NaN, 2, 3), tol)).toBe(false);
    expect(() => gradientsAgree(a, f(1), tol)).toThrow(/differ in length/);
  });

  it('flattens per-parameter gradients in order', () => {
    expect(Array.from(flattenGradients([f(1, 2), f(3)]))).toEqual([1, 2, 3]);
  });
});
