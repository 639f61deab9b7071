/**
 * The claim decision both stores call: every refusal for its own reason, the
 * copy it issues, and the round count it asks a store for instead of
 * guessing. Plain data in, plain data out: no store, no socket.
 */
import { describe, expect, it } from 'vitest';
import type { Job } from '../../../server/core/jobs/types.ts';
import { type ClaimInput, type ClaimableShard, type ClaimRefusal, decideClaim, jobRefusal, jobRefusals, wanting } from '../../../server/core/scheduler/claim.ts';
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
  const policy = { trustAfter: 10, minReplicateProbability: 0.05, classQuorum: 3, oneCopyAtATime: true };

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
    const trust = (o: Partial<NonNullable<ClaimInput['trust']>> = {}): NonNullable<ClaimInput['trust']> => ({
      policy, asker: null, trustedClasses: ['wasm/ort-1.30.0'], census: new Map([['wasm/ort-1.30.0', 3]]), draw: 0.5, holderTrust: () => 'untrusted' as const, ...o,
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

  it('with trust: a trusted host that holds a copy of the shard is not one to keep the next copy for; an untrusted host checks it', () => {
    // The only trusted host connected (v2) holds the shard's first copy (its first result in the job: checked), and
    // an untrusted host's copy disagreed with it: the shard wants a third result.
    const heldByTrusted = other({ state: 'returned', outcome: 'pending', solo: false });
    const untrustedCopy = other({ volunteerId: 'v3', wallet: '0xC', address: '10.0.0.3', state: 'returned', outcome: 'pending' });
    const holders: (ReadonlySet<string>)[] = [];
    const trust = (besides: (h: ReadonlySet<string>) => readonly string[]): NonNullable<ClaimInput['trust']> => ({
      policy, asker: null, trustedClasses: ['wasm/ort-1.30.0'], census: new Map([['wasm/ort-1.30.0', 3]]), draw: 0.5,
      holderTrust: (c) => (c.volunteerId === 'v2' ? 'trusted, not alone' as const : 'untrusted' as const),
      trustedClassesBesides: (h) => { holders.push(h); return besides(h); },
    });
    const shard = { alive: 2, issued: 2, wanted: 3 };
    const copies = [heldByTrusted, untrustedCopy];
    expect(decideClaim(input(job, { shard, copies, trust: trust((h) => (h.has('v2') ? [] : ['wasm/ort-1.30.0'])) })))
      .toMatchObject({ take: true, wanted: 3, copy: { volunteerId: 'v1' } });
    expect(holders).toEqual([new Set(['v2', 'v3'])]);
    // Before, the holder itself counted: the copy was kept for a trusted host that could never take it.
    expect(decideClaim(input(job, { shard, copies, trust: { ...trust(() => []), trustedClassesBesides: undefined } }))).toEqual({ take: false, why: 'kept for a trusted host' });
    // Another trusted host free to take it: the next copy is kept for it.
    expect(decideClaim(input(job, { shard, copies, trust: trust(() => ['wasm/ort-1.30.0']) }))).toEqual({ take: false, why: 'kept for a trusted host' });
  });

  it('with trust, one copy at a time: an inference shard\'s copy in flight keeps its next copy from everyone until it returns; a training job\'s copies go out together', () => {
    const trust = (o: Partial<NonNullable<ClaimInput['trust']>> = {}): NonNullable<ClaimInput['trust']> => ({
      policy, asker: null, trustedClasses: [], census: new Map([['wasm/ort-1.30.0', 3]]), draw: 0.5, holderTrust: () => 'untrusted' as const, ...o,
    });
    const trustedAsker = { asker: { streak: 50 }, holderTrust: () => 'trusted' as const };
    for (const state of ['assigned', 'running']) {
      for (const t of [trust(), trust(trustedAsker), trust({ asker: { streak: 0, operator: true } })]) {
        expect(decideClaim(input(job, { shard: { alive: 1, issued: 1 }, copies: [other({ state })], trust: t }))).toEqual({ take: false, why: 'copy in flight' });
      }
    }
    // Returned (and not judged invalid): the next copy goes out.
    expect(decideClaim(input(job, { shard: { alive: 1, issued: 1 }, copies: [other({ state: 'returned', outcome: 'pending' })], trust: trust() }))).toMatchObject({ take: true, wanted: 2 });
    // A copy that expired holds nothing back: its replacement goes out.
    expect(decideClaim(input(job, { shard: { alive: 0, issued: 1 }, copies: [other({ state: 'expired', reason: 'lease ran out' })], trust: trust() }))).toMatchObject({ take: true });
    // --copies together.
    const together = trust({ policy: { ...policy, oneCopyAtATime: false } });
    expect(decideClaim(input(job, { shard: { alive: 1, issued: 1 }, copies: [other()], trust: together }))).toMatchObject({ take: true, wanted: 2 });
    // Training: a round's updates are aggregated, not compared against one answer.
    const { job: train } = makeTrainJob('p1', { shards: 4, shardsPerRound: 4, cap: 0, replicas: 2 });
    expect(decideClaim(input(train, { shard: { alive: 1, issued: 1 }, copies: [other()], trust: trust() }))).toMatchObject({ take: true, wanted: 2 });
    expect(decideClaim(input(train, { shard: { alive: 1, issued: 1 }, copies: [other()], trust: trust(trustedAsker) }))).toMatchObject({ take: true, wanted: 2 });
  });

  describe('with trust, on a homogeneous job: a numeric class takes copies only if honoured, and an untrusted host only beside a trusted host of its class', () => {
    const WASM = 'wasm/ort-1.30.0';
    const GPU = 'webgpu/nvidia/ampere/ort-1.30.0';
    const FORGED = 'webgpu/forged/x/ort-1.30.0';
    const census = new Map([[WASM, 5], [GPU, 3], [FORGED, 2]]);
    const trust = (o: Partial<NonNullable<ClaimInput['trust']>> = {}): NonNullable<ClaimInput['trust']> => ({
      policy, asker: null, trustedClasses: [WASM], census, draw: 0.5, holderTrust: () => 'untrusted' as const, ...o,
    });
    const homogeneous = (v: Partial<typeof volunteer>, o: Partial<Omit<ClaimInput, 'shard'>> & { shard?: Partial<ClaimableShard> } = {}) =>
      decideClaim(input(job, { ...o, volunteer: { ...volunteer, ...v }, shard: { homogeneous: true, ...o.shard } }));

    it('refuses a class fewer than classQuorum address groups announce, trusted or not, and says why', () => {
      expect(homogeneous({ numericClass: FORGED }, { trust: trust() })).toEqual({ take: false, why: 'class not honoured' });
      expect(homogeneous({ numericClass: FORGED }, { trust: trust({ asker: { streak: 50 }, trustedClasses: [WASM, FORGED] }) })).toEqual({ take: false, why: 'class not honoured' });
      expect(homogeneous({ numericClass: 'webgpu/never/seen/ort-1' }, { trust: trust({ trustedClasses: [] }) })).toEqual({ take: false, why: 'class not honoured' });
      // A job that is not homogeneous compares across classes: no class rule applies.
      expect(decideClaim(input(job, { volunteer: { ...volunteer, numericClass: FORGED }, trust: trust() }))).toMatchObject({ take: true });
      // Without the trust rules (the stores' contract tests): as before.
      expect(homogeneous({ numericClass: FORGED })).toMatchObject({ take: true });
    });

    it('refuses an untrusted host of an honoured class while a trusted host can be had in another class only', () => {
      expect(homogeneous({ numericClass: GPU }, { trust: trust() })).toEqual({ take: false, why: 'no trusted host in class' });
      // A trusted host of its class can be had: its copy will be checked by one.
      expect(homogeneous({ numericClass: GPU }, { trust: trust({ trustedClasses: [WASM, GPU] }) })).toMatchObject({ take: true });
      // It is trusted itself.
      expect(homogeneous({ numericClass: GPU }, { trust: trust({ asker: { streak: 10 } }) })).toMatchObject({ take: true });
      // No trusted host at all: untrusted hosts check each other, within a class.
      expect(homogeneous({ numericClass: GPU }, { trust: trust({ trustedClasses: [] }) })).toMatchObject({ take: true });
      // Trusted hosts the job may not use (its backends) do not count.
      const wasmOnly: Job = { ...job, spec: { ...job.spec, backends: ['wasm'] } as Job['spec'] };
      expect(decideClaim(input(wasmOnly, { volunteer: { ...volunteer, numericClass: WASM }, shard: { homogeneous: true }, trust: trust({ trustedClasses: [GPU] }) }))).toMatchObject({ take: true });
    });

    it('a copy whose class may not hold homogeneous copies now does not bind the shard to it, so the shard can still complete', () => {
      const forged = other({ numericClass: FORGED, state: 'returned', outcome: 'pending' });
      // The forged copy (issued before the rule, or its class lost its trusted host): a trusted WASM host takes the next copy.
      expect(homogeneous({}, { shard: { alive: 1 }, copies: [forged], trust: trust({ asker: { streak: 10 } }) })).toMatchObject({ take: true, wanted: 2 });
      // A GPU copy binds while a trusted GPU host can be had (its class can check it) ... (returned: one in flight
      // would hold the shard's next copy back from everyone, one copy at a time)
      const gpu = other({ numericClass: GPU, state: 'returned', outcome: 'pending' });
      expect(homogeneous({}, { shard: { alive: 1 }, copies: [gpu], trust: trust({ asker: { streak: 10 }, trustedClasses: [WASM, GPU] }) })).toEqual({ take: false, why: 'not distinct' });
      // ... or while it is held by a trusted host ...
      expect(homogeneous({}, { shard: { alive: 1 }, copies: [gpu], trust: trust({ asker: { streak: 10 }, holderTrust: () => 'trusted' as const }) })).toEqual({ take: false, why: 'not distinct' });
      // ... and not once no trusted host of its class is left to check it.
      expect(homogeneous({}, { shard: { alive: 1 }, copies: [gpu], trust: trust({ asker: { streak: 10 } }) })).toMatchObject({ take: true });
    });
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
    // A class the rules refuse on a homogeneous shard: refused at once, no count asked of the store.
    const trust = { policy, asker: null, trustedClasses: ['wasm/ort-1.30.0'], census: new Map([['wasm/ort-1.30.0', 3]]), draw: 0.5, holderTrust: () => 'untrusted' as const };
    const forger = { ...volunteer, numericClass: 'webgpu/forged/x/ort-1.30.0' };
    expect(decideClaim(input(train, { shard: { index: 5, homogeneous: true }, volunteer: forger, trust }))).toEqual({ take: false, why: 'class not honoured' });
  });
});

describe('jobRefusal: the claim\'s refusals that hold for every shard of a job (what a store decides once per job)', () => {
  const { job } = makeJob('p1');
  const WASM = 'wasm/ort-1.30.0';
  const GPU = 'webgpu/nvidia/ampere/ort-1.30.0';
  const FORGED = 'webgpu/forged/x/ort-1.30.0';
  const policy = { trustAfter: 10, minReplicateProbability: 0.05, classQuorum: 3, oneCopyAtATime: true };
  const census = new Map([[WASM, 5], [GPU, 3], [FORGED, 2]]);
  const jobs: [string, Job | null][] = [
    ['running', job], ['cancelled', { ...job, state: 'cancelled' }], ['gone', null],
    ['wasm only', { ...job, spec: { ...job.spec, backends: ['wasm'] } as Job['spec'] }],
  ];
  const trusts: [string, Omit<NonNullable<ClaimInput['trust']>, 'holderTrust' | 'draw'> | undefined][] = [
    ['no trust rules', undefined],
    ['untrusted, WASM trusted', { policy, asker: null, trustedClasses: [WASM], census }],
    ['trusted asker', { policy, asker: { streak: 20 }, trustedClasses: [WASM], census }],
    ['no trusted host', { policy, asker: null, trustedClasses: [], census }],
  ];
  const JOB_WIDE: readonly ClaimRefusal[] = ['job not running', 'backend not allowed', 'class not honoured', 'no trusted host in class'];

  it('refuses exactly where decideClaim refuses a fresh shard of the job for a job-wide reason, with the same reason', () => {
    let refusals = 0;
    let grants = 0;
    for (const [, j] of jobs) {
      for (const [, t] of trusts) {
        for (const cls of [WASM, GPU, FORGED]) {
          for (const homogeneous of [false, true]) {
            const v = { ...volunteer, numericClass: cls };
            const r = jobRefusal(j, homogeneous, v, t);
            const d = decideClaim(input(job, { job: j, volunteer: v, shard: { homogeneous }, ...(t ? { trust: { ...t, draw: 0.5, holderTrust: () => 'untrusted' as const } } : {}) }));
            if (r) {
              refusals++;
              expect(d).toEqual({ take: false, why: r });
            } else {
              if (d.take === true) grants++;
              expect(d.take === false && JOB_WIDE.includes(d.why)).toBe(false);
            }
          }
        }
      }
    }
    // Both sides of the rule were exercised.
    expect(refusals).toBeGreaterThan(20);
    expect(grants).toBeGreaterThan(10);
  });

  it('is remembered per job and homogeneity for one request: the same answers', () => {
    const t = { policy, asker: null, trustedClasses: [WASM], census };
    const forger = { ...volunteer, numericClass: FORGED };
    const refused = jobRefusals(forger, t);
    for (const homogeneous of [true, false, true]) {
      expect(refused(job, homogeneous)).toBe(jobRefusal(job, homogeneous, forger, t));
    }
    expect(refused(job, true)).toBe('class not honoured');
    expect(refused(job, false)).toBeNull();
    expect(refused(null, false)).toBe('job not running');
  });
});
