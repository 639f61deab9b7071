import { describe, expect, it } from 'vitest';
import { decideClaim } from '../../../server/core/scheduler/claim.ts';
import type { CopyIdentity } from '../../../server/core/scheduler/eligibility.ts';
import { afterChecked, copyPace, PACE_FACTOR, paceCheck, paceOf, shardRecords, tooFast } from '../../../server/core/trust/pace.ts';
import { resultTrust, trustWithPace } from '../../../server/core/trust/reputation.ts';
import { ALL_RULES, makeJob, makeTrainJob, NOW } from '../store/contract.ts';

describe('a host\'s pace in a job (pace.ts)', () => {
  it('is milliseconds per record, and unknown without records or time', () => {
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

  it('counts the records of an inference shard only; a copy\'s pace runs from its assignment to its result, on the coordinator\'s clock', () => {
    expect(shardRecords({ kind: 'inference' }, { start: 8, end: 12 })).toBe(4);
    // Training is untouched: its updates are not compared against one answer.
    expect(shardRecords({ kind: 'train' }, { start: 0, end: 4 })).toBeNull();
    expect(shardRecords({ kind: 'inference' }, { start: 4, end: 4 })).toBeNull();
    expect(copyPace({ state: 'returned', assignedAt: 1000, returnedAt: 5000 }, 8)).toBe(500);
    expect(copyPace({ state: 'running', assignedAt: 1000, returnedAt: null }, 8)).toBeNull();
    expect(copyPace({ state: 'returned', assignedAt: 1000, returnedAt: 5000 }, null)).toBeNull();
    // The stores' copies carry no state where only times were read: a returned time is enough.
    expect(copyPace({ assignedAt: 1000, returnedAt: 3000 }, 4)).toBe(500);
  });

  it('finds a result too fast for its host\'s pace in the job, or the host\'s first there; never an operator\'s host (the root of trust)', () => {
    expect(paceCheck({}, 1000, 100)).toBe('too-fast');
    expect(paceCheck({}, 1000, 1000 / PACE_FACTOR)).toBe('ok');
    expect(paceCheck({}, null, 100)).toBe('first');
    expect(paceCheck({ operator: true }, 1000, 100)).toBe('ok');
    expect(paceCheck({ operator: true }, null, 100)).toBe('ok');
    // Nothing to read (in flight, the rule off, a training job): nothing found.
    expect(paceCheck({}, 1000, null)).toBe('ok');
    expect(paceCheck({}, null, null)).toBe('ok');
  });

  it('a result counts as trusted, trusted but not alone (the host\'s first in the job), or untrusted (too fast, or an untrusted host)', () => {
    const policy = { trustAfter: 2 };
    const host = { streak: 5 };
    expect(resultTrust(host, { pace: 600, seen: 600 / PACE_FACTOR }, policy)).toBe('trusted');
    expect(resultTrust(host, { pace: 600, seen: 600 / PACE_FACTOR - 1 }, policy)).toBe('untrusted');
    expect(resultTrust(host, { pace: null, seen: 5 }, policy)).toBe('trusted, not alone');
    expect(resultTrust(host, null, policy)).toBe('trusted');
    expect(resultTrust({ streak: 1 }, { pace: 600, seen: 5000 }, policy)).toBe('untrusted');
    expect(resultTrust({ streak: 0, operator: true }, { pace: null, seen: 1 }, policy)).toBe('trusted');
    expect(resultTrust(null, null, policy)).toBe('untrusted');
    // A store that read the host's trust in SQL asks the same question.
    expect(trustWithPace(true, {}, { pace: 600, seen: 1 })).toBe('untrusted');
    expect(trustWithPace(false, { operator: true }, null)).toBe('untrusted');
  });

  it('the claim reads a returned copy\'s pace in its job: a solo copy its trusted host answered too fast, or as its first there, stands alone no more', () => {
    const { job } = makeJob('p1');
    const records = shardRecords(job.spec, { start: 0, end: 8 })!;
    expect(records).toBe(8);
    const volunteer = { id: 'v1', account: 'volunteer:v1', wallet: '0xA', address: '10.0.0.1', numericClass: 'wasm/ort-1.30.0' };
    const solo: CopyIdentity = { volunteerId: 'v2', wallet: '0xB', address: '10.0.0.2', numericClass: 'wasm/ort-1.30.0', state: 'returned', outcome: 'pending', solo: true, assignedAt: NOW, returnedAt: NOW + 10 };
    const asked: [number | null, string][] = [];
    const claim = (holderPace: number | null) => decideClaim({
      shard: { id: 's1', jobId: job.id, index: 0, start: 0, end: 8, state: 'open', wanted: 2, canonicalCopyId: null, errors: 0, issued: 1, alive: 1, maxTotal: 10, homogeneous: false },
      copies: [solo], job, volunteer, rules: ALL_RULES, now: NOW + 20, copyId: 'c-new',
      trust: {
        policy: { trustAfter: 2, minReplicateProbability: 0.05, classQuorum: 3, oneCopyAtATime: true, pace: true }, asker: { streak: 0, operator: true }, trustedClasses: ['wasm/ort-1.30.0'],
        census: new Map([['wasm/ort-1.30.0', 3]]), draw: 0.5,
        holderTrust: (_c, s, jobId) => { asked.push([s, jobId]); return resultTrust({ streak: 5 }, s === null ? null : { pace: holderPace, seen: s }, { trustAfter: 2 }); },
      },
    });
    // Its host computed checked copies of this job at 10 ms per shard: 10 ms now is its pace, and the copy still stands alone.
    expect(claim(10 / records)).toEqual({ take: false, why: 'kept for a trusted host' });
    expect(asked).toEqual([[10 / records, job.id]]);
    // Its checked copies took 8 s: 10 ms is far too fast, so the copy is an untrusted host's and the root may take the next.
    const next = claim(8000 / records);
    expect(next).toMatchObject({ take: true, wanted: 2, copy: { volunteerId: 'v1' } });
    expect(next.take === true && next.copy.solo).toBeFalsy();
    // No checked result of its host in this job: the copy counts as a trusted host's, but is checked all the same.
    expect(claim(null)).toMatchObject({ take: true, wanted: 2, copy: { volunteerId: 'v1' } });
    // A training job's copies are never read by pace.
    const train = makeTrainJob('p1', { shards: 2, shardsPerRound: 2, cap: 1 }).job;
    expect(shardRecords(train.spec, { start: 0, end: 8 })).toBeNull();
  });
});
