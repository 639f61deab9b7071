/** The inner-lr schedule of local-steps training (shared/training/lr-schedule.ts) against values written out by hand and a float64 reference. */
import { describe, expect, it } from 'vitest';
import { type LrSchedule, lrFactor, scheduleProblem } from '../../../shared/training/lr-schedule.ts';

const cosine = (warmupSteps: number, totalSteps: number, minRatio = 0): LrSchedule => ({ kind: 'cosine', warmupSteps, totalSteps, minRatio });

/**
 * Hugging Face transformers' _get_cosine_schedule_with_warmup_lr_lambda (num_cycles 0.5), with a floor
 * (get_cosine_with_min_lr_schedule_with_warmup) and warm-up shifted one step so its first step is not 0.
 */
function reference(step: number, warmup: number, total: number, minRatio: number): number {
  if (step < warmup) return (step + 1) / Math.max(1, warmup);
  const progress = (step - warmup) / Math.max(1, total - warmup);
  const cos = Math.max(0, 0.5 * (1 + Math.cos(Math.PI * 0.5 * 2 * Math.min(1, progress))));
  return cos * (1 - minRatio) + minRatio;
}

describe('lr schedule', () => {
  it('constant is 1 at every step', () => {
    for (const step of [0, 1, 100, 1e6]) expect(lrFactor({ kind: 'constant' }, step)).toBe(1);
  });

  it('warms up linearly, then decays along a cosine to its floor at the last step and stays there', () => {
    const s = cosine(4, 20);
    expect([0, 1, 2, 3].map((k) => lrFactor(s, k))).toEqual([0.25, 0.5, 0.75, 1]);
    expect(lrFactor(s, 4)).toBe(1);
    expect(lrFactor(s, 12)).toBeCloseTo(0.5, 15); // half the decay: (1 + cos π/2) / 2
    expect(lrFactor(s, 19)).toBeCloseTo((1 + Math.cos((15 / 16) * Math.PI)) / 2, 15);
    expect(lrFactor(s, 19)).toBeGreaterThan(0); // the last step still trains
    expect(lrFactor(s, 20)).toBeCloseTo(0, 15);
    expect(lrFactor(s, 1000)).toBeCloseTo(0, 15);
    expect(lrFactor(cosine(4, 20, 0.1), 12)).toBeCloseTo(0.55, 15);
    expect(lrFactor(cosine(0, 10), 0)).toBe(1);
  });

  it('matches the float64 reference at every step of a run (warm-up, decay, past the end)', () => {
    for (const [w, t, m] of [[0, 512, 0], [26, 512, 0], [100, 1000, 0.1], [1, 2, 0]] as const) {
      for (let k = 0; k < t + 5; k++) expect(lrFactor(cosine(w, t, m), k)).toBeCloseTo(reference(k, w, t, m), 14);
    }
  });

  it('never rises after warm-up', () => {
    const s = cosine(10, 300);
    for (let k = 10; k < 310; k++) expect(lrFactor(s, k + 1)).toBeLessThanOrEqual(lrFactor(s, k));
  });

  it('names what is wrong with a schedule', () => {
    expect(scheduleProblem(cosine(4, 20))).toBeNull();
    expect(scheduleProblem({ kind: 'constant' })).toBeNull();
    expect(scheduleProblem(cosine(20, 20))).toMatch(/warmupSteps must be an integer in \[0, 20\), got 20/);
    expect(scheduleProblem(cosine(-1, 20))).toMatch(/warmupSteps/);
    expect(scheduleProblem(cosine(0, 0))).toMatch(/totalSteps must be a positive integer, got 0/);
    expect(scheduleProblem(cosine(0, 10, 1.5))).toMatch(/minRatio must be in \[0, 1\], got 1.5/);
    expect(scheduleProblem({ kind: 'linear' } as unknown as LrSchedule)).toMatch(/unknown lr schedule "linear"; known: constant, cosine/);
  });
});
