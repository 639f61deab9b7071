import { describe, expect, it } from 'vitest';
import { makeJob, makeVolunteer } from '../store/contract.ts';
import {
  agreementVoid, type Agreement, caughtSince, type AgreedResult, decideOwnReview, decideReviewCopy, judgeUnsettledReviewCopy, pickOwnReview, MIN_REVIEW_WINDOW_MS, pickReview, reviewOrder, reviewReason, reviewSince, reviewTargets, settleReview, voidReason, voidTargets,
} from '../../../server/core/trust/review.ts';

const HOUR = 3600_000;
const agreed = (shardId: string, at: number, over: Partial<AgreedResult> = {}): AgreedResult => ({
  copyId: `c-${shardId}`, shardId, jobId: 'j', volunteerId: 'liar', at, kind: 'inference', rootAgreed: false, reviewed: false, ...over,
});

describe('which agreed results go under review', () => {
  const now = 100 * HOUR;

  it("takes the caught host's agreed results within the credit hold, whatever checks it passed in between", () => {
    const list = [agreed('a', now - 25 * HOUR), agreed('b', now - 23 * HOUR), agreed('c', now - 1), agreed('d', now - 2 * HOUR, { volunteerId: 'other' })];
    expect(reviewTargets(list, { volunteerId: 'liar' }, { now, holdMs: 24 * HOUR }).map((t) => t.shardId)).toEqual(['b', 'c']);
    expect(reviewSince({ now, holdMs: 24 * HOUR })).toBe(now - 24 * HOUR);
  });

  it('looks back at least MIN_REVIEW_WINDOW_MS when the hold is shorter (or none)', () => {
    const list = [agreed('a', now - MIN_REVIEW_WINDOW_MS - 1), agreed('b', now - MIN_REVIEW_WINDOW_MS)];
    expect(reviewTargets(list, { volunteerId: 'liar' }, { now, holdMs: 0 }).map((t) => t.shardId)).toEqual(['b']);
  });

  it('leaves out what the root already confirmed, shards reviewed before, training results and repeats of a shard', () => {
    const list = [
      agreed('root', now - 5, { rootAgreed: true }), agreed('done', now - 5, { reviewed: true }), agreed('train', now - 5, { kind: 'train' }),
      agreed('x', now - 5), agreed('x', now - 4, { copyId: 'c-x2' }),
    ];
    expect(reviewTargets(list, { volunteerId: 'liar' }, { now, holdMs: HOUR }).map((t) => t.copyId)).toEqual(['c-x']);
  });

  it('says why, naming the host and how it was caught', () => {
    expect(reviewReason({ volunteerId: 'v1', copyId: 'k', spot: true })).toMatch(/^under review: host v1 agreed on this answer and later failed a spot check \(copy k\)/);
    expect(reviewReason({ volunteerId: 'v1', copyId: 'k', spot: false })).toContain('returned an invalid result');
  });
});

describe('a review copy', () => {
  const setup = (homogeneous = false) => {
    const { job, shards } = makeJob('p', { homogeneous, maxTotal: 2 });
    // Validated, its copy budget spent: a review copy is outside it.
    const shard = { ...shards[0]!, state: 'validated' as const, canonicalCopyId: 'c1', issued: 2 };
    const copies = [1, 2].map((n) => ({ ...makeVolunteer(n + 10), volunteerId: `h${n}`, state: 'returned' }));
    const base = { review: { state: 'open' as const, copyId: null }, copyLive: false, shard, canonicalCopyId: 'c1', copies, job, volunteer: makeVolunteer(3), root: true, now: 1000, copyId: 'r1' };
    return { job, shard, copies, base };
  };

  it('goes only to a root host, one live copy per review, outside the shard\'s copy budget, made as any copy is', () => {
    const { job, base } = setup();
    const d = decideReviewCopy(base);
    expect(d).toEqual({ take: true, copy: {
      id: 'r1', shardId: base.shard.id, jobId: job.id, volunteerId: base.volunteer.id, account: base.volunteer.account, wallet: null,
      address: base.volunteer.address, numericClass: base.volunteer.numericClass, state: 'assigned', outcome: 'pending', assignedAt: 1000,
      deadline: 1000 + job.spec.limits.ackWithinMs, returnedAt: null, reason: null, credit: 0,
      // Marked server-side (the assignment is built from named fields): it settles its review or, too late, moves no trust.
      review: true,
    } });
    expect(decideReviewCopy({ ...base, root: false })).toEqual({ take: false, why: 'not a root host' });
    expect(decideReviewCopy({ ...base, review: { state: 'open', copyId: 'r0' }, copyLive: true })).toEqual({ take: false, why: 'a root copy is under way' });
    // The last root copy expired: another may go.
    expect(decideReviewCopy({ ...base, review: { state: 'open', copyId: 'r0' }, copyLive: false }).take).toBe(true);
    expect(decideReviewCopy({ ...base, review: { state: 'confirmed', copyId: 'r0' } })).toEqual({ take: false, why: 'review confirmed' });
    // A completed job's outputs are still corrected; a cancelled one is not reviewed.
    expect(decideReviewCopy({ ...base, job: { ...job, state: 'completed' } }).take).toBe(true);
    expect(decideReviewCopy({ ...base, job: { ...job, state: 'cancelled' } })).toEqual({ take: false, why: 'job ended' });
    expect(decideReviewCopy({ ...base, shard: { ...base.shard, canonicalCopyId: 'other' } })).toEqual({ take: false, why: 'the answer under review is no longer the shard\'s' });
    expect(decideReviewCopy({ ...base, shard: { ...base.shard, state: 'open' } })).toEqual({ take: false, why: 'the answer under review is no longer the shard\'s' });
    expect(decideReviewCopy({ ...base, copies: [...base.copies, { ...base.volunteer, volunteerId: base.volunteer.id, state: 'returned' }] })).toEqual({ take: false, why: 'volunteer held a copy' });
  });

  it("on a homogeneous job, goes only to a root host of the results' numeric class", () => {
    const { base } = setup(true);
    const gpu = makeVolunteer(4, { cls: 'webgpu/nvidia/hopper/ort-1.30.0' });
    expect(decideReviewCopy({ ...base, volunteer: gpu })).toEqual({ take: false, why: 'another numeric class' });
    expect(decideReviewCopy(base).take).toBe(true);
  });

  it('a root host takes first what only caught hosts vouch for, then the newest answers, among shards it holds no copy of', () => {
    const open = [{ shardId: 'b', resultAt: 5, vouched: false }, { shardId: 'a', resultAt: 30, vouched: true }, { shardId: 'c', resultAt: 9, vouched: false }];
    expect(pickReview(open, new Set())?.shardId).toBe('c');
    expect(pickReview(open, new Set(['c']))?.shardId).toBe('b');
    expect(pickReview(open, new Set(['b', 'c']))?.shardId).toBe('a');
    expect(pickReview(open, new Set(['a', 'b', 'c']))).toBeNull();
    expect([...open].sort(reviewOrder).map((r) => r.shardId)).toEqual(['c', 'b', 'a']);
  });
});

describe('settling a review', () => {
  const review = { shardId: 's', canonicalCopyId: 'c1' };
  const agreeing = [{ copyId: 'c1', volunteerId: 'liar' }, { copyId: 'c2', volunteerId: 'friend' }];

  it('confirms when the root computes the same answer: nobody is caught', () => {
    expect(settleReview(review, { copyId: 'r' }, agreeing, null)).toEqual({ outcome: 'confirmed', reason: expect.stringMatching(/^review confirmed/) });
  });

  it("overturns when the root differs: the root's result is the output and every host that agreed on the old answer is caught", () => {
    const s = settleReview(review, { copyId: 'r' }, [...agreeing, { copyId: 'r', volunteerId: 'root' }], 'max |a-b| 1000 > 1e-3');
    expect(s).toEqual({
      outcome: 'overturned', canonical: 'r',
      overturned: [{ copyId: 'c1', volunteerId: 'liar' }, { copyId: 'c2', volunteerId: 'friend' }],
      reason: expect.stringMatching(/^overturned: .*copy r.*max \|a-b\| 1000 > 1e-3/),
    });
  });
});

describe("the coordinator's own computation settling a review", () => {
  const OWN = 'wasm/ort-1.22.0';
  const setup = (homogeneous = false) => {
    const { job, shards } = makeJob('p', { homogeneous });
    const shard = { ...shards[0]!, state: 'validated' as const, canonicalCopyId: 'c1' };
    return { job, shard, base: { review: { state: 'open' as const, canonicalCopyId: 'c1' }, copyLive: false, shard, job, answerClass: OWN, ownClass: OWN } };
  };

  it("settles an open review of an inference job's answer, running or completed, while no operator host's copy is under way", () => {
    const { job, base } = setup();
    expect(decideOwnReview(base)).toEqual({ compute: true });
    expect(decideOwnReview({ ...base, job: { ...job, state: 'completed' } })).toEqual({ compute: true });
    // An operator host is on it: it may still end without a result, so the coordinator may take it later.
    expect(decideOwnReview({ ...base, copyLive: true })).toEqual({ compute: false, later: true, why: 'an operator host\'s copy is under way' });
  });

  it('leaves for good what nobody settles any more, or what it cannot compute alike', () => {
    const { job, shard, base } = setup();
    expect(decideOwnReview({ ...base, review: { state: 'closed', canonicalCopyId: 'c1' } })).toEqual({ compute: false, later: false, why: 'review closed' });
    expect(decideOwnReview({ ...base, job: { ...job, state: 'failed' } })).toEqual({ compute: false, later: false, why: 'job ended' });
    expect(decideOwnReview({ ...base, job: null })).toEqual({ compute: false, later: false, why: 'job ended' });
    expect(decideOwnReview({ ...base, job: { ...job, kind: 'train' } })).toEqual({ compute: false, later: false, why: 'not an inference job' });
    expect(decideOwnReview({ ...base, shard: { ...shard, canonicalCopyId: 'r' } })).toEqual({ compute: false, later: false, why: 'the answer under review is no longer the shard\'s' });
    expect(decideOwnReview({ ...base, shard: { ...shard, state: 'open' } })).toMatchObject({ compute: false, later: false });
    // Another class on a job that is not homogeneous: compared within tolerance, as any copy is.
    expect(decideOwnReview({ ...base, answerClass: 'webgpu/nvidia/hopper/ort-1.22.0' })).toEqual({ compute: true });
  });

  it("skips a homogeneous job whose answer is of another numeric class than the coordinator's (its operator hosts of that class settle it)", () => {
    const { base } = setup(true);
    expect(decideOwnReview(base)).toEqual({ compute: true });
    expect(decideOwnReview({ ...base, answerClass: 'webgpu/nvidia/hopper/ort-1.22.0' })).toEqual({
      compute: false, later: false, why: `homogeneous job: the answer under review is of class webgpu/nvidia/hopper/ort-1.22.0, the coordinator computes in ${OWN}`,
    });
  });

  it('takes reviews in reviewOrder, passing over those a root copy is under way for and those it passed over before', () => {
    const open = [
      { shardId: 'a', resultAt: 30, vouched: false, copyId: 'r', copyLive: true },
      { shardId: 'b', resultAt: 20, vouched: false, copyId: null, copyLive: false },
      { shardId: 'c', resultAt: 10, vouched: false, copyId: 'r2', copyLive: false },
      { shardId: 'd', resultAt: 40, vouched: true, copyId: null, copyLive: false },
    ];
    expect(pickOwnReview(open, new Set())?.shardId).toBe('b');
    expect(pickOwnReview(open, new Set(['b']))?.shardId).toBe('c');
    expect(pickOwnReview(open, new Set(['b', 'c']))?.shardId).toBe('d');
    expect(pickOwnReview(open, new Set(['b', 'c', 'd']))).toBeNull();
  });

  it("says in the settlement's reason that the coordinator's own computation settled it", () => {
    const agreeing = [{ copyId: 'c1', volunteerId: 'liar' }, { copyId: 'c2', volunteerId: 'friend' }];
    expect(settleReview({ shardId: 's', canonicalCopyId: 'c1' }, { copyId: 'k' }, agreeing, null, 'coordinator'))
      .toEqual({ outcome: 'confirmed', reason: 'review confirmed: the coordinator\'s own computation computed the same answer' });
    expect(settleReview({ shardId: 's', canonicalCopyId: 'c1' }, { copyId: 'k' }, agreeing, 'y: 3 of 16 values differ', 'coordinator')).toEqual({
      outcome: 'overturned', canonical: 'k', overturned: agreeing,
      reason: 'overturned: the coordinator\'s own computation (copy k) computed a different answer for this shard (y: 3 of 16 values differ); the hosts that agreed on it are caught and their credit for it reversed',
    });
  });
});

describe('a review copy that came back after its review was settled', () => {
  it('moves no trust either way: credited when it agrees with the shard\'s answer, recorded invalid and uncredited when not', () => {
    expect(judgeUnsettledReviewCopy(null)).toEqual({ outcome: 'valid', reason: 'review copy returned after its review was settled; agrees with the shard\'s answer', credited: true });
    const d = judgeUnsettledReviewCopy('y: 3 of 16 values differ');
    expect(d).toEqual({ outcome: 'invalid', reason: 'review copy returned after its review was settled; differs from the shard\'s answer (y: 3 of 16 values differ); no trust change', credited: false });
    // Nothing here can name a reputation event: the work service applies none.
    expect(Object.keys(d)).not.toContain('reputation');
  });
});

describe('an agreement no uncaught host vouches for (agreementVoid)', () => {
  const v = (at: number, lastCaughtAt: number | null, root = false) => ({ at, lastCaughtAt, root });
  it('is void once every host that agreed on the answer was caught at or after it agreed', () => {
    expect(caughtSince(v(10, 10))).toBe(true);
    expect(caughtSince(v(10, 9))).toBe(false);
    expect(caughtSince(v(10, null))).toBe(false);
    expect(agreementVoid([v(10, 50), v(12, 12)])).toBe(true);
  });
  it('stands while one of them is uncaught since, or was caught only before it agreed (it earned its trust again)', () => {
    expect(agreementVoid([v(10, 50), v(12, null)])).toBe(false);
    expect(agreementVoid([v(10, 50), v(12, 11)])).toBe(false);
  });
  it("never voids the root's word, nor a result that stood alone (backtracking handles those)", () => {
    expect(agreementVoid([v(10, 50), v(12, 60, true)])).toBe(false);
    expect(agreementVoid([v(10, 50)])).toBe(false);
  });
});

describe('the agreements a catch voids (voidTargets)', () => {
  const voucher = (volunteerId: string, at: number, lastCaughtAt: number | null, root = false) => ({ copyId: `${volunteerId}@${at}`, volunteerId, at, lastCaughtAt, root });
  const agreement = (shardId: string, vouchers: Agreement['vouchers']): Agreement => ({ shardId, jobId: 'j', canonicalCopyId: vouchers[0]!.copyId, copyId: vouchers[0]!.copyId, vouchers });
  it('keeps those no uncaught host vouches for, once per shard, in the order read', () => {
    const lie = agreement('s1', [voucher('a', 10, 50), voucher('b', 11, 40)]);
    const honest = agreement('s2', [voucher('a', 20, 50), voucher('h', 21, null)]);
    const redeemed = agreement('s3', [voucher('a', 30, 50), voucher('b', 31, 25)]);
    const rooted = agreement('s4', [voucher('a', 40, 50), voucher('b', 41, 45), voucher('r', 42, null, true)]);
    const lie2 = agreement('s5', [voucher('b', 5, 40), voucher('a', 6, 50)]);
    expect(voidTargets([lie2, lie, honest, redeemed, rooted, { ...lie }]).map((a) => a.shardId)).toEqual(['s5', 's1']);
    expect(voidTargets([])).toEqual([]);
  });
  it('says why in words, naming the host caught last and how', () => {
    expect(voidReason({ volunteerId: 'v1', copyId: 'c1', spot: true })).toBe('void: every host that agreed on this answer has since been caught (the last, host v1, failed a spot check on copy c1); no uncaught host vouches for it, so it is recomputed by others and its credit reversed');
    expect(voidReason({ volunteerId: 'v1', copyId: 'c1', spot: false })).toMatch(/host v1, returned an invalid result on copy c1/);
  });
});
