import { describe, expect, it } from 'vitest';
import { pickOrder } from '../../../server/core/scheduler/pick.ts';
import { seededDraw } from '../../../server/core/scheduler/random.ts';
import { afterEvent, isTrusted, newReputation } from '../../../server/core/trust/reputation.ts';
import { makeJob, makeVolunteer } from '../store/contract.ts';
import { answerKnown, backtrackPlan, decideSpotCopy, judgeAgainstKnown, type KnownAnswer, pairedKnownAnswer, type PendingPair, pickKnownAnswer, type SoloResult, SPOT_PAIR_WAIT_MS, spotCheckNow } from '../../../server/core/trust/spot-check.ts';
import { DEFAULT_TRUST } from '../../../server/core/trust/policy.ts';

const k = (shardId: string, projectId = 'p', source: KnownAnswer['source'] = 'validated'): KnownAnswer => ({ shardId, jobId: 'j', projectId, source });

describe('known answers', () => {
  it("counts a validated answer as known only when an operator host's result is among those that agreed", () => {
    const op = { operator: true };
    const vol = { operator: false };
    // Two (or more) volunteers agreeing may be colluders agreeing on a lie: never a known answer.
    expect(answerKnown([vol, vol])).toBe(false);
    expect(answerKnown([vol, vol, vol])).toBe(false);
    expect(answerKnown([vol])).toBe(false);
    expect(answerKnown([])).toBe(false);
    expect(answerKnown([vol, op])).toBe(true);
    expect(answerKnown([op])).toBe(true);
  });

  it('issues a known-answer copy at the configured fraction, deterministically given the draw', () => {
    const q = { spotCheckFraction: 0.25 };
    expect(spotCheckNow(q, 0.2499, 1)).toBe(true);
    expect(spotCheckNow(q, 0.25, 1)).toBe(false);
    expect(spotCheckNow(q, 0.1, 0)).toBe(false);
    expect(spotCheckNow({ spotCheckFraction: 0 }, 0, 5)).toBe(false);
    const draw = seededDraw('fraction');
    let n = 0;
    for (let i = 0; i < 20_000; i++) if (spotCheckNow(q, draw(), 1)) n++;
    // 20,000 draws at 0.25: 5,000 expected, sd 61; a seeded stream, so this count is fixed.
    expect(n).toBeGreaterThan(4_700);
    expect(n).toBeLessThan(5_300);
  });

  it('never checks a host against a shard it holds, nor outside the project it works for', () => {
    const pool = [k('a'), k('b', 'other'), k('c')];
    expect(pickKnownAnswer(pool, { heldShards: new Set(['a', 'c']) }, 0)?.shardId).toBe('b');
    expect(pickKnownAnswer(pool, { heldShards: new Set(['a']), projectId: 'p' }, 0.99)?.shardId).toBe('c');
    expect(pickKnownAnswer(pool, { heldShards: new Set(['a', 'c']), projectId: 'p' }, 0.5)).toBeNull();
    expect(pickKnownAnswer([], { heldShards: new Set() }, 0.5)).toBeNull();
    // The draw picks uniformly among those that fit.
    expect([0, 0.34, 0.67].map((d) => pickKnownAnswer(pool, { heldShards: new Set() }, d)?.shardId)).toEqual(['a', 'b', 'c']);
  });

  it('passes a copy that agrees with the known answer and fails one that differs, saying with what', () => {
    const v = judgeAgainstKnown([{ copyId: 'x', volunteerId: 'h' }, { copyId: 'y', volunteerId: 'l' }], 'coordinator', (id) => (id === 'x' ? null : 'max |a-b| 3 > 1e-4'));
    expect(v).toEqual([
      { copyId: 'x', volunteerId: 'h', outcome: 'valid', event: 'spot-pass', reason: "spot check passed: agrees with the coordinator's own result" },
      { copyId: 'y', volunteerId: 'l', outcome: 'invalid', event: 'spot-fail', reason: "spot check failed: disagrees with the coordinator's own result: max |a-b| 3 > 1e-4" },
    ]);
  });
});

describe('a known-answer copy', () => {
  const setup = (homogeneous: boolean) => {
    const { job, shards } = makeJob('p', { homogeneous, maxTotal: 4 });
    const shard = { ...shards[0]!, state: 'validated' as const, issued: 2, maxTotal: 4 };
    const gpu = makeVolunteer(1, { cls: 'webgpu/nvidia/hopper/ort-1.30.0' });
    const copies = [1, 2].map((n) => ({ ...makeVolunteer(n + 10), volunteerId: `h${n}`, state: 'returned' }));
    return { job, shard, gpu, copies };
  };

  it('is made as the claim path makes a copy, and refused where the claim path would refuse it', () => {
    const { job, shard, copies } = setup(false);
    const v = makeVolunteer(3);
    const d = decideSpotCopy({ shard, copies, job, volunteer: v, now: 1000, copyId: 'k1' });
    expect(d).toEqual({ take: true, copy: {
      id: 'k1', shardId: shard.id, jobId: job.id, volunteerId: v.id, account: v.account, wallet: null, address: v.address,
      numericClass: v.numericClass, state: 'assigned', outcome: 'pending', assignedAt: 1000, deadline: 1000 + job.spec.limits.ackWithinMs,
      returnedAt: null, reason: null, credit: 0, spot: true,
    } });
    expect(decideSpotCopy({ shard, copies: [...copies, { ...v, volunteerId: v.id, state: 'returned' }], job, volunteer: v, now: 1, copyId: 'k' })).toEqual({ take: false, why: 'volunteer held a copy' });
    expect(decideSpotCopy({ shard: { ...shard, issued: 4 }, copies, job, volunteer: v, now: 1, copyId: 'k' })).toEqual({ take: false, why: 'no copies left to issue' });
    expect(decideSpotCopy({ shard: { ...shard, state: 'failed' }, copies, job, volunteer: v, now: 1, copyId: 'k' })).toEqual({ take: false, why: 'shard failed' });
    expect(decideSpotCopy({ shard, copies, job: { ...job, state: 'completed' }, volunteer: v, now: 1, copyId: 'k' })).toEqual({ take: false, why: 'job not running' });
  });

  it("checks a homogeneous job's shard only against hosts of its results' numeric class", () => {
    const { job, shard, gpu, copies } = setup(true);
    expect(decideSpotCopy({ shard, copies, job, volunteer: gpu, now: 1, copyId: 'k' })).toEqual({ take: false, why: 'another numeric class' });
    expect(decideSpotCopy({ shard, copies, job, volunteer: makeVolunteer(4), now: 1, copyId: 'k' }).take).toBe(true);
    // Not homogeneous: any class may be checked (the job's tolerance covers backends).
    const h = setup(false);
    expect(decideSpotCopy({ shard: h.shard, copies: h.copies, job: h.job, volunteer: h.gpu, now: 1, copyId: 'k' }).take).toBe(true);
  });
});

describe('a failed check', () => {
  const trusted = () => {
    let r = newReputation('liar', 'wasm/ort-1.30.0', 0);
    for (let i = 0; i < 12; i++) r = afterEvent(r, i === 5 ? 'spot-pass' : 'valid', 1000 + i);
    return r;
  };
  const solo = (copyId: string, volunteerId: string, at: number): SoloResult => ({ copyId, shardId: `s${copyId}`, volunteerId, numericClass: 'c', at });

  it('resets the reputation and re-opens every solo result of the streak but the one just judged', () => {
    const before = trusted();
    expect(isTrusted(before, DEFAULT_TRUST)).toBe(true);
    const after = afterEvent(before, 'spot-fail', 2000);
    expect(isTrusted(after, DEFAULT_TRUST)).toBe(false);
    expect(after.spotFailed).toBe(1);
    const solos = [solo('old', 'liar', 999), solo('1', 'liar', 1003), solo('2', 'honest', 1004), solo('3', 'liar', 1011), solo('caught', 'liar', 1011)];
    const plan = backtrackPlan(solos, before, { copyId: 'caught', spot: true });
    // Since its streak began (1000), across the spot check it passed at 1005: a host lying on some copies passes others.
    expect(plan.targets.map((s) => s.copyId)).toEqual(['1', '3']);
    expect(plan.reason).toBe('reversed: this host failed a spot check (copy caught), so the results it had accepted without a second opinion since 1970-01-01T00:00:01.000Z are recomputed by others');
    // The reputation after the failure has no streak start: the plan must be made from the one before.
    expect(backtrackPlan(solos, after, { copyId: 'caught', spot: true }).targets.map((s) => s.copyId)).toEqual(['old', '1', '3']);
  });

  it('says when an ordinary invalid result, not a spot check, set it off', () => {
    expect(backtrackPlan([], { volunteerId: 'v', streakSince: null }, { copyId: 'c9', spot: false }).reason)
      .toBe('reversed: this host returned an invalid result (copy c9), so the results it had accepted without a second opinion since it joined are recomputed by others');
  });
});

describe('shard pick', () => {
  const e = (id: string, priority = 0) => ({ id, priority });

  it('is the same for the same seed and differs between seeds', () => {
    const list = Array.from({ length: 10 }, (_, i) => e(`s${i}`));
    const a = pickOrder(list, seededDraw('one')).map((x) => x.id);
    expect(pickOrder(list, seededDraw('one')).map((x) => x.id)).toEqual(a);
    expect(pickOrder(list, seededDraw('two')).map((x) => x.id)).not.toEqual(a);
    expect([...a].sort()).toEqual(list.map((x) => x.id).sort());
  });

  it('does not hand the queue head to the next request: over many claims each of the window is first about equally often', () => {
    const list = Array.from({ length: 4 }, (_, i) => e(`s${i}`));
    const draw = seededDraw('spread');
    const firsts = new Map<string, number>();
    for (let i = 0; i < 4000; i++) {
      const f = pickOrder(list, draw)[0]!.id;
      firsts.set(f, (firsts.get(f) ?? 0) + 1);
    }
    // 1,000 each expected (sd 27); the stream is seeded, so these counts are fixed.
    for (const id of ['s0', 's1', 's2', 's3']) expect(firsts.get(id)).toBeGreaterThan(850);
  });

  it('keeps priorities: only the top priority present is drawn from, and the window bounds how far past the head it reaches', () => {
    const list = [e('low1', 0), e('hi1', 5), e('low2', 0), e('hi2', 5), e('hi3', 5)];
    const draw = seededDraw('prio');
    for (let i = 0; i < 200; i++) {
      const o = pickOrder(list, draw).map((x) => x.id);
      expect(o.slice(0, 3).sort()).toEqual(['hi1', 'hi2', 'hi3']);
      expect(o.slice(3)).toEqual(['low1', 'low2']);
    }
    const long = Array.from({ length: 40 }, (_, i) => e(`s${String(i).padStart(2, '0')}`));
    for (let i = 0; i < 200; i++) expect(Number(pickOrder(long, draw, 16)[0]!.id.slice(1))).toBeLessThan(16);
    expect(pickOrder(long, draw, 1)).toEqual(long);
    // Training shards keep queue order.
    const train = long.map((x) => ({ ...x, ordered: true }));
    expect(pickOrder(train, draw)).toEqual(train);
  });

  it('draws uniform numbers in [0, 1)', () => {
    const draw = seededDraw(new Uint8Array(32));
    let min = 1;
    let max = 0;
    let sum = 0;
    for (let i = 0; i < 10_000; i++) {
      const x = draw();
      min = Math.min(min, x);
      max = Math.max(max, x);
      sum += x;
    }
    expect(min).toBeGreaterThanOrEqual(0);
    expect(max).toBeLessThan(1);
    expect(sum / 10_000).toBeGreaterThan(0.48);
    expect(sum / 10_000).toBeLessThan(0.52);
  });
});

describe('known answers issued in pairs', () => {
  const known = k('s');
  const pending: PendingPair = { known, firstVolunteer: 'a', at: 1000 };
  it('gives the waiting known answer to the next other host that draws a spot check, in time', () => {
    expect(pairedKnownAnswer(pending, 'b', 1000 + SPOT_PAIR_WAIT_MS)).toBe(known);
    // Never twice to one host, never after the wait, never when nothing waits.
    expect(pairedKnownAnswer(pending, 'a', 1001)).toBeNull();
    expect(pairedKnownAnswer(pending, 'b', 1001 + SPOT_PAIR_WAIT_MS)).toBeNull();
    expect(pairedKnownAnswer(null, 'b', 1001)).toBeNull();
  });
  it("waits as long as the operator set (--spot-pair-seconds); 0: pairing is off, even at the first copy's instant", () => {
    expect(pairedKnownAnswer(pending, 'b', 1000 + 3_600_000, 3_600_000)).toBe(known);
    expect(pairedKnownAnswer(pending, 'b', 1001 + 3_600_000, 3_600_000)).toBeNull();
    expect(pairedKnownAnswer(pending, 'b', 1000, 0)).toBeNull();
  });
});
