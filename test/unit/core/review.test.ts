import { describe, expect, it } from 'vitest';
import { makeJob, makeVolunteer } from '../store/contract.ts';
import {
  type AgreedResult, decideReviewCopy, judgeUnsettledReviewCopy, MIN_REVIEW_WINDOW_MS, pickReview, reviewOrder, reviewReason, reviewSince, reviewTargets, settleReview,
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

describe('a review copy that came back after its review was settled', () => {
  it('moves no trust either way: credited when it agrees with the shard\'s answer, recorded invalid and uncredited when not', () => {
    expect(judgeUnsettledReviewCopy(null)).toEqual({ outcome: 'valid', reason: 'review copy returned after its review was settled; agrees with the shard\'s answer', credited: true });
    const d = judgeUnsettledReviewCopy('y: 3 of 16 values differ');
    expect(d).toEqual({ outcome: 'invalid', reason: 'review copy returned after its review was settled; differs from the shard\'s answer (y: 3 of 16 values differ); no trust change', credited: false });
    // Nothing here can name a reputation event: the work service applies none.
    expect(Object.keys(d)).not.toContain('reputation');
  });
});
