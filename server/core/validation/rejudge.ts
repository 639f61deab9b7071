/**
 * After a judgement failed to commit (a full disk, a lost database), the
 * results it judged are stored but unjudged, and no further result has to
 * arrive to judge them: the reconciler judges them again, waiting this long
 * after the n-th failure in a row (1 s doubling to 30 s), so a store that
 * stays broken is not hammered.
 */
export function rejudgeDelayMs(failures: number): number {
  return Math.min(30_000, 1000 * 2 ** Math.max(0, failures - 1));
}
