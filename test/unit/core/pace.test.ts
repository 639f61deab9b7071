import { describe, expect, it } from 'vitest';
import { decideClaim } from '../../../server/core/scheduler/claim.ts';
import type { CopyIdentity } from '../../../server/core/scheduler/eligibility.ts';
import { afterChecked, copyPace, PACE_FACTOR, PACE_MIN_MS, paceCheck, paceOf, type Seen, shardRecords, tooFast } from '../../../server/core/trust/pace.ts';
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
    // 8 records at 1,000 ms each: 8 s a shard at the host's pace.
    const at = (msPerRecord: number): Seen => ({ msPerRecord, records: 8 });
    expect(tooFast(1000, at(1000 / PACE_FACTOR - 1))).toBe(true);
    expect(tooFast(1000, at(1000 / PACE_FACTOR))).toBe(false);
    expect(tooFast(1000, at(5000))).toBe(false);
    expect(tooFast(null, at(1))).toBe(false);
    expect(tooFast(1000, null)).toBe(false);
  });
  it(`judges no speed on a shard that takes the host less than ${PACE_MIN_MS} ms at its pace: round trips and jitter, not work`, () => {
    // Seen in a test run: an honest host's copies of a 6-record shard, 26 ms then 4 ms.
    expect(tooFast(26 / 6, { msPerRecord: 4 / 6, records: 6 })).toBe(false);
    expect(tooFast(PACE_MIN_MS / 6, { msPerRecord: 0, records: 6 })).toBe(true);
    expect(tooFast(PACE_MIN_MS / 6 - 0.01, { msPerRecord: 0, records: 6 })).toBe(false);
  });

  it('counts the records of an inference shard only; a copy\'s pace runs from its assignment to its result, on the coordinator\'s clock', () => {
    expect(shardRecords({ kind: 'inference' }, { start: 8, end: 12 })).toBe(4);
    // Training is untouched: its updates are not compared against one answer.
    expect(shardRecords({ kind: 'train' }, { start: 0, end: 4 })).toBeNull();
    expect(shardRecords({ kind: 'inference' }, { start: 4, end: 4 })).toBeNull();
    expect(copyPace({ state: 'returned', assignedAt: 1000, returnedAt: 5000 }, 8)).toEqual({ msPerRecord: 500, records: 8 });
    expect(copyPace({ state: 'running', assignedAt: 1000, returnedAt: null }, 8)).toBeNull();
    expect(copyPace({ state: 'returned', assignedAt: 1000, returnedAt: 5000 }, null)).toBeNull();
    // The stores' copies carry no state where only times were read: a returned time is enough.
    expect(copyPace({ assignedAt: 1000, returnedAt: 3000 }, 4)).toEqual({ msPerRecord: 500, records: 4 });
  });

  it('finds a result too fast for its host\'s pace in the job, or the host\'s first there; never an operator\'s host (the root of trust)', () => {
    const at = (msPerRecord: number): Seen => ({ msPerRecord, records: 8 });
    expect(paceCheck({}, 1000, at(100))).toBe('too-fast');
    expect(paceCheck({}, 1000, at(1000 / PACE_FACTOR))).toBe('ok');
    expect(paceCheck({}, null, at(100))).toBe('first');
    expect(paceCheck({ operator: true }, 1000, at(100))).toBe('ok');
    expect(paceCheck({ operator: true }, null, at(100))).toBe('ok');
    // Nothing to read (in flight, the rule off, a training job): nothing found.
    expect(paceCheck({}, 1000, null)).toBe('ok');
    expect(paceCheck({}, null, null)).toBe('ok');
  });

  it('a result counts as trusted, trusted but not alone (the host\'s first in the job), or untrusted (too fast, or an untrusted host)', () => {
    const policy = { trustAfter: 2 };
    const host = { streak: 5 };
    const at = (msPerRecord: number): Seen => ({ msPerRecord, records: 8 });
    expect(resultTrust(host, { pace: 600, seen: at(600 / PACE_FACTOR) }, policy)).toBe('trusted');
    expect(resultTrust(host, { pace: 600, seen: at(600 / PACE_FACTOR - 1) }, policy)).toBe('untrusted');
    expect(resultTrust(host, { pace: null, seen: at(5) }, policy)).toBe('trusted, not alone');
    expect(resultTrust(host, null, policy)).toBe('trusted');
    expect(resultTrust({ streak: 1 }, { pace: 600, seen: at(5000) }, policy)).toBe('untrusted');
    expect(resultTrust({ streak: 0, operator: true }, { pace: null, seen: at(1) }, policy)).toBe('trusted');
    expect(resultTrust(null, null, policy)).toBe('untrusted');
    // A store that read the host's trust in SQL asks the same question.
    expect(trustWithPace(true, {}, { pace: 600, seen: at(1) })).toBe('untrusted');
    expect(trustWithPace(false, { operator: true }, null)).toBe('untrusted');
  });

  it('the claim reads a returned copy\'s pace in its job: an untrusted host may check a trusted host\'s copy at its pace, or its first in the job, never one too fast (kept for a trusted host)', () => {
    const { job } = makeJob('p1');
    const records = shardRecords(job.spec, { start: 0, end: 8 })!;
    expect(records).toBe(8);
    const volunteer = { id: 'v1', account: 'volunteer:v1', wallet: '0xA', address: '10.0.0.1', numericClass: 'wasm/ort-1.30.0' };
    // A trusted host's solo copy the judge asked a second result for (wanted 2).
    const solo: CopyIdentity = { volunteerId: 'v2', wallet: '0xB', address: '10.0.0.2', numericClass: 'wasm/ort-1.30.0', state: 'returned', outcome: 'pending', solo: true, assignedAt: NOW, returnedAt: NOW + 10 };
    const asked: [Seen | null, string][] = [];
    const claim = (holderPace: number | null) => decideClaim({
      shard: { id: 's1', jobId: job.id, index: 0, start: 0, end: 8, state: 'open', wanted: 2, canonicalCopyId: null, errors: 0, issued: 1, alive: 1, maxTotal: 10, homogeneous: false },
      copies: [solo], job, volunteer, rules: ALL_RULES, now: NOW + 20, copyId: 'c-new',
      trust: {
        policy: { trustAfter: 2, minReplicateProbability: 0.05, classQuorum: 3, oneCopyAtATime: true, pace: true }, asker: null, trustedClasses: ['wasm/ort-1.30.0'],
        census: new Map([['wasm/ort-1.30.0', 3]]), draw: 0.5,
        holderTrust: (_c, s, jobId) => { asked.push([s, jobId]); return resultTrust({ streak: 5 }, s === null ? null : { pace: holderPace, seen: s }, { trustAfter: 2 }); },
      },
    });
    // Its host computed checked copies of this job at 10 ms per shard: 10 ms now is its pace, a trusted holder.
    expect(claim(10 / records)).toMatchObject({ take: true, wanted: 2, copy: { volunteerId: 'v1' } });
    expect(asked).toEqual([[{ msPerRecord: 10 / records, records }, job.id]]);
    // Its checked copies took 8 s: 10 ms is far too fast, so the copy is an untrusted host's: the next is kept for a trusted host.
    expect(claim(8000 / records)).toEqual({ take: false, why: 'kept for a trusted host' });
    // No checked result of its host in this job: a trusted holder, whose result is checked all the same.
    expect(claim(null)).toMatchObject({ take: true, wanted: 2, copy: { volunteerId: 'v1' } });
    // A training job's copies are never read by pace.
    const train = makeTrainJob('p1', { shards: 2, shardsPerRound: 2, cap: 1 }).job;
    expect(shardRecords(train.spec, { start: 0, end: 8 })).toBeNull();
  });
});
