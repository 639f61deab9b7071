/** The coordinator's inner-lr schedule for a local-steps job (server/core/training/inner-lr.ts). */
import { describe, expect, it } from 'vitest';
import { DEFAULT_INNER_SCHEDULE, innerSchedule, shardSchedule } from '../../../server/core/training/inner-lr.ts';
import { lrFactor } from '../../../shared/training/lr-schedule.ts';

describe('inner lr of a local-steps job', () => {
  it('defaults to cosine with 5% warm-up (DiLoCo), over all the inner steps of the run', () => {
    expect(DEFAULT_INNER_SCHEDULE).toEqual({ kind: 'cosine', warmup: 0.05 });
    // The bench's transformer run: 16 rounds of H=32 inner steps.
    expect(innerSchedule('cosine', 0.05, 16, 32)).toEqual({ kind: 'cosine', warmupSteps: 26, totalSteps: 512, minRatio: 0 });
    expect(innerSchedule('cosine', 0, 3, 8)).toEqual({ kind: 'cosine', warmupSteps: 0, totalSteps: 24, minRatio: 0 });
    expect(innerSchedule('constant', 0.05, 16, 32)).toEqual({ kind: 'constant' });
  });

  it('keeps at least one step of decay when the warm-up share rounds to the whole run', () => {
    expect(innerSchedule('cosine', 0.5, 1, 1)).toEqual({ kind: 'cosine', warmupSteps: 0, totalSteps: 1, minRatio: 0 });
    expect(innerSchedule('cosine', 0.5, 1, 3)).toEqual({ kind: 'cosine', warmupSteps: 2, totalSteps: 3, minRatio: 0 });
  });

  it("gives every shard of round r the run's schedule from inner step r·H: the lrs a volunteer-equivalent would take in sequence", () => {
    const s = innerSchedule('cosine', 0.05, 16, 32);
    expect(shardSchedule(s, 0, 32)).toEqual({ schedule: s, firstStep: 0 });
    expect(shardSchedule(s, 15, 32)).toEqual({ schedule: s, firstStep: 480 });
    // Round 15's last inner step is the run's last: its lr is a sliver above 0; round 0's first is 1/26 of the lr.
    expect(lrFactor(s, 480 + 31)).toBeCloseTo((1 + Math.cos((485 / 486) * Math.PI)) / 2, 15);
    expect(lrFactor(s, 0)).toBeCloseTo(1 / 26, 15);
  });
});
