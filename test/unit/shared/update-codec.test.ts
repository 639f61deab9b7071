/** fp16 / int8 parameter-change codecs with per-block scales and error feedback (shared/training/update-codec.ts). */
import { describe, expect, it } from 'vitest';
import { createRng } from '../../../server/training/rng.ts';
import {
  compressWithFeedback, decodeUpdate, encodeUpdate, roundingStep, sentErrorBound, type UpdateFormat, updateProblem,
} from '../../../shared/training/update-codec.ts';
import { floatToHalf, halfToFloat } from '../../../shared/tensor/float16.ts';

const norm = (x: ArrayLike<number>) => Math.sqrt(Array.from(x).reduce((s, v) => s + v * v, 0));
const sub = (a: ArrayLike<number>, b: ArrayLike<number>) => Float64Array.from({ length: a.length }, (_, i) => a[i]! - b[i]!);

describe('float16 conversion', () => {
  it('round-trips every finite half exactly', () => {
    const wrong: number[] = [];
    for (let h = 0; h < 0x10000; h++) {
      if ((h & 0x7c00) !== 0x7c00 && floatToHalf(halfToFloat(h)) !== h) wrong.push(h);
    }
    expect(wrong).toEqual([]);
  });

  it('rounds every float to the nearest half (ties to even), checked against the neighbouring halves', () => {
    const rng = createRng(5);
    const wrong: number[] = [];
    for (let k = 0; k < 20_000; k++) {
      const x = Math.fround((rng.next() * 2 - 1) * 2 ** Math.floor(rng.next() * 30 - 20));
      const h = floatToHalf(x);
      const err = Math.abs(halfToFloat(h) - x);
      for (const n of [h - 1, h + 1]) {
        if (n < 0 || (n & 0x7fff) > 0x7bff || ((n ^ h) & 0x8000)) continue;
        const other = Math.abs(halfToFloat(n) - x);
        if (err > other || (err === other && (h & 1))) wrong.push(x);
      }
    }
    expect(wrong).toEqual([]);
    expect(floatToHalf(70000)).toBe(0x7c00);
    expect(floatToHalf(-1e-9)).toBe(0x8000);
  });
});

describe('per-block codecs', () => {
  for (const format of ['fp16', 'int8'] as const) {
    it(`${format}: every value within one rounding step of its block's scale; zero blocks stay zero`, () => {
      const rng = createRng(1);
      const x = Float32Array.from({ length: 1000 }, (_, i) => (i >= 128 && i < 192 ? 0 : rng.normal() * 10 ** (Math.floor(i / 100) - 6)));
      const e = encodeUpdate(x, format, 64);
      expect(e.scales.length).toBe(16);
      expect(e.scales[2]).toBe(0);
      const d = decodeUpdate(e);
      const over = Array.from(x.keys()).filter((i) => Math.abs(d[i]! - x[i]!) > roundingStep(format, e.scales[Math.floor(i / 64)]!) * (1 + 1e-6) + 1e-45);
      expect(over).toEqual([]);
      expect(Array.from(d.subarray(128, 192)).every((v) => v === 0)).toBe(true);
      // Tiny changes (1e-6 here, beside 1e-5 in a shared block) keep their relative precision: the block scale,
      // not fp16's subnormals (steps of 6e-8), sets the step.
      expect(norm(sub(d.subarray(0, 100), x.subarray(0, 100))) / norm(x.subarray(0, 100))).toBeLessThan(format === 'fp16' ? 1e-3 : 5e-2);
    });
  }

  it('fp32 is exact', () => {
    const x = Float32Array.from([1e-30, -3.5, 7]);
    expect(Array.from(decodeUpdate(encodeUpdate(x, 'fp32')))).toEqual(Array.from(x));
  });

  it('names what is wrong with a received update', () => {
    const x = Float32Array.from({ length: 130 }, (_, i) => i - 60);
    const e = encodeUpdate(x, 'int8', 64);
    expect(updateProblem(e, 130)).toBeNull();
    expect(updateProblem(e, 131)).toMatch(/130 values, the model has 131/);
    expect(updateProblem({ ...e, scales: Float32Array.from([1, NaN, 1]) }, 130)).toMatch(/scale 1 is NaN/);
    expect(updateProblem({ ...e, scales: Float32Array.from([1, -1, 1]) }, 130)).toMatch(/scale 1 is -1/);
    expect(updateProblem({ ...e, scales: Float32Array.from([1, 1]) }, 130)).toMatch(/2 scales, 3 blocks/);
    const h = encodeUpdate(x, 'fp16', 64);
    (h.values as Uint16Array)[5] = 0x7c00;
    expect(updateProblem(h, 130)).toMatch(/value 5 is not finite/);
    expect(updateProblem({ ...encodeUpdate(x, 'fp32'), values: Float32Array.from({ length: 130 }, (_, i) => (i === 9 ? Infinity : 0)) }, 130)).toMatch(/value 9 is Infinity/);
  });
});

describe('error feedback', () => {
  /** Rounds of updates with a steady direction plus noise, as training's parameter changes have. */
  function run(format: UpdateFormat, rounds: number, feedback: boolean) {
    const rng = createRng(42);
    const n = 512;
    const drift = Float32Array.from({ length: n }, () => rng.normal() * 1e-3);
    const trueSum = new Float64Array(n);
    const sentSum = new Float64Array(n);
    let residual: Float32Array | null = null;
    let worstBoundRatio = 0;
    const gaps: number[] = [];
    for (let r = 0; r < rounds; r++) {
      const u = Float32Array.from(drift, (d) => d + rng.normal() * 1e-3);
      const c = compressWithFeedback(u, feedback ? residual : null, format, 64);
      residual = c.residual;
      const d = decodeUpdate(c.sent);
      worstBoundRatio = Math.max(worstBoundRatio, norm(sub(d, u)) / sentErrorBound(c.sent));
      for (let i = 0; i < n; i++) { trueSum[i] += u[i]!; sentSum[i] += d[i]!; }
      gaps.push(norm(sub(sentSum, trueSum)) / norm(trueSum));
    }
    return { gaps, worstBoundRatio };
  }

  for (const format of ['int8', 'fp16'] as const) {
    it(`${format}: the sum of what was sent converges to the sum of the true updates`, () => {
      const ef = run(format, 1000, true);
      const plain = run(format, 1000, false);
      console.info(`${format}: relative gap of the sums after 10, 100, 1000 rounds: with feedback ${[9, 99, 999].map((i) => ef.gaps[i]!.toExponential(2)).join(', ')}; ` +
        `without ${[9, 99, 999].map((i) => plain.gaps[i]!.toExponential(2)).join(', ')}`);
      // With feedback the absolute gap stays one rounding step while the sums grow: the relative gap falls ~1/rounds.
      expect(ef.gaps[999]!).toBeLessThan(ef.gaps[9]! / 30);
      // Without it, rounding errors accumulate (a random walk): feedback does far better.
      expect(ef.gaps[999]!).toBeLessThan(plain.gaps[999]! / 5);
      // Every round, what was sent is within the bound the receiver computes from the scales alone.
      expect(ef.worstBoundRatio).toBeLessThanOrEqual(1);
      expect(ef.worstBoundRatio).toBeGreaterThan(0.05);
    });
  }
});
