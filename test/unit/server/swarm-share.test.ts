import { describe, expect, it } from 'vitest';
import { CoordinatorEvents } from '../../../server/services/events.ts';
import { PEER_SHARE_FRESH_MS, SwarmMonitor } from '../../../server/services/swarm-monitor.ts';
import type { Store } from '../../../server/store/types.ts';

/** The monitor reads only running jobs from the store. */
const store = { listJobs: async () => [] } as unknown as Store;

describe('swarm numbers over several coordinators', () => {
  it('sums its own share with the fresh shares others told, and drops a share gone stale', async () => {
    const events = new CoordinatorEvents();
    const m = new SwarmMonitor(store, events);
    m.joined('s1', 'wasm');
    m.joined('s2', 'webgpu');
    events.emit('validated', { jobId: 'j', projectId: 'p', flops: 6e10, valid: 2, invalid: 0 });
    const now = Date.now();
    expect(m.share(now)).toEqual({ volunteers: { wasm: 1, webgpu: 1 }, shardsPerMin: 1, flopsPerMin: 6e10 });

    m.heard('other', { volunteers: { wasm: 3 }, shardsPerMin: 4, flopsPerMin: 2.4e11 }, now);
    m.heard('gone', { volunteers: { wasm: 100 }, shardsPerMin: 100, flopsPerMin: 1e15 }, now - PEER_SHARE_FRESH_MS - 1);
    const s = await m.stats(now);
    expect(s.volunteers).toEqual({ total: 5, byBackend: { wasm: 4, webgpu: 1 } });
    expect(s.shardsPerMin).toBe(5);
    expect(s.gflopsPerSec).toBeCloseTo(3e11 / 1e9 / 60, 9);

    // A newer word from the same coordinator replaces its share; it is not added twice.
    m.heard('other', { volunteers: { wasm: 1 }, shardsPerMin: 0, flopsPerMin: 0 }, now);
    expect((await m.stats(now)).volunteers.total).toBe(3);
    m.left('s1');
    expect(m.share(now).volunteers).toEqual({ webgpu: 1 });
  });
});
