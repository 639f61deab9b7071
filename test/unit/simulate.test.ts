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
    const plain: CellFigures = simulate({ ...small, operators: 0, policy: trustPolicy({ trustAfter: 1_000_000, spotCheckFraction: 0, oneCopyAtATime: false }), reviews: false, voiding: false });
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

  it('careful colluders lie only where they hold every copy of a shard: one copy at a time, they never know that when they answer (replication.ts)', () => {
    const o: WorldOptions = { ...small, strategy: 'careful-colluders', share: 0.35 };
    // A shard's copies issued together, without reviews or void agreements: their agreed lies stand and are paid.
    const together = simulate({ ...o, policy: { ...DEFAULT_TRUST, oneCopyAtATime: false }, reviews: false, voiding: false });
    expect(together.wrongAgreed).toBeGreaterThan(0);
    expect(together.liesPaidPct).toBeGreaterThan(10);
    // One copy at a time: whoever holds a shard's first copy answers before anyone holds the second, so the group
    // lies only on known answers issued in pairs (spot checks), and every such lie is caught.
    const oneAtATime = simulate(o);
    expect(oneAtATime.lies).toBeGreaterThan(0);
    expect(oneAtATime.wrongPer100k).toBe(0);
    expect(oneAtATime.liesPaidPct).toBe(0);
  });

  it('on-off attackers: an answer every agreeing host was since caught on is re-opened without waiting for the root (review.ts agreementVoid)', () => {
    // Patient liars (no faster than their checked results: the pace rule cannot tell them).
    const o: WorldOptions = { ...small, strategy: 'on-off-patient', share: 0.35 };
    const without = simulate({ ...o, voiding: false });
    expect(without.wrongAgreed).toBeGreaterThan(0);
    const voiding = simulate(o);
    expect(voiding.voided).toBeGreaterThan(0);
    expect(voiding.wrongPer100k).toBe(0);
    // Fast liars ask far more often than anyone, yet overturn no right answer: only the root settles a review.
    expect(voiding.overturnedRight).toBe(0);
    // Their credit is held while their lies wait: none paid after the hold.
    expect(voiding.liesPaidPct).toBe(0);
  });

  it('on-off attackers that answer at once: with the pace rule (on by default), results far faster than their host ever computed a checked one are not trusted, so they frame no honest host (pace.ts)', () => {
    const o: WorldOptions = { ...small, strategy: 'on-off', share: 0.35 };
    const without = simulate({ ...o, policy: { ...DEFAULT_TRUST, pace: false } });
    expect(without.framed).toBeGreaterThan(0);
    const paced = simulate(o);
    expect(paced.framed).toBe(0);
    expect(paced.wrongPer100k).toBe(0);
    expect(paced.liesPaidPct).toBe(0);
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
