/**
 * The trust simulator (npm run simulate) drives the coordinator's real
 * decision code, so its figures move when that code's policy moves. Small,
 * fixed-seed runs; no figure here is a timed target (those are printed by
 * `npm run simulate`, not tested).
 */
import { describe, expect, it } from 'vitest';
import { parseDistinctRules } from '../../server/core/scheduler/eligibility.ts';
import { DEFAULT_TRUST, trustPolicy } from '../../server/core/trust/policy.ts';
import { type CellFigures, simulate, type WorldOptions } from '../../bench/simulate/world.ts';

const small: WorldOptions = {
  seed: 7, volunteers: 120, operators: 2, shards: 600, warmup: 600, share: 0.1, strategy: 'fast-colluders',
  policy: DEFAULT_TRUST, replicas: 2, rules: parseDistinctRules('wallet,address'), holdMs: 10 * 60_000,
  computeMs: 20_000, fastMs: 1_000, idleMs: 5_000, backlog: 240, stallMs: 3600_000,
};

describe('npm run simulate', () => {
  it('is deterministic for a seed', () => {
    const a = simulate({ ...small, shards: 200, warmup: 100 });
    const b = simulate({ ...small, shards: 200, warmup: 100 });
    expect(a).toEqual(b);
  });

  it('fast colluding liars get wrong shards accepted when no host is trusted (plain 2-way replication), and none with the trust rules', () => {
    // No root of trust and a streak no one reaches: every host stays untrusted, two agreeing untrusted results are accepted.
    const plain: CellFigures = simulate({ ...small, operators: 0, policy: trustPolicy({ trustAfter: 1_000_000, spotCheckFraction: 0 }), reviews: false });
    expect(plain.wrongPer100k).toBeGreaterThan(1000);
    expect(plain.liesPaidPct).toBeGreaterThan(10);
    // The default rules: untrusted hosts are paired with trusted ones, spot checks catch liars.
    const trust = simulate(small);
    expect(trust.validated).toBeGreaterThan(0);
    expect(trust.wrongPer100k).toBe(0);
    expect(trust.liesPaidPct).toBe(0);
    expect(trust.caughtPct).toBeGreaterThan(90);
  });

  it('forged numeric classes on a homogeneous job: no shard stalls, none is wrong (numeric-class.ts)', () => {
    // Before the class rules, a forger's copy waited for a trusted host of its made-up class that never came.
    const forged = simulate({ ...small, strategy: 'forged-class', stallMs: 600_000 });
    expect(forged.stalled).toBe(0);
    expect(forged.failed).toBe(0);
    expect(forged.validated).toBe(small.shards);
    expect(forged.wrongPer100k).toBe(0);
  });

  it("careful colluders: a caught colluder's agreed results go to the root of trust, which overturns the lies among them (review.ts)", () => {
    const o: WorldOptions = { ...small, strategy: 'careful-colluders', share: 0.35 };
    // Without reviews, their agreed lies stand (backtracking revisits only results accepted alone) and are paid.
    const without = simulate({ ...o, reviews: false });
    expect(without.wrongAgreed).toBeGreaterThan(0);
    expect(without.reviews).toBe(0);
    const reviewed = simulate(o);
    expect(reviewed.overturned).toBeGreaterThan(0);
    expect(reviewed.wrongPer100k).toBeLessThan(without.wrongPer100k);
    expect(reviewed.liesPaidPct).toBeLessThan(without.liesPaidPct);
  });

  it('on-off attackers: fast liars ask far more often than anyone, yet overturn no right answer, since only the root settles a review', () => {
    const reviewed = simulate({ ...small, strategy: 'on-off', share: 0.35 });
    expect(reviewed.overturned).toBeGreaterThan(0);
    expect(reviewed.overturnedRight).toBe(0);
    expect(reviewed.reviewCopies).toBeGreaterThan(reviewed.overturned);
    // Their credit is held while their lies wait for the root: none paid after the hold.
    expect(reviewed.liesPaidPct).toBe(0);
  });

  it('an honest swarm costs one copy per shard plus what replication and spot checks add', () => {
    const honest = simulate({ ...small, strategy: 'honest', share: 0 });
    expect(honest.wrongPer100k).toBe(0);
    expect(honest.validated).toBe(small.shards);
    expect(honest.copiesPerShard).toBeGreaterThan(1 + DEFAULT_TRUST.minReplicateProbability);
    expect(honest.copiesPerShard).toBeLessThan(1.5);
    // Every copy replicated (no host ever trusted, nothing stands alone): two copies per shard.
    const always = simulate({ ...small, strategy: 'honest', share: 0, operators: 0, policy: trustPolicy({ trustAfter: 1_000_000, spotCheckFraction: 0 }) });
    expect(always.copiesPerShard).toBeCloseTo(2, 1);
  });
});
