/**
 * Learning-rate schedules over a whole training run, as pure arithmetic both
 * ends share: the coordinator puts a schedule and the shard's first inner
 * step in a local-steps plan, and the volunteer scales its optimizer's lr at
 * each inner step by `lrFactor` (DiLoCo: the inner AdamW's lr warms up
 * linearly, then decays along a cosine over the run's inner steps).
 *
 * Steps are counted per worker, the way DiLoCo counts them: round r's shards
 * all start at inner step r·H, so every shard of a round, and every replica
 * of a shard, uses the same lrs whichever volunteer runs it.
 */

export const LR_SCHEDULES = ['constant', 'cosine'] as const;
export type LrScheduleKind = (typeof LR_SCHEDULES)[number];

export type LrSchedule =
  | { kind: 'constant' }
  | {
    kind: 'cosine';
    /** Inner steps of linear warm-up from lr/warmup to lr (0: none). */
    warmupSteps: number;
    /** Inner steps of the whole run (warm-up included): the cosine reaches `minRatio` there. */
    totalSteps: number;
    /** The floor, as a share of the lr; 0 decays to nothing. */
    minRatio: number;
  };

/** Problems a schedule has (non-integer or negative steps, a floor outside [0, 1]), or null. */
export function scheduleProblem(s: LrSchedule): string | null {
  if (s.kind === 'constant') return null;
  if (s.kind !== 'cosine') return `unknown lr schedule ${JSON.stringify((s as { kind: unknown }).kind)}; known: ${LR_SCHEDULES.join(', ')}`;
  if (!(Number.isSafeInteger(s.totalSteps) && s.totalSteps >= 1)) return `lr schedule totalSteps must be a positive integer, got ${s.totalSteps}`;
  if (!(Number.isSafeInteger(s.warmupSteps) && s.warmupSteps >= 0 && s.warmupSteps < s.totalSteps)) {
    return `lr schedule warmupSteps must be an integer in [0, ${s.totalSteps}), got ${s.warmupSteps}`;
  }
  if (!(s.minRatio >= 0 && s.minRatio <= 1)) return `lr schedule minRatio must be in [0, 1], got ${s.minRatio}`;
  return null;
}

/**
 * The lr multiplier at 0-based inner step `step` (Hugging Face's cosine schedule with
 * warm-up and a floor, get_cosine_with_min_lr_schedule_with_warmup, except that warm-up
 * starts at 1/warmup rather than 0, so no step is wasted): (step + 1) / warmup during
 * warm-up, then minRatio + (1 − minRatio)·(1 + cos(π·p))/2 with p = (step − warmup) /
 * (total − warmup) the share of the decay done; steps past the end stay at the floor.
 */
export function lrFactor(s: LrSchedule, step: number): number {
  if (s.kind === 'constant') return 1;
  if (step < s.warmupSteps) return (step + 1) / s.warmupSteps;
  const p = Math.min(1, (step - s.warmupSteps) / (s.totalSteps - s.warmupSteps));
  return s.minRatio + (1 - s.minRatio) * 0.5 * (1 + Math.cos(Math.PI * p));
}
