import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { coalesce } from '../../../client/lib/coalesce.ts';

describe('coalesce (per-shard page refreshes)', () => {
  beforeEach(() => { vi.useFakeTimers(); });
  afterEach(() => { vi.useRealTimers(); });

  it('runs the first call at once, then at most once per interval, the last call included', () => {
    const fn = vi.fn();
    const soon = coalesce(fn, 250);
    soon();
    expect(fn).toHaveBeenCalledTimes(1);
    // A burst inside the interval: one trailing run at its end, not one per call.
    for (let i = 0; i < 10; i++) { vi.advanceTimersByTime(10); soon(); }
    expect(fn).toHaveBeenCalledTimes(1);
    vi.advanceTimersByTime(150);
    expect(fn).toHaveBeenCalledTimes(2);
    vi.advanceTimersByTime(1000);
    expect(fn).toHaveBeenCalledTimes(2);
    // Quiet for longer than the interval: the next call runs at once again.
    soon();
    expect(fn).toHaveBeenCalledTimes(3);
  });
});
