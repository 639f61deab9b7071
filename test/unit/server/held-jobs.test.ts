/** Which connections are told a job ended (server/gateway/held-jobs.ts), as bookkeeping, without sockets. */
import { describe, expect, it } from 'vitest';
import { HeldJobs, weightsSpent } from '../../../server/gateway/held-jobs.ts';

describe('connections keeping jobs\' weights', () => {
  it('names the keepers of an ended job once, and forgets connections that closed', () => {
    const h = new HeldJobs();
    h.hold('s1', 'j1', 'p1');
    h.hold('s2', 'j1', 'p1');
    h.hold('s2', 'j2', 'p2');
    h.hold('s2', 'j2', 'p2');
    expect(h.ofProjects(new Set(['p1']))).toEqual(['j1']);
    expect(h.ofProjects(new Set(['p1', 'p2'])).sort()).toEqual(['j1', 'j2']);
    expect(h.ofProjects(new Set(['p3']))).toEqual([]);
    h.left('s1');
    expect(h.ended('j1')).toEqual(['s2']);
    // Told once: a second end of the same job names nobody.
    expect(h.ended('j1')).toEqual([]);
    expect(h.size).toEqual({ jobs: 1, sockets: 1 });
    h.left('s2');
    expect(h.size).toEqual({ jobs: 0, sockets: 0 });
    expect(h.ended('j2')).toEqual([]);
  });

  it('counts a job\'s weights spent once it is no longer running, or unknown', () => {
    expect(weightsSpent({ state: 'running' })).toBe(false);
    for (const state of ['completed', 'failed', 'cancelled'] as const) expect(weightsSpent({ state })).toBe(true);
    expect(weightsSpent(null)).toBe(true);
  });
});
