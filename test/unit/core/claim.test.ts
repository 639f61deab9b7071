/**
 * The claim decision both stores call: every refusal for its own reason, the
 * copy it issues, and the round count it asks a store for instead of
 * guessing. Plain data in, plain data out: no store, no socket.
 */
import { describe, expect, it } from 'vitest';
import type { Job } from '../../../server/core/jobs/types.ts';
import { type ClaimInput, type ClaimableShard, decideClaim, wanting } from '../../../server/core/scheduler/claim.ts';
import type { CopyIdentity } from '../../../server/core/scheduler/eligibility.ts';
import { ALL_RULES, makeJob, makeTrainJob, NOW } from '../store/contract.ts';

const volunteer = { id: 'v1', account: 'volunteer:v1', wallet: '0xA', address: '10.0.0.1', numericClass: 'wasm/ort-1.30.0' };
const other = (o: Partial<CopyIdentity> = {}): CopyIdentity => ({ volunteerId: 'v2', wallet: '0xB', address: '10.0.0.2', numericClass: 'wasm/ort-1.30.0', state: 'running', ...o });

function input(job: Job, o: Partial<Omit<ClaimInput, 'shard'>> & { shard?: Partial<ClaimableShard> } = {}): ClaimInput {
  const { shard: s = {}, ...rest } = o;
  return {
    shard: { id: 's1', jobId: job.id, index: 0, start: 0, end: 8, state: 'open', wanted: 2, canonicalCopyId: null, errors: 0, issued: 0, alive: 0, maxTotal: 10, homogeneous: false, ...s },
    copies: [], job, volunteer, rules: ALL_RULES, now: NOW, copyId: 'c-new', ...rest,
  };
}

describe('decideClaim', () => {
  const { job } = makeJob('p1');

  it('issues an assigned copy with the volunteer identity and the ack deadline of the job', () => {
    expect(decideClaim(input(job))).toEqual({
      take: true,
      wanted: 2,
      copy: {
        id: 'c-new', shardId: 's1', jobId: job.id, volunteerId: 'v1', account: 'volunteer:v1', wallet: '0xA', address: '10.0.0.1',
        numericClass: 'wasm/ort-1.30.0', state: 'assigned', outcome: 'pending', assignedAt: NOW, deadline: NOW + job.spec.limits.ackWithinMs,
        returnedAt: null, reason: null, credit: 0,
      },
    });
  });

  it('with trust: keeps a shard\'s other copy for a trusted host from an untrusted asker, and lets a trusted one stand alone when drawn', () => {
    const policy = { trustAfter: 10, minReplicateProbability: 0.05 };
    const trust = (o: Partial<NonNullable<ClaimInput['trust']>> = {}): NonNullable<ClaimInput['trust']> => ({
      policy, asker: null, trustedClasses: ['wasm/ort-1.30.0'], draw: 0.5, holderTrusted: () => false, ...o,
    });
    const untrustedHolder = other({ state: 'returned', outcome: 'pending' });
    expect(decideClaim(input(job, { shard: { alive: 1 }, copies: [untrustedHolder], trust: trust() }))).toEqual({ take: false, why: 'kept for a trusted host' });
    // No trusted host connected: untrusted hosts check each other.
    expect(decideClaim(input(job, { shard: { alive: 1 }, copies: [untrustedHolder], trust: trust({ trustedClasses: [] }) }))).toMatchObject({ take: true, wanted: 2 });
    expect(decideClaim(input(job, { shard: { alive: 1 }, copies: [untrustedHolder], trust: trust({ asker: { streak: 12 } }) }))).toMatchObject({ take: true, wanted: 2 });
    // A judged-invalid copy holds nothing.
    expect(decideClaim(input(job, { shard: { alive: 0 }, copies: [other({ state: 'returned', outcome: 'invalid' })], trust: trust() }))).toMatchObject({ take: true });
    const solo = decideClaim(input(job, { trust: trust({ asker: { streak: 20 }, draw: 0.9 }) }));
    expect(solo).toMatchObject({ take: true, wanted: 1, copy: { solo: true } });
  });

  it('refuses a shard that wants no copy: closed, enough alive, or every copy issued', () => {
    expect(decideClaim(input(job, { shard: { state: 'validated' } }))).toEqual({ take: false, why: 'not wanting' });
    expect(decideClaim(input(job, { shard: { alive: 2 } }))).toEqual({ take: false, why: 'not wanting' });
    expect(decideClaim(input(job, { shard: { issued: 10 } }))).toEqual({ take: false, why: 'not wanting' });
    expect(wanting(input(job, { shard: { alive: 1, issued: 9 } }).shard)).toBe(true);
  });

  it('refuses a second copy to the same volunteer, wallet or address, and mixed numerics on a homogeneous shard', () => {
    expect(decideClaim(input(job, { copies: [other({ volunteerId: 'v1' })] }))).toEqual({ take: false, why: 'not distinct' });
    expect(decideClaim(input(job, { copies: [other({ wallet: '0xA' })] }))).toEqual({ take: false, why: 'not distinct' });
    expect(decideClaim(input(job, { copies: [other({ address: '10.0.0.1' })] }))).toEqual({ take: false, why: 'not distinct' });
    expect(decideClaim(input(job, { copies: [other({ address: '10.0.0.1' })], rules: new Set() })).take).toBe(true);
    const gpu = other({ numericClass: 'webgpu/nvidia/hopper/ort-1.30.0' });
    expect(decideClaim(input(job, { copies: [gpu], shard: { homogeneous: true } }))).toEqual({ take: false, why: 'not distinct' });
    expect(decideClaim(input(job, { copies: [gpu] })).take).toBe(true);
  });

  it('refuses when the job is gone or no longer running', () => {
    expect(decideClaim(input(job, { job: null }))).toEqual({ take: false, why: 'job not running' });
    expect(decideClaim(input({ ...job, state: 'cancelled' }))).toEqual({ take: false, why: 'job not running' });
  });

  it('keeps an inference job to the backends it may run on', () => {
    const wasmOnly: Job = { ...job, spec: { ...job.spec, backends: ['wasm'] } as Job['spec'] };
    expect(decideClaim(input(wasmOnly)).take).toBe(true);
    const gpuVolunteer = { ...volunteer, numericClass: 'webgpu/nvidia/hopper/ort-1.30.0' };
    expect(decideClaim(input(wasmOnly, { volunteer: gpuVolunteer }))).toEqual({ take: false, why: 'backend not allowed' });
  });

  it('asks for the round count of a capped training job, then applies the cap', () => {
    const { job: train } = makeTrainJob('p1', { shards: 8, shardsPerRound: 4, cap: 1 });
    const sixth = { index: 5 };
    expect(decideClaim(input(train, { shard: sixth }))).toEqual({ take: 'count', jobId: train.id, from: 4, to: 8 });
    expect(decideClaim(input(train, { shard: sixth, heldInRound: 0 })).take).toBe(true);
    expect(decideClaim(input(train, { shard: sixth, heldInRound: 1 }))).toEqual({ take: false, why: 'round cap' });
    const { job: uncapped } = makeTrainJob('p1', { shards: 8, shardsPerRound: 4, cap: 0 });
    expect(decideClaim(input(uncapped, { shard: sixth })).take).toBe(true);
  });

  it('checks the cheap refusals before asking a store to count', () => {
    const { job: train } = makeTrainJob('p1', { shards: 8, shardsPerRound: 4, cap: 1 });
    expect(decideClaim(input(train, { shard: { alive: 2 } }))).toEqual({ take: false, why: 'not wanting' });
    expect(decideClaim(input(train, { copies: [other({ volunteerId: 'v1' })] }))).toEqual({ take: false, why: 'not distinct' });
  });
});
