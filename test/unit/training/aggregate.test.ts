import { describe, expect, it } from 'vitest';
import { aggregate } from '../../../server/training/aggregate.ts';
import { createRng } from '../../../server/training/rng.ts';

const v = (...x: number[]) => Float32Array.from(x);
const l2 = (a: Float32Array, b: Float32Array) => Math.sqrt(a.reduce((s, x, i) => s + (x - b[i]!) ** 2, 0));

describe('aggregate', () => {
  it('mean is the shard-size weighted mean', () => {
    const out = aggregate([v(1, 2), v(3, -2), v(5, 10)], [1, 2, 1], 'mean');
    // (1*1 + 2*3 + 1*5)/4 = 3, (2 - 4 + 10)/4 = 2
    expect(Array.from(out)).toEqual([3, 2]);
  });

  it('median per coordinate, odd and even counts, with weights', () => {
    expect(Array.from(aggregate([v(1, 9), v(7, 2), v(3, 4)], [1, 1, 1], 'median'))).toEqual([3, 4]);
    expect(Array.from(aggregate([v(1), v(7), v(3), v(5)], [1, 1, 1, 1], 'median'))).toEqual([4]);
    // weight 3 on the value 7 pulls the median there
    expect(Array.from(aggregate([v(1), v(7), v(3)], [1, 3, 1], 'median'))).toEqual([7]);
  });

  it('trimmed-mean cuts trim*weight from each tail', () => {
    // 5 equal workers, trim 0.2: drop min and max per coordinate
    const out = aggregate([v(1, 50), v(2, -3), v(3, 0), v(4, 1), v(100, 2)], [1, 1, 1, 1, 1], 'trimmed-mean', 0.2);
    expect(out[0]).toBeCloseTo(3, 6);
    expect(out[1]).toBeCloseTo(1, 6);
    // trim 0 is the weighted mean
    expect(Array.from(aggregate([v(1), v(3)], [1, 3], 'trimmed-mean', 0))).toEqual([2.5]);
    // fractional cut: trim 0.1 of 5 workers takes half of the extremes' weight
    expect(aggregate([v(0), v(1), v(2), v(3), v(10)], [1, 1, 1, 1, 1], 'trimmed-mean', 0.1)[0]).toBeCloseTo((0.5 * 0 + 1 + 2 + 3 + 0.5 * 10) / 4, 6);
  });

  describe('one Byzantine worker out of five', () => {
    const rng = createRng(5);
    const dim = 1000;
    const truth = Float32Array.from({ length: dim }, () => rng.normal());
    const honest = Array.from({ length: 4 }, () => Float32Array.from(truth, (t) => t + 0.1 * rng.normal()));
    const honestMean = aggregate(honest, [1, 1, 1, 1], 'mean');
    const scale = l2(honestMean, new Float32Array(dim));

    for (const [attack, bad] of [
      ['scaled x100', Float32Array.from(honest[0]!, (x) => x * 100)],
      ['sign-flipped', Float32Array.from(honest[0]!, (x) => -x)],
    ] as const) {
      it(`${attack}: robust rules stay near the honest mean, the plain mean does not`, () => {
        const grads = [...honest, bad];
        const w = [1, 1, 1, 1, 1];
        const errMean = l2(aggregate(grads, w, 'mean'), honestMean) / scale;
        const errTrim = l2(aggregate(grads, w, 'trimmed-mean', 0.2), honestMean) / scale;
        const errMedian = l2(aggregate(grads, w, 'median'), honestMean) / scale;
        expect(errTrim).toBeLessThan(0.1);
        expect(errMedian).toBeLessThan(0.1);
        expect(errMean).toBeGreaterThan(attack === 'scaled x100' ? 10 : 0.35);
      });
    }
  });

  it('validates its inputs', () => {
    expect(() => aggregate([], [], 'mean')).toThrow(/no gradients/);
    expect(() => aggregate([v(1)], [1, 2], 'mean')).toThrow(/1 gradients but 2 weights/);
    expect(() => aggregate([v(1), v(1, 2)], [1, 1], 'mean')).toThrow(/gradient 1 has 2 values/);
    expect(() => aggregate([v(1), v(NaN)], [1, 1], 'median')).toThrow(/gradient 1 has a non-finite value at index 0/);
    expect(() => aggregate([v(1)], [-1], 'mean')).toThrow(/weight 0/);
    expect(() => aggregate([v(1)], [0], 'mean')).toThrow(/sum to zero/);
    expect(() => aggregate([v(1)], [1], 'trimmed-mean', 0.5)).toThrow(/trim must be in/);
  });
});
