/** Which of the weights a browser keeps for reloads (client/lib/held-weights.ts) go: the bounds on count, bytes and age. */
import { describe, expect, it } from 'vitest';
import { MAX_AGE_MS, MAX_BYTES, MAX_JOBS, weightsToDrop } from '../../../client/lib/held-weights.ts';

describe('weightsToDrop', () => {
  const now = 10 * MAX_AGE_MS;
  it('keeps the latest jobs up to the count, dropping the least recently stored', () => {
    const kept = Array.from({ length: MAX_JOBS + 2 }, (_, i) => ({ jobId: `j${i}`, bytes: 1000, storedAt: now - i * 1000 }));
    expect(weightsToDrop(kept, now)).toEqual([`j${MAX_JOBS}`, `j${MAX_JOBS + 1}`]);
  });
  it('drops what would pass the byte bound, and what was not used for a day (a job that has most likely ended)', () => {
    const kept = [
      { jobId: 'new', bytes: MAX_BYTES - 10, storedAt: now },
      { jobId: 'big', bytes: 100, storedAt: now - 1 },
      { jobId: 'small', bytes: 10, storedAt: now - 2 },
      { jobId: 'old', bytes: 0, storedAt: now - MAX_AGE_MS - 1 },
    ];
    expect(weightsToDrop(kept, now)).toEqual(['big', 'old']);
  });
});
