/**
 * The inner lr of a local-steps job over its run, as the coordinator decides
 * it: DiLoCo's schedule (linear warm-up, then cosine decay to 0 over all the
 * inner steps a volunteer-equivalent takes: rounds × H), and the part of it a
 * shard of round r carries (its first inner step, r·H). Measured on the
 * transformer task (README, "Local-steps training"): with a constant lr a
 * converged model is still kicked every round, since Adam's first steps from a
 * fresh state move every weight by about lr whatever the gradient; the decay
 * shrinks those kicks to nothing by the end of the run.
 */
import { type LrSchedule, type LrScheduleKind, scheduleProblem } from '../../../shared/training/lr-schedule.ts';

/** Default for local-steps jobs; synchronous rounds keep their constant lr. */
export const DEFAULT_INNER_SCHEDULE = { kind: 'cosine', warmup: 0.05 } as const satisfies { kind: LrScheduleKind; warmup: number };

/** The job's schedule over `rounds` rounds of `steps` inner steps, warming up over `warmup` (a share) of them. */
export function innerSchedule(kind: LrScheduleKind, warmup: number, rounds: number, steps: number): LrSchedule {
  if (kind === 'constant') return { kind: 'constant' };
  const totalSteps = rounds * steps;
  const s: LrSchedule = { kind: 'cosine', warmupSteps: Math.min(totalSteps - 1, Math.round(warmup * totalSteps)), totalSteps, minRatio: 0 };
  const problem = scheduleProblem(s);
  if (problem) throw new Error(problem);
  return s;
}

/** What a shard of round `round` carries: the schedule and its first inner step. */
export function shardSchedule(schedule: LrSchedule, round: number, steps: number): { schedule: LrSchedule; firstStep: number } {
  return { schedule, firstStep: round * steps };
}
