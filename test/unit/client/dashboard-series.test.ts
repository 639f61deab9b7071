// The dashboards' numbers: job rates, totals, windowed rates from cumulative snapshots, uPlot series, routes.
import { describe, expect, it } from 'vitest';
import { balanceHistory, jobRates, parseRoute, TimeSeries, totals, WindowedRates } from '../../../client/dashboard/series.ts';
import type { JobSummary } from '../../../shared/protocol/events.ts';

const job = (o: Partial<JobSummary> = {}): JobSummary => ({
  id: 'job-1', projectId: 'p', kind: 'inference', state: 'running',
  shards: { total: 10, validated: 4, failed: 0 },
  copies: { valid: 8, invalid: 1, pending: 2, expired: 3, error: 1 },
  credit: 2, createdAt: 0, finishedAt: null, error: null, ...o,
});

describe('jobRates', () => {
  it('judges copies by valid, invalid and error, and prices validated shards', () => {
    const r = jobRates(job());
    expect(r.judged).toBe(10);
    expect(r.validRate).toBeCloseTo(0.8);
    expect(r.invalidRate).toBeCloseTo(0.1);
    expect(r.errorRate).toBeCloseTo(0.1);
    expect(r.disagreement).toBeCloseTo(0.25);
    expect(r.costPerShard).toBeCloseTo(0.5);
    expect(r.progress).toBeCloseTo(0.4);
  });

  it('says nothing rather than dividing by zero', () => {
    const r = jobRates(job({ shards: { total: 0, validated: 0, failed: 0 }, copies: { valid: 0, invalid: 0, pending: 0, expired: 0, error: 0 }, credit: 0 }));
    expect([r.validRate, r.invalidRate, r.disagreement, r.costPerShard]).toEqual([null, null, null, null]);
    expect(r.progress).toBe(0);
  });
});

describe('totals', () => {
  it('adds jobs up', () => {
    const t = totals([job(), job({ id: 'job-2', state: 'completed', credit: 1 })]);
    expect(t).toMatchObject({ jobs: 2, running: 1, shards: 20, validated: 8, valid: 16, invalid: 2, credit: 3 });
  });
});

describe('WindowedRates', () => {
  it('turns cumulative counters into shards per minute and credit per shard over the window', () => {
    const w = new WindowedRates(60_000);
    expect(w.add(0, 0, 0)).toEqual({ shardsPerMin: 0, costPerShard: null });
    expect(w.add(30_000, 10, 1)).toEqual({ shardsPerMin: 20, costPerShard: 0.1 });
    const r = w.add(90_000, 40, 2.5);
    // The window now starts at 30 s: 30 shards and 1.5 credit in a minute.
    expect(r.shardsPerMin).toBeCloseTo(30);
    expect(r.costPerShard).toBeCloseTo(0.05);
    // Idle: the rate falls to zero once the window has passed.
    expect(w.add(200_000, 40, 2.5).shardsPerMin).toBe(0);
  });

  it('restarts when a counter goes down (a job left the listing)', () => {
    const w = new WindowedRates(60_000);
    w.add(0, 100, 10);
    expect(w.add(10_000, 5, 1)).toEqual({ shardsPerMin: 0, costPerShard: null });
  });
});

describe('TimeSeries', () => {
  it('keeps x increasing (same second replaces) and at most maxPoints', () => {
    const s = new TimeSeries(['a', 'b'] as const, 3);
    s.push(1000, { a: 1, b: 2 });
    s.push(1000, { a: 5 });
    expect(s.data()).toEqual([[1], [5], [null]]);
    for (let i = 2; i <= 5; i++) s.push(i * 1000, { a: i, b: i });
    expect(s.data(['a'])).toEqual([[3, 4, 5], [3, 4, 5]]);
  });
});

describe('balanceHistory', () => {
  it('ends at the balance, starting from what it was before the listed entries', () => {
    const [x, y] = balanceHistory([{ at: 3000, amount: 1 }, { at: 2000, amount: 2 }], 10);
    expect(x).toEqual([1, 2, 3]);
    expect(y).toEqual([7, 9, 10]);
    expect(balanceHistory([], 5)).toEqual([[], []]);
  });
});

describe('parseRoute', () => {
  it('reads the three views from the hash, swarm by default', () => {
    expect(parseRoute('')).toEqual({ view: 'swarm' });
    expect(parseRoute('#/project')).toEqual({ view: 'project' });
    expect(parseRoute('#/wallet')).toEqual({ view: 'wallet', account: null });
    expect(parseRoute('#/wallet/0xAbC')).toEqual({ view: 'wallet', account: '0xAbC' });
    expect(parseRoute('#/wallet/volunteer%3Aabcdef')).toEqual({ view: 'wallet', account: 'volunteer:abcdef' });
    expect(parseRoute('#/nope')).toEqual({ view: 'swarm' });
  });
});
