import { describe, expect, it } from 'vitest';
import { afterChecked, PACE_FACTOR, paceOf, tooFast } from '../../../server/core/trust/pace.ts';

describe('a host\'s pace (pace.ts)', () => {
  it('is milliseconds per GFLOP, and unknown without work or time', () => {
    expect(paceOf(2000, 4)).toBe(500);
    expect(paceOf(2000, 0)).toBeNull();
    expect(paceOf(Number.NaN, 4)).toBeNull();
    expect(paceOf(-1, 4)).toBeNull();
  });
  it('keeps the fastest checked result: a slow one (a throttled tab, a download) never slows it down again', () => {
    expect(afterChecked(null, 500)).toBe(500);
    expect(afterChecked(500, 300)).toBe(300);
    expect(afterChecked(300, 5000)).toBe(300);
    expect(afterChecked(300, null)).toBe(300);
  });
  it(`flags a result more than ${PACE_FACTOR} times faster than the host ever computed a checked one, nothing slower, nothing without a pace`, () => {
    expect(tooFast(1000, 1000 / PACE_FACTOR - 1)).toBe(true);
    expect(tooFast(1000, 1000 / PACE_FACTOR)).toBe(false);
    expect(tooFast(1000, 5000)).toBe(false);
    expect(tooFast(null, 1)).toBe(false);
    expect(tooFast(1000, null)).toBe(false);
  });
});
