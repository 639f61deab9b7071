import { describe, expect, it } from 'vitest';
import { rejudgeDelayMs } from '../../../server/core/validation/rejudge.ts';

describe('rejudgeDelayMs', () => {
  it('waits 1 s after a first failed judgement commit, doubling to at most 30 s', () => {
    expect([1, 2, 3, 4, 5, 6, 7, 20].map(rejudgeDelayMs)).toEqual([1000, 2000, 4000, 8000, 16_000, 30_000, 30_000, 30_000]);
  });
});
