import { describe, expect, it } from 'vitest';
import { DEFAULT_LIMITS } from '../../../server/core/jobs/limits.ts';
import type { JobSpec } from '../../../server/core/jobs/types.ts';
import { expiryReason, heartbeatRefusal, holdCeilingMs, leaseDeadline } from '../../../server/core/scheduler/lease.ts';

const spec = (o: { leaseMs: number; flopsPerRecord: number; shardSize: number }) =>
  ({ kind: 'inference', shardSize: o.shardSize, flopsPerRecord: o.flopsPerRecord, limits: { ...DEFAULT_LIMITS, leaseMs: o.leaseMs } }) as unknown as JobSpec;

describe('hold ceiling', () => {
  it('is four leases, or ten runs on a 50 MFLOP/s device when that is longer', () => {
    expect(holdCeilingMs(spec({ leaseMs: 3000, flopsPerRecord: 1000, shardSize: 10 }))).toBe(12_000);
    // 1 GFLOP a record × 100 records at 50 MFLOP/s = 2,000 s a run.
    expect(holdCeilingMs(spec({ leaseMs: 3000, flopsPerRecord: 1e9, shardSize: 100 }))).toBe(20_000_000);
  });
  it('stops every extension at the ceiling, however often the holder heartbeats', () => {
    const s = spec({ leaseMs: 3000, flopsPerRecord: 1, shardSize: 1 });
    expect(leaseDeadline(s, 0, 1000)).toBe(4000);
    expect(leaseDeadline(s, 0, 10_000)).toBe(12_000);
    expect(leaseDeadline(s, 0, 1_000_000)).toBe(12_000);
  });
  it('tells the holder why its copy expired', () => {
    const s = spec({ leaseMs: 3000, flopsPerRecord: 1, shardSize: 1 });
    expect(expiryReason({ state: 'assigned', assignedAt: 0, deadline: 1000 }, s)).toBe('not acknowledged in time');
    expect(expiryReason({ state: 'running', assignedAt: 0, deadline: 6000 }, s)).toBe('lease expired without heartbeat or result');
    expect(expiryReason({ state: 'running', assignedAt: 0, deadline: 12_000 }, s)).toMatch(/^held 12 s, the most one copy of this job may be held/);
  });
  it('a heartbeat extends only an acknowledged copy within its lease: not one run out, even before it is expired', () => {
    const s = spec({ leaseMs: 3000, flopsPerRecord: 1, shardSize: 1 });
    const running = (deadline: number) => ({ state: 'running', reason: null, assignedAt: 0, deadline });
    expect(heartbeatRefusal(running(5000), s, 4999)).toBeNull();
    // At its deadline the lease has run out, as for a hello's claim (resume.ts); the holder hears why it will be expired.
    expect(heartbeatRefusal(running(5000), s, 5000)).toBe('copy is overdue, its lease ran out 0 s ago: lease expired without heartbeat or result');
    expect(heartbeatRefusal(running(5000), s, 8400)).toBe('copy is overdue, its lease ran out 3 s ago: lease expired without heartbeat or result');
    expect(heartbeatRefusal(running(12_000), s, 12_000)).toMatch(/^copy is overdue, its lease ran out 0 s ago: held 12 s, the most one copy of this job may be held /);
    expect(heartbeatRefusal({ state: 'assigned', reason: null, assignedAt: 0, deadline: 9000 }, s, 1000)).toBe('copy is assigned');
    expect(heartbeatRefusal({ state: 'expired', reason: 'not acknowledged in time', assignedAt: 0, deadline: 900 }, s, 1000)).toBe('copy is expired: not acknowledged in time');
  });
});
