/**
 * Reviews in the store (server/core/trust/review.ts decides), run against
 * SQLite and PostgreSQL like contract.ts: a caught host's agreed results,
 * reviews opened once per shard, the root's review copy outside the shard's
 * copy budget, credit held pending past its hold while under review, and a
 * review settled (confirmed, or overturned with its reversals, the
 * agreeing hosts' trust lost and a completed job running again).
 */
import { describe, expect, it } from 'vitest';
import { COORDINATOR_HOST } from '../../../server/core/trust/review.ts';
import type { Claimed, Store } from '../../../server/store/types.ts';
import { bytes, consensus, makeJob, makeProject, makeVolunteer, NO_RULES, type Vol } from './contract.ts';
import { freshStoreEachTest, type StoreHarness } from './harness.ts';

const HOLD = 3600_000;

export function reviewContract(label: string, makeHarness: () => Promise<StoreHarness>) {
  describe(`Review contract: ${label}`, () => {
    let store: Store;
    let vols: Map<number, Vol>;
    /** The same volunteer for the same number within a test; numbers from 100 name a wallet (payouts pay wallets only). */
    const vol = (n: number) => {
      if (!vols.has(n)) vols.set(n, makeVolunteer(n, n >= 100 ? { wallet: `0x${n.toString(16).padStart(40, '0')}` } : {}));
      return vols.get(n)!;
    };

    let harness: StoreHarness;
    freshStoreEachTest(makeHarness, (fresh, opened) => {
      vols = new Map();
      store = opened;
      harness = fresh;
    });

    /** A job of `n` shards; shard i validated by the given volunteers' agreeing copies, credited 2 each, held HOLD. */
    async function validated(n: number, byShard: number[][]) {
      const p = makeProject();
      await store.createProject(p);
      const { job, shards } = makeJob(p.id, { shards: n, replicas: 2, maxTotal: 2 });
      await store.createJob(job, shards);
      const copies: Claimed['copy'][][] = [];
      for (const [i, vs] of byShard.entries()) {
        const cs: Claimed['copy'][] = [];
        for (const v of vs) {
          const c = (await store.issueSpotCopy(shards[i]!.id, vol(v), Date.now()))!.copy;
          expect(await store.saveResult(c.id, c.volunteerId, bytes(i), 1, Date.now(), NO_RULES)).toBe('accepted');
          cs.push(c);
        }
        await store.applyValidation({ ...consensus(shards[i]!, job, cs, 2), holdMs: HOLD });
        copies.push(cs);
      }
      return { p, job, shards, copies };
    }

    const root = async (n: number) => {
      await store.markOperator({ volunteerId: vol(n).id, numericClass: vol(n).numericClass }, Date.now());
      return vol(n);
    };

    it("lists a host's results accepted with others' agreement, saying whether the root agreed already and whether reviewed", async () => {
      const since = Date.now() - 1;
      await root(1);
      const { job, shards, copies } = await validated(4, [[3, 4], [1, 3], [3], [4, 5]]);
      const got = await store.agreedResults(vol(3).id, since);
      expect(got).toEqual([
        { copyId: copies[0]![0]!.id, shardId: shards[0]!.id, jobId: job.id, volunteerId: vol(3).id, at: expect.any(Number), kind: 'inference', rootAgreed: false, reviewed: false },
        { copyId: copies[1]![1]!.id, shardId: shards[1]!.id, jobId: job.id, volunteerId: vol(3).id, at: expect.any(Number), kind: 'inference', rootAgreed: true, reviewed: false },
      ]);
      expect(await store.agreedResults(vol(3).id, Date.now() + 60_000)).toEqual([]);
      await store.startReviews({ targets: [{ shardId: shards[0]!.id, at: 1 }], reason: 'r', now: Date.now() });
      expect((await store.agreedResults(vol(3).id, since)).map((a) => a.reviewed)).toEqual([true, false]);
    });

    it("lists a caught host's agreements newest first, each with every host vouching for it: when it returned its copy, whether it is the root, when it was last caught", async () => {
      await root(1);
      const { job, shards, copies } = await validated(4, [[3, 4], [1, 3], [3], [4, 5]]);
      const caughtAt = Date.now();
      await store.recordReputation([{ volunteerId: vol(4).id, numericClass: vol(4).numericClass, event: 'invalid' }], caughtAt);
      const v = (c: Claimed['copy'], root: boolean, lastCaughtAt: number | null) => ({ copyId: c.id, volunteerId: c.volunteerId, at: expect.any(Number), root, lastCaughtAt });
      const got = await store.agreements(vol(3).id, 10);
      const byCopy = <T extends { copyId: string }>(xs: T[]) => [...xs].sort((x, y) => x.copyId.localeCompare(y.copyId));
      expect(got.map((a) => ({ ...a, vouchers: byCopy(a.vouchers) }))).toEqual([
        { shardId: shards[1]!.id, jobId: job.id, canonicalCopyId: copies[1]![0]!.id, copyId: copies[1]![1]!.id, vouchers: byCopy([v(copies[1]![0]!, true, null), v(copies[1]![1]!, false, null)]) },
        { shardId: shards[0]!.id, jobId: job.id, canonicalCopyId: copies[0]![0]!.id, copyId: copies[0]![0]!.id, vouchers: byCopy([v(copies[0]![0]!, false, null), v(copies[0]![1]!, false, caughtAt)]) },
      ]);
      // A voucher's time is its copy's return.
      const four = got[1]!.vouchers.find((x) => x.volunteerId === vol(4).id)!;
      expect(four.at).toBe((await store.getCopy(copies[0]![1]!.id))!.returnedAt);
      // Bounded: the newest only.
      expect((await store.agreements(vol(3).id, 1)).map((a) => a.shardId)).toEqual([shards[1]!.id]);
      expect(await store.agreements(vol(9).id, 10)).toEqual([]);
    });

    it("voids an agreement no uncaught host vouches for, in one write: re-opened, every agreeing copy invalid with the reason, credit reversed by new rows, its review closed, a completed job running again; a shard whose answer changed, or that someone uncaught vouches for, is left as it is", async () => {
      const { job, shards, copies } = await validated(3, [[3, 4], [3, 4], [3, 5]]);
      await store.finishJob(job.id, 'completed', { finishedAt: Date.now(), resultHash: 'c'.repeat(64) });
      await store.startReviews({ targets: [{ shardId: shards[0]!.id, at: 1 }], reason: 'r', now: Date.now() });
      const reason = 'void: every host that agreed on this answer has since been caught';
      const w = (i: number, canonicalCopyId = copies[i]![0]!.id) => ({ shardId: shards[i]!.id, canonicalCopyId, reason, now: Date.now() });
      // Nobody caught yet: nothing is void, nothing changes.
      expect(await store.voidAgreement(w(0))).toBeNull();
      for (const n of [3, 4]) await store.recordReputation([{ volunteerId: vol(n).id, numericClass: vol(n).numericClass, event: 'invalid' }], Date.now());
      const done = (await store.voidAgreement(w(0)))!;
      const [a, b] = copies[0]!;
      expect({ ...done, copies: [...done.copies].sort((x, y) => x.copyId.localeCompare(y.copyId)), reversed: [...done.reversed].sort((x, y) => x.copyId.localeCompare(y.copyId)) }).toEqual({
        shardId: shards[0]!.id, jobId: job.id, projectId: job.projectId, jobReopened: true, reviewClosed: true,
        copies: [{ copyId: a!.id, volunteerId: a!.volunteerId }, { copyId: b!.id, volunteerId: b!.volunteerId }].sort((x, y) => x.copyId.localeCompare(y.copyId)),
        reversed: [{ copyId: a!.id, account: a!.account, amount: 2 }, { copyId: b!.id, account: b!.account, amount: 2 }].sort((x, y) => x.copyId.localeCompare(y.copyId)),
      });
      expect(await store.getShard(shards[0]!.id)).toMatchObject({ state: 'open', canonicalCopyId: null });
      expect((await store.getShard(shards[0]!.id))!.wanted).toBeGreaterThanOrEqual(2);
      // Its recomputation has a copy budget of its own: the job's whole budget beyond the copies the caught hosts used.
      expect((await store.shardResults(shards[0]!.id))!.shard).toMatchObject({ issued: 2, maxTotal: 2 + job.spec.limits.maxTotalCopies });
      for (const c of [a!, b!]) {
        expect(await store.getCopy(c.id)).toMatchObject({ outcome: 'invalid', reason, credit: 0 });
        expect(await store.ledgerChanges({ account: c.account, limit: 10 })).toMatchObject([{ kind: 'reversal', amount: -2, copyId: c.id, reason }]);
      }
      expect(await store.reviewOf(shards[0]!.id)).toMatchObject({ state: 'closed' });
      expect(await store.getJob(job.id)).toMatchObject({ state: 'running', resultHash: null });
      // Done once: again, nothing (no second reversal).
      expect(await store.voidAgreement(w(0))).toBeNull();
      expect(await store.ledgerChanges({ account: a!.account, limit: 10 })).toHaveLength(1);
      // Recomputed by others, the new answer may be reviewed in its turn (its review was of the voided answer).
      const again = [];
      for (const n of [6, 7]) {
        const c = (await store.issueSpotCopy(shards[0]!.id, vol(n), Date.now()))!.copy;
        expect(await store.saveResult(c.id, c.volunteerId, bytes(9), 1, Date.now(), NO_RULES)).toBe('accepted');
        again.push(c);
      }
      const recomputed = (await store.getShard(shards[0]!.id))!;
      await store.applyValidation({ ...consensus(recomputed, job, again, 2), holdMs: HOLD });
      expect((await store.agreedResults(vol(6).id, 0)).map((x) => [x.shardId, x.reviewed])).toEqual([[shards[0]!.id, false]]);
      expect(await store.startReviews({ targets: [{ shardId: shards[0]!.id, at: 5 }], reason: 'r2', now: Date.now() })).toMatchObject([{ canonicalCopyId: again[0]!.id, state: 'open', reason: 'r2' }]);
      expect(await store.reviewOf(shards[0]!.id)).toMatchObject({ canonicalCopyId: again[0]!.id, state: 'open', reason: 'r2', resultAt: 5, copyId: null });
      expect((await store.agreedResults(vol(6).id, 0)).map((x) => x.reviewed)).toEqual([true]);
      // Its answer is no longer the one read: left as it is.
      expect(await store.voidAgreement(w(1, copies[1]![1]!.id))).toBeNull();
      expect(await store.getShard(shards[1]!.id)).toMatchObject({ state: 'validated', canonicalCopyId: copies[1]![0]!.id });
      expect(await store.getCopy(copies[1]![0]!.id)).toMatchObject({ outcome: 'valid' });
      // Host 5, never caught, still vouches for shard 2's answer: left as it is (checked again in the write, whatever the caller read).
      expect(await store.voidAgreement(w(2))).toBeNull();
      expect(await store.getShard(shards[2]!.id)).toMatchObject({ state: 'validated' });
      expect(await store.getCopy(copies[2]![1]!.id)).toMatchObject({ outcome: 'valid', credit: 2 });
    });

    it('opens a review once per shard, of validated shards only, the answer under review being the canonical copy', async () => {
      const { job, shards, copies } = await validated(4, [[3, 4], [3, 5], [3, 6]]);
      const now = Date.now();
      const t = (i: number, at: number) => ({ shardId: shards[i]?.id ?? 'nope', at });
      const opened = await store.startReviews({ targets: [t(0, 100), t(3, 100), t(0, 101), t(9, 100)], reason: 'under review: x', now });
      expect(opened).toEqual([{ shardId: shards[0]!.id, jobId: job.id, projectId: job.projectId, canonicalCopyId: copies[0]![0]!.id, state: 'open', reason: 'under review: x', openedAt: now, resultAt: 100, copyId: null }]);
      expect(await store.startReviews({ targets: [t(0, 102)], reason: 'again', now: now + 1 })).toEqual([]);
      expect(await store.reviewOf(shards[0]!.id)).toMatchObject({ ...opened[0], copyLive: false });
      expect(await store.reviewOf(shards[1]!.id)).toBeNull();
      await store.startReviews({ targets: [t(1, 50)], reason: 'older answer', now: now + 5 });
      await store.startReviews({ targets: [t(2, 200)], reason: 'newer answer', now: now - 5 });
      expect(await store.reviewCounts()).toEqual({ open: 3, confirmed: 0, overturned: 0, closed: 0 });
      // The newest answers first while hosts never caught vouch for every one of them.
      expect((await store.waitingReviews(10)).map((r) => [r.shardId, r.vouched])).toEqual([[shards[2]!.id, true], [shards[0]!.id, true], [shards[1]!.id, true]]);
      // Caught since they agreed, their word counts no more: an answer a host not caught since vouches for waits behind
      // those only caught hosts vouch for (reviewOrder), however trusted those are again now.
      const caught = (n: number, at: number) => store.recordReputation([{ volunteerId: vol(n).id, numericClass: vol(n).numericClass, event: 'invalid' }], at);
      await caught(6, Date.now() - 3600_000);
      for (const n of [3, 4, 5]) {
        await caught(n, Date.now());
        await store.recordReputation(Array.from({ length: 10 }, () => ({ volunteerId: vol(n).id, numericClass: vol(n).numericClass, event: 'valid' as const })), Date.now());
      }
      // Host 6 was caught only before it agreed (it earned its trust again since): it still vouches.
      expect((await store.waitingReviews(10)).map((r) => [r.shardId, r.vouched])).toEqual([[shards[0]!.id, false], [shards[1]!.id, false], [shards[2]!.id, true]]);
      expect((await store.waitingReviews(1)).map((r) => r.shardId)).toEqual([shards[0]!.id]);
      // An operator's host is the root: its word stands.
      await root(5);
      expect((await store.waitingReviews(10)).map((r) => [r.shardId, r.vouched])).toEqual([[shards[0]!.id, false], [shards[2]!.id, true], [shards[1]!.id, true]]);
    });

    it("keeps the credit of a shard under review pending past its hold, and out of payouts, until the review settles", async () => {
      const { shards, copies } = await validated(2, [[103, 104], [103, 105]]);
      const later = Date.now() + 2 * HOLD;
      const a = vol(103).account;
      expect(await store.accountCredit(a, later)).toMatchObject({ balance: 4, pending: 0, payable: 4, underReview: 0 });
      await store.startReviews({ targets: [{ shardId: shards[0]!.id, at: 1 }], reason: 'r', now: Date.now() });
      expect(await store.accountCredit(a, later)).toMatchObject({ balance: 4, pending: 2, payable: 2, underReview: 2 });
      expect(await store.accountCredit(vol(104).account, later)).toMatchObject({ pending: 2, payable: 0, underReview: 2 });
      let seen: { account: string; payable: number }[] = [];
      await store.closePayout({ id: 'e1', now: later, build: (payable) => { seen = payable; return null; } });
      expect(seen.sort((x, y) => x.account.localeCompare(y.account))).toEqual([{ account: a, payable: 2 }, { account: vol(105).account, payable: 2 }]);
      // Confirmed: the credit is payable again (its hold long passed).
      const r = (await store.issueReviewCopy(shards[0]!.id, await root(1), true, Date.now()))!;
      await store.saveResult(r.copy.id, r.copy.volunteerId, bytes(0), 1, Date.now(), NO_RULES);
      expect(await store.settleReview({ shardId: shards[0]!.id, rootCopyId: r.copy.id, outcome: 'confirmed', reason: 'review confirmed', now: Date.now(), holdMs: HOLD, credit: 2, overturned: [] })).toMatchObject({ review: { state: 'confirmed' }, reversed: [], reputations: [], jobReopened: false });
      expect(await store.accountCredit(a, later)).toMatchObject({ balance: 4, pending: 0, payable: 4, underReview: 0 });
      expect(await store.getCopy(r.copy.id)).toMatchObject({ outcome: 'valid', credit: 2, reason: 'review confirmed' });
      expect(await store.getShard(shards[0]!.id)).toMatchObject({ state: 'validated', canonicalCopyId: copies[0]![0]!.id });
    });

    it("issues a review copy to a root host only, one live at a time, outside the shard's copy budget", async () => {
      const { shards } = await validated(1, [[3, 4]]);
      await store.startReviews({ targets: [{ shardId: shards[0]!.id, at: 1 }], reason: 'r', now: Date.now() });
      const before = (await store.getShard(shards[0]!.id))!;
      expect(before.issued).toBe(2);
      expect(await store.issueReviewCopy(shards[0]!.id, vol(6), false, 1000)).toBeNull();
      // A root host that computed the shard itself checks nothing.
      expect(await store.issueReviewCopy(shards[0]!.id, await root(3), true, 1000)).toBeNull();
      const got = (await store.issueReviewCopy(shards[0]!.id, await root(1), true, 1000))!;
      expect(got.copy).toMatchObject({ shardId: shards[0]!.id, volunteerId: vol(1).id, state: 'assigned', outcome: 'pending', assignedAt: 1000 });
      // `review` is server-side only (the assignment is built from named fields), and reads back as issued.
      expect(Object.keys(got.copy).sort()).toEqual(['account', 'address', 'assignedAt', 'credit', 'deadline', 'id', 'jobId', 'numericClass', 'outcome', 'reason', 'returnedAt', 'review', 'shardId', 'state', 'volunteerId', 'wallet']);
      expect(await store.getCopy(got.copy.id)).toMatchObject({ review: true });
      expect(await store.reviewOf(shards[0]!.id)).toMatchObject({ copyId: got.copy.id, copyLive: true });
      expect(await store.issueReviewCopy(shards[0]!.id, await root(2), true, 1001)).toBeNull();
      expect((await store.getShard(shards[0]!.id))!.issued).toBe(2);
      // The root copy ends without a result: another root host may take the review.
      expect(await store.failCopy(got.copy.id, vol(1).id, 'closed', Date.now(), NO_RULES)).toBe(true);
      expect(await store.reviewOf(shards[0]!.id)).toMatchObject({ copyId: got.copy.id, copyLive: false });
      expect((await store.issueReviewCopy(shards[0]!.id, vol(2), true, 1002))!.copy.volunteerId).toBe(vol(2).id);
      expect(await store.issueReviewCopy('no-such-shard', vol(2), true, 1002)).toBeNull();
    });

    it("overturns: the root's result is the output, the agreeing copies invalid, their credit reversed by new rows, their hosts' streaks reset, a completed job runs again", async () => {
      for (const n of [3, 4]) {
        await store.recordReputation(Array.from({ length: 20 }, () => ({ volunteerId: vol(n).id, numericClass: vol(n).numericClass, event: 'valid' as const })), Date.now());
      }
      const { job, shards, copies } = await validated(2, [[3, 4], [3, 5]]);
      await store.finishJob(job.id, 'completed', { finishedAt: Date.now(), resultHash: 'c'.repeat(64) });
      await store.startReviews({ targets: [{ shardId: shards[0]!.id, at: 1 }], reason: 'r', now: Date.now() });
      const r = (await store.issueReviewCopy(shards[0]!.id, await root(1), true, Date.now()))!;
      await store.saveResult(r.copy.id, r.copy.volunteerId, bytes(42), 1, Date.now(), NO_RULES);
      const reason = 'overturned: the operator\'s own host computed a different answer';
      const [liar, friend] = copies[0]!;
      const write = { shardId: shards[0]!.id, rootCopyId: r.copy.id, outcome: 'overturned' as const, reason, now: Date.now(), holdMs: HOLD, credit: 2, overturned: [liar!.id, friend!.id] };
      // Not the review's root copy: refused, nothing changes.
      expect(await store.settleReview({ ...write, rootCopyId: liar!.id })).toBeNull();
      const done = (await store.settleReview(write))!;
      expect(done.review).toMatchObject({ shardId: shards[0]!.id, state: 'overturned' });
      expect(done.jobReopened).toBe(true);
      expect(done.reversed.sort((a, b) => a.copyId.localeCompare(b.copyId))).toEqual(
        [{ copyId: liar!.id, account: liar!.account, amount: 2 }, { copyId: friend!.id, account: friend!.account, amount: 2 }].sort((a, b) => a.copyId.localeCompare(b.copyId)));
      expect(done.reputations.map((m) => [m.after.volunteerId, m.before?.streak, m.after.streak]).sort()).toEqual([[vol(3).id, 20, 0], [vol(4).id, 20, 0]].sort());
      expect(await store.getShard(shards[0]!.id)).toMatchObject({ state: 'validated', canonicalCopyId: r.copy.id });
      expect(await store.getCopy(liar!.id)).toMatchObject({ outcome: 'invalid', reason, credit: 0 });
      expect(await store.getCopy(r.copy.id)).toMatchObject({ outcome: 'valid', credit: 2 });
      expect(await store.getJob(job.id)).toMatchObject({ state: 'running', resultHash: null });
      expect(await store.ledgerChanges({ account: liar!.account, limit: 10 })).toMatchObject([{ kind: 'reversal', amount: -2, copyId: liar!.id, reason }]);
      // The host's other shard is untouched; the canonical results now read the root's.
      expect(await store.getCopy(copies[1]![0]!.id)).toMatchObject({ outcome: 'valid' });
      expect((await store.canonicalResults(job.id)).map((b) => [...b])).toEqual([[42], [1]]);
      expect(await store.reviewCounts()).toEqual({ open: 0, confirmed: 0, overturned: 1, closed: 0 });
      // Settled once: again, nothing.
      expect(await store.settleReview(write)).toBeNull();
      expect(await store.ledgerChanges({ account: liar!.account, limit: 10 })).toHaveLength(1);
    });

    it("settles with the coordinator's own result in one write: kept as the coordinator's copy, never credited, the output once overturned (read by a restarted coordinator too); refused, it writes nothing", async () => {
      const since = Date.now() - 1;
      const { job, shards, copies } = await validated(3, [[3, 4], [3, 5], [3, 6]]);
      await store.finishJob(job.id, 'completed', { finishedAt: Date.now(), resultHash: 'c'.repeat(64) });
      await store.startReviews({ targets: shards.map((sh) => ({ shardId: sh.id, at: 1 })), reason: 'r', now: Date.now() });
      // Large enough that SQLite keeps it in a file beside the database, as it does a volunteer's large result.
      const big = new Uint8Array(100_000).fill(42);
      const own = { encoded: big, computeMs: 7, numericClass: 'wasm/ort-test' };
      const reason = 'overturned: the coordinator\'s own computation computed a different answer';
      const [liar, friend] = copies[0]!;
      const write = { shardId: shards[0]!.id, rootCopyId: 'own-0', outcome: 'overturned' as const, reason, now: Date.now(), holdMs: HOLD, credit: 2, overturned: [liar!.id, friend!.id], own };
      const done = (await store.settleReview(write))!;
      expect(done.review).toMatchObject({ shardId: shards[0]!.id, state: 'overturned' });
      expect(done.jobReopened).toBe(true);
      expect(done.reversed.map((r) => r.copyId).sort()).toEqual([liar!.id, friend!.id].sort());
      expect(await store.getCopy('own-0')).toMatchObject({
        shardId: shards[0]!.id, jobId: job.id, volunteerId: COORDINATOR_HOST.volunteerId, account: COORDINATOR_HOST.account, wallet: null,
        numericClass: 'wasm/ort-test', state: 'returned', outcome: 'valid', credit: 0, reason, review: true,
      });
      // Never credited, whatever credit the write names: no ledger row, no balance, no leaderboard place.
      expect(await store.countCreditsForCopy('own-0')).toBe(0);
      expect(await store.balance(COORDINATOR_HOST.account)).toBe(0);
      expect((await store.topAccounts(10)).map((a) => a.account)).not.toContain(COORDINATOR_HOST.account);
      expect(await store.getShard(shards[0]!.id)).toMatchObject({ state: 'validated', canonicalCopyId: 'own-0' });
      expect(await store.getCopy(liar!.id)).toMatchObject({ outcome: 'invalid', reason, credit: 0 });
      // The output reads the coordinator's result, from another connection too (a restarted coordinator).
      const again = await harness.open();
      expect((await again.canonicalResults(job.id)).map((b) => b.byteLength)).toEqual([100_000, 1, 1]);
      expect([...(await again.canonicalResults(job.id))[0]!.subarray(0, 3)]).toEqual([42, 42, 42]);
      // Settled once: another computation of the same review writes nothing.
      expect(await store.settleReview({ ...write, rootCopyId: 'own-0b' })).toBeNull();
      expect(await store.getCopy('own-0b')).toBeNull();
      // Confirmed: nothing reversed, nobody's trust moved, the answer stands.
      const confirmed = await store.settleReview({ shardId: shards[1]!.id, rootCopyId: 'own-1', outcome: 'confirmed', reason: 'review confirmed', now: Date.now(), holdMs: HOLD, credit: 2, overturned: [], own: { ...own, encoded: bytes(1) } });
      expect(confirmed).toMatchObject({ review: { state: 'confirmed' }, reversed: [], reputations: [], jobReopened: false });
      expect(await store.getCopy('own-1')).toMatchObject({ outcome: 'valid', credit: 0, volunteerId: COORDINATOR_HOST.volunteerId });
      expect(await store.getShard(shards[1]!.id)).toMatchObject({ canonicalCopyId: copies[1]![0]!.id });
      // A review closed with its job (cancelled) is settled by nothing: no copy written.
      expect(await store.finishJob(job.id, 'cancelled', { finishedAt: Date.now() })).toBe(true);
      expect(await store.settleReview({ shardId: shards[2]!.id, rootCopyId: 'own-2', outcome: 'confirmed', reason: 'review confirmed', now: Date.now(), holdMs: HOLD, credit: 0, overturned: [], own: { ...own, encoded: bytes(2) } })).toBeNull();
      expect(await store.getCopy('own-2')).toBeNull();
      expect(await store.reviewCounts()).toEqual({ open: 0, confirmed: 1, overturned: 1, closed: 1 });
      // Never a solo result to backtrack: the coordinator's answer is the shard's ground truth.
      expect(await store.soloResults(COORDINATOR_HOST.volunteerId, since)).toEqual([]);
    });

    it("never lists a root's review result as a solo result: backtracking does not re-open the ground truth to volunteers", async () => {
      const since = Date.now() - 1;
      const { shards, copies } = await validated(2, [[3, 4], [3, 5]]);
      await store.startReviews({ targets: [{ shardId: shards[0]!.id, at: 1 }, { shardId: shards[1]!.id, at: 1 }], reason: 'r', now: Date.now() });
      const rt = await root(1);
      const settle = async (i: number, outcome: 'confirmed' | 'overturned', overturned: string[]) => {
        const r = (await store.issueReviewCopy(shards[i]!.id, rt, true, Date.now()))!;
        await store.saveResult(r.copy.id, r.copy.volunteerId, bytes(42 + i), 1, Date.now(), NO_RULES);
        expect(await store.settleReview({ shardId: shards[i]!.id, rootCopyId: r.copy.id, outcome, reason: outcome, now: Date.now(), holdMs: HOLD, credit: 2, overturned })).not.toBeNull();
        return r.copy;
      };
      // Overturned: the root's copy is the only valid one of its shard, and its canonical copy.
      const over = await settle(0, 'overturned', copies[0]!.map((c) => c.id));
      expect(await store.getShard(shards[0]!.id)).toMatchObject({ canonicalCopyId: over.id });
      expect(await store.getCopy(over.id)).toMatchObject({ outcome: 'valid' });
      // Confirmed: it agreed with others.
      await settle(1, 'confirmed', []);
      expect(await store.soloResults(vol(1).id, since)).toEqual([]);
    });

    it('closes the open reviews of a job that fails or is cancelled, so their credit follows the normal hold; a completed job keeps them', async () => {
      const later = Date.now() + 2 * HOLD;
      const ended = await validated(1, [[103, 104]]);
      const done = await validated(1, [[105, 106]]);
      await store.startReviews({ targets: [{ shardId: ended.shards[0]!.id, at: 1 }, { shardId: done.shards[0]!.id, at: 1 }], reason: 'r', now: Date.now() });
      expect(await store.accountCredit(vol(103).account, later)).toMatchObject({ pending: 2, payable: 0, underReview: 2 });
      expect(await store.finishJob(ended.job.id, 'cancelled', { finishedAt: Date.now() })).toBe(true);
      expect(await store.finishJob(done.job.id, 'completed', { finishedAt: Date.now(), resultHash: 'c'.repeat(64) })).toBe(true);
      expect(await store.reviewOf(ended.shards[0]!.id)).toMatchObject({ state: 'closed' });
      expect(await store.reviewOf(done.shards[0]!.id)).toMatchObject({ state: 'open' });
      // Closed on the same answer, it is not opened again: each answer is reviewed once.
      expect(await store.startReviews({ targets: [{ shardId: ended.shards[0]!.id, at: 2 }], reason: 'again', now: Date.now() })).toEqual([]);
      expect((await store.agreedResults(vol(103).id, 0)).map((x) => x.reviewed)).toEqual([true]);
      expect(await store.reviewCounts()).toEqual({ open: 1, confirmed: 0, overturned: 0, closed: 1 });
      // Its credit is payable once its hold has passed, as any other; the completed job's stays under review.
      expect(await store.accountCredit(vol(103).account, later)).toMatchObject({ pending: 0, payable: 2, underReview: 0 });
      expect(await store.accountCredit(vol(105).account, later)).toMatchObject({ pending: 2, payable: 0, underReview: 2 });
      // No root copy is issued for it, and it waits for none.
      expect((await store.waitingReviews(10)).map((r) => r.shardId)).toEqual([done.shards[0]!.id]);
      expect(await store.issueReviewCopy(ended.shards[0]!.id, await root(1), true, Date.now())).toBeNull();
    });

    it('is settled by any root copy of the review: an expired one\'s late result too, then the later copy settles nothing', async () => {
      const { shards } = await validated(1, [[3, 4]]);
      await store.startReviews({ targets: [{ shardId: shards[0]!.id, at: 1 }], reason: 'r', now: Date.now() });
      const first = (await store.issueReviewCopy(shards[0]!.id, await root(1), true, Date.now()))!.copy;
      await store.expireCopies(first.deadline + 1, NO_RULES);
      const second = (await store.issueReviewCopy(shards[0]!.id, await root(2), true, Date.now()))!.copy;
      expect(await store.saveResult(first.id, first.volunteerId, bytes(0), 1, Date.now(), NO_RULES)).toBe('accepted');
      const write = { shardId: shards[0]!.id, outcome: 'confirmed' as const, reason: 'confirmed', now: Date.now(), holdMs: HOLD, credit: 2, overturned: [] };
      expect(await store.settleReview({ ...write, rootCopyId: first.id })).toMatchObject({ review: { state: 'confirmed' } });
      expect(await store.saveResult(second.id, second.volunteerId, bytes(0), 1, Date.now(), NO_RULES)).toBe('accepted');
      expect(await store.settleReview({ ...write, rootCopyId: second.id })).toBeNull();
      expect(await store.getCopy(second.id)).toMatchObject({ outcome: 'pending', credit: 0 });
    });
  });
}
