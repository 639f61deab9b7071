import { describe, expect, it } from 'vitest';
import { decideClaim } from '../../../server/core/scheduler/claim.ts';
import type { CopyIdentity } from '../../../server/core/scheduler/eligibility.ts';
import { afterChecked, copyPace, PACE_FACTOR, paceDoubts, paceOf, shardGflop, tooFast } from '../../../server/core/trust/pace.ts';
import { afterEvent, newReputation, resultTrusted } from '../../../server/core/trust/reputation.ts';
import { ALL_RULES, makeJob, makeTrainJob, NOW } from '../store/contract.ts';

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

  it('knows the work of an inference shard only; a copy\'s pace runs from its assignment to its result, on the coordinator\'s clock', () => {
    expect(shardGflop({ kind: 'inference', flopsPerRecord: 2e9 }, { start: 8, end: 12 })).toBe(8);
    // Training is untouched: its updates are not compared against one answer.
    expect(shardGflop({ kind: 'train', flopsPerRecord: 2e9 }, { start: 0, end: 4 })).toBeNull();
    expect(shardGflop({ kind: 'inference', flopsPerRecord: 0 }, { start: 0, end: 4 })).toBeNull();
    expect(copyPace({ state: 'returned', assignedAt: 1000, returnedAt: 5000 }, 8)).toBe(500);
    expect(copyPace({ state: 'running', assignedAt: 1000, returnedAt: null }, 8)).toBeNull();
    expect(copyPace({ state: 'returned', assignedAt: 1000, returnedAt: 5000 }, null)).toBeNull();
    // The stores' copies carry no state where only times were read: a returned time is enough.
    expect(copyPace({ assignedAt: 1000, returnedAt: 3000 }, 4)).toBe(500);
  });

  it('doubts a trusted host\'s result too fast for its pace, never an operator\'s host (the root of trust)', () => {
    expect(paceDoubts({ pace: 1000 }, 100)).toBe(true);
    expect(paceDoubts({ pace: 1000, operator: true }, 100)).toBe(false);
    expect(paceDoubts({ pace: null }, 100)).toBe(false);
    expect(paceDoubts({}, 100)).toBe(false);
  });

  it('a reputation learns its pace from checked results only: valid results and passed spot checks, the fastest kept', () => {
    let r = newReputation('v', 'wasm', NOW);
    expect(r.pace).toBeNull();
    r = afterEvent(r, 'valid', NOW, 800);
    r = afterEvent(r, 'spot-pass', NOW, 600);
    r = afterEvent(r, 'valid', NOW, 5000);
    expect(r.pace).toBe(600);
    // What is not a checked result teaches nothing: errors, invalid results, a valid one of unknown work.
    for (const ev of ['error', 'invalid', 'spot-fail'] as const) expect(afterEvent(r, ev, NOW, 10).pace).toBe(600);
    expect(afterEvent(r, 'valid', NOW).pace).toBe(600);
    const policy = { trustAfter: 2 };
    expect(resultTrusted(r, 600 / PACE_FACTOR, policy)).toBe(true);
    expect(resultTrusted(r, 600 / PACE_FACTOR - 1, policy)).toBe(false);
    expect(resultTrusted(r, null, policy)).toBe(true);
    expect(resultTrusted({ ...r, streak: 1 }, 5000, policy)).toBe(false);
    expect(resultTrusted({ ...r, operator: true }, 1, policy)).toBe(true);
    expect(resultTrusted(null, 1, policy)).toBe(false);
  });

  it('the claim reads a returned copy\'s pace: a solo copy its trusted host answered too fast stands alone no more, and the next copy is issued', () => {
    const { job } = makeJob('p1');
    const gflop = shardGflop(job.spec, { start: 0, end: 8 })!;
    expect(gflop).toBeGreaterThan(0);
    const volunteer = { id: 'v1', account: 'volunteer:v1', wallet: '0xA', address: '10.0.0.1', numericClass: 'wasm/ort-1.30.0' };
    const solo: CopyIdentity = { volunteerId: 'v2', wallet: '0xB', address: '10.0.0.2', numericClass: 'wasm/ort-1.30.0', state: 'returned', outcome: 'pending', solo: true, assignedAt: NOW, returnedAt: NOW + 10 };
    const seen: (number | null)[] = [];
    const claim = (holderPace: number) => decideClaim({
      shard: { id: 's1', jobId: job.id, index: 0, start: 0, end: 8, state: 'open', wanted: 2, canonicalCopyId: null, errors: 0, issued: 1, alive: 1, maxTotal: 10, homogeneous: false },
      copies: [solo], job, volunteer, rules: ALL_RULES, now: NOW + 20, copyId: 'c-new',
      trust: {
        policy: { trustAfter: 2, minReplicateProbability: 0.05, classQuorum: 3, oneCopyAtATime: true, pace: true }, asker: { streak: 0, operator: true }, trustedClasses: ['wasm/ort-1.30.0'],
        census: new Map([['wasm/ort-1.30.0', 3]]), draw: 0.5,
        holderTrusted: (_c, s) => { seen.push(s); return resultTrusted({ streak: 5, pace: holderPace }, s, { trustAfter: 2 }); },
      },
    });
    // Its host computed checked copies at 10 ms per shard: 10 ms now is its pace, and the copy still stands alone.
    expect(claim(10 / gflop)).toEqual({ take: false, why: 'kept for a trusted host' });
    expect(seen).toEqual([10 / gflop]);
    // Its checked copies took 8 s: 10 ms is far too fast, so the copy is an untrusted host's and the root may take the next.
    const next = claim(8000 / gflop);
    expect(next).toMatchObject({ take: true, wanted: 2, copy: { volunteerId: 'v1' } });
    expect(next.take === true && next.copy.solo).toBeFalsy();
    // A training job's copies are never read by pace.
    const train = makeTrainJob('p1', { shards: 2, shardsPerRound: 2, cap: 1 }).job;
    expect(shardGflop(train.spec, { start: 0, end: 8 })).toBeNull();
  });
});
