/**
 * Reviews in the coordinator (the decisions are server/core/trust/review.ts):
 *  - once a host is caught (a failed spot check, any invalid result, or an
 *    overturned review), the results it had accepted with others' agreement
 *    within the credit hold go under review; their credit stays pending;
 *  - review copies go only to the root of trust: the operator's own hosts
 *    (`worker --operator-token`), one live copy per review, looking like any
 *    copy;
 *  - the coordinator is a root of trust too: its answer runner (one worker
 *    thread, bounded) settles, one at a time and only while the runner is
 *    idle (spot checks' known answers come first), the open reviews no root
 *    copy is under way for (`serve --own-reviews on`, the default); its
 *    result is kept as a copy of the coordinator's own, written with the
 *    settlement in one transaction, never credited;
 *  - the root's result settles the review: confirmed, or overturned (the
 *    root's result becomes the output, a completed job's outputs are
 *    assembled again, every host that agreed on the overturned answer is
 *    caught, its credit reversed by new ledger rows, and its own agreed
 *    results go under review in turn).
 */
import type { Logger } from 'pino';
import type { Assignment } from '../../shared/protocol/events.ts';
import { decodeTensors } from '../../shared/tensor/codec.ts';
import type { BlobStore } from '../blobs/blob-store.ts';
import { copyCredit } from '../core/credit/credit.ts';
import { kindOf } from '../core/jobs/kinds.ts';
import type { Copy } from '../core/jobs/types.ts';
import { decideOwnReview, pickOwnReview, reviewReason, reviewSince, reviewTargets, type Settlement, settleReview } from '../core/trust/review.ts';
import { AnswerBusy, type AnswerRunner } from '../models/answer-runner.ts';
import { newId } from '../store/ids.ts';
import type { Claimed, ReviewRow, ReviewSettled, ShardResults, Store, Volunteer } from '../store/types.ts';
import type { ReputationMove } from '../store/reputation-rows.ts';
import type { CoordinatorEvents } from './events.ts';
import type { KindWorks } from './kinds.ts';

/** Open reviews a root host's request looks through for one it may take. */
const WAITING_READ = 32;
/**
 * Reviews the coordinator remembers passing over; past this many it forgets them and looks at each once more
 * (a homogeneous job's review of another class is passed over again at the cost of a read).
 */
const PASSED_MAX = 1024;

export interface ReviewHooks {
  /** The overturned hosts lost trust: logged, counted, dispatched as such (WorkService.trustMoved and refreshTrust). */
  trustMoved(moves: readonly ReputationMove[], volunteerIds: readonly string[]): Promise<void>;
  /** A host was caught by an overturned review: its solo results are backtracked and its agreed results reviewed in turn. */
  caught(volunteerId: string, copyId: string): void;
}

/** The coordinator's own computation (`--own-reviews on`): set by the work service. */
export interface OwnReviewRunner {
  runner: AnswerRunner;
  blobs: BlobStore;
  /** The class of its results (spot-checks.ts OWN_CLASS). */
  numericClass: string;
  /** Runs `fn` under the shard's validation lock (WorkService), so a settlement never races a judgement of the shard. */
  underShardLock<T>(shardId: string, fn: () => Promise<T>): Promise<T>;
}

export class Reviews {
  hooks: ReviewHooks | null = null;
  /** The coordinator's own computation settling reviews; null: only the operator's hosts do (`--own-reviews off`). */
  own: OwnReviewRunner | null = null;
  /** The coordinator is choosing or computing a review now (one at a time). */
  private ownBusy = false;
  /** The shard whose review the coordinator is computing now (a root host is not sent it meanwhile). */
  private ownComputing: string | null = null;
  /** Reviews the coordinator leaves to the operator's hosts for good (decideOwnReview, or its computation failed). */
  private readonly passed = new Set<string>();

  constructor(
    private readonly store: Store,
    private readonly kinds: KindWorks,
    private readonly events: CoordinatorEvents,
    private readonly settings: { holdMs: number },
    private readonly log: Logger,
  ) {}

  /** `caught` was found wrong on `copyId`: what it agreed on within the hold goes under review. */
  async open(caught: { volunteerId: string; copyId: string; spot: boolean }, now: number): Promise<number> {
    const agreed = await this.store.agreedResults(caught.volunteerId, reviewSince({ now, holdMs: this.settings.holdMs }));
    const targets = reviewTargets(agreed, caught, { now, holdMs: this.settings.holdMs });
    if (targets.length === 0) return 0;
    const reason = reviewReason(caught);
    const opened = await this.store.startReviews({ targets: targets.map((t) => ({ shardId: t.shardId, at: t.at })), reason, now });
    if (opened.length === 0) return 0;
    this.log.warn({
      volunteer: caught.volunteerId, caughtOn: caught.copyId, spot: caught.spot, shards: opened.map((r) => r.shardId),
      jobs: [...new Set(opened.map((r) => r.jobId))], reason,
    }, 'review opened: the caught host\'s results accepted on agreement wait for the root of trust (the coordinator\'s own computation, or an operator\'s host) to recompute them; their credit stays pending until then');
    this.events.emit('trust', { kind: 'review', event: 'opened', count: opened.length });
    return opened.length;
  }

  /** A root host asks for work: a copy of the oldest open review it may take, or null. */
  async maybeIssue(v: Volunteer, root: boolean, projectId: string | undefined, now: number): Promise<Claimed | null> {
    if (!root) return null;
    const waiting = (await this.store.waitingReviews(WAITING_READ))
      .filter((r) => (r.copyId === null || !r.copyLive) && r.shardId !== this.ownComputing && (!projectId || r.projectId === projectId));
    // In reviewOrder (the store's order). The store refuses a shard the host already held a copy of, or of another class
    // on a homogeneous job: a few tries.
    for (const r of waiting.slice(0, 4)) {
      const claimed = await this.store.issueReviewCopy(r.shardId, v, root, now);
      if (!claimed) continue;
      this.log.info({ copy: claimed.copy.id, shard: r.shardId, job: r.jobId, volunteer: v.id, openedAt: r.openedAt }, 'review copy issued to the operator\'s own host');
      this.events.emit('trust', { kind: 'review', event: 'issued', count: 1 });
      return claimed;
    }
    return null;
  }

  /**
   * The root copy of an open review came back: settle it. The caller holds the shard's lock and has
   * read `sr`; returns whether it settled (the caller reads the shard again).
   */
  async settle(sr: ShardResults, review: ReviewRow, root: Copy): Promise<boolean> {
    const { job, shard } = sr;
    const spec = job.spec;
    const results = await sr.results([review.canonicalCopyId, root.id]);
    const answer = results.get(review.canonicalCopyId);
    const mine = results.get(root.id);
    if (!answer || !mine) {
      this.log.error({ shard: shard.id, job: job.id, copy: root.id }, 'review could not be settled: a result is no longer kept');
      return false;
    }
    const differ = kindOf(spec).disagreement(spec, decodeTensors(answer), decodeTensors(mine));
    const agreeing = sr.copies.filter((c) => c.outcome === 'valid').map((c) => ({ copyId: c.id, volunteerId: c.volunteerId }));
    const s = settleReview(review, { copyId: root.id }, agreeing, differ);
    const now = Date.now();
    const credit = copyCredit(spec.creditPerRecord, shard.end - shard.start);
    const done = await this.store.settleReview({
      shardId: shard.id, rootCopyId: root.id, outcome: s.outcome, reason: s.reason, now, holdMs: this.settings.holdMs, credit,
      overturned: s.outcome === 'overturned' ? s.overturned.map((o) => o.copyId) : [],
    });
    if (!done) return false;
    this.events.emit('outcome', root.volunteerId, { copyId: root.id, jobId: job.id, outcome: 'valid', credit, reason: s.reason });
    this.events.emit('credited', root.account);
    this.events.emit('trust', { kind: 'review', event: s.outcome, count: 1, by: 'root' });
    if (s.outcome === 'confirmed') {
      this.log.info({ shard: shard.id, job: job.id, index: shard.index, rootCopy: root.id, root: root.volunteerId, hosts: agreeing.map((a) => a.volunteerId) }, 'review confirmed: the operator\'s own host agrees with the accepted answer; its credit is payable once its hold has passed');
      return true;
    }
    this.log.warn({
      shard: shard.id, job: job.id, index: shard.index, rootCopy: root.id, root: root.volunteerId, hosts: s.overturned.map((o) => o.volunteerId), reason: s.reason,
      creditReversed: done.reversed.reduce((n, r) => n + r.amount, 0), jobReopened: done.jobReopened,
    }, 'review overturned: the operator\'s own host computed another answer; it is the output now, and every host that agreed on the old one is caught');
    await this.overturned(sr, s, done);
    return true;
  }

  /** What follows an overturn, whoever settled it: the overturned hosts told and caught (the cascade), the job run again. */
  private async overturned(sr: ShardResults, s: Extract<Settlement, { outcome: 'overturned' }>, done: ReviewSettled): Promise<void> {
    const { job } = sr;
    this.events.emit('trust', { kind: 'reversed', credit: done.reversed.reduce((n, r) => n + r.amount, 0) });
    for (const o of s.overturned) this.events.emit('outcome', o.volunteerId, { copyId: o.copyId, jobId: job.id, outcome: 'invalid', credit: 0, reason: s.reason });
    for (const a of new Set(done.reversed.map((r) => r.account))) this.events.emit('credited', a);
    await this.hooks?.trustMoved(done.reputations, s.overturned.map((o) => o.volunteerId));
    // The cascade: each overturned host's own solo and agreed results are re-verified in turn.
    for (const o of s.overturned) this.hooks?.caught(o.volunteerId, o.copyId);
    // A job that had completed runs again: its outputs are assembled again with the root's result.
    if (done.jobReopened || job.state === 'running') await this.kinds[job.kind].progress(job.id);
    this.events.emit('job', job.id, job.projectId);
  }

  /**
   * The coordinator's own computation settles the next open review (reviewOrder) that no root copy is under way
   * for, if any: the reconciler calls it every tick. One at a time, and only while the answer runner is idle, so a
   * spot check's known answer waits behind one review shard at most. A review it may not settle (decideOwnReview),
   * or whose computation failed, is left to the operator's hosts.
   */
  async settleOwnNext(): Promise<void> {
    const own = this.own;
    if (!own || this.ownBusy || own.runner.closed || own.runner.load > 0) return;
    this.ownBusy = true;
    try {
      if (this.passed.size > PASSED_MAX) this.passed.clear();
      // Read past the reviews passed over, so those at the head of the order never hide the rest.
      const waiting = await this.store.waitingReviews(WAITING_READ + this.passed.size);
      const looked = new Set(this.passed);
      for (let r = pickOwnReview(waiting, looked); r; r = pickOwnReview(waiting, looked)) {
        looked.add(r.shardId);
        const [job, shard, answer] = await Promise.all([this.store.getJob(r.jobId), this.store.getShard(r.shardId), this.store.getCopy(r.canonicalCopyId)]);
        const d = decideOwnReview({ review: r, copyLive: r.copyId !== null && r.copyLive, shard, job, answerClass: answer?.numericClass ?? '', ownClass: own.numericClass });
        if (!d.compute || !job || !shard) {
          if (!d.compute && !d.later) {
            this.passed.add(r.shardId);
            this.log.info({ shard: r.shardId, job: r.jobId, why: d.why }, 'review left to the operator\'s own hosts: the coordinator\'s own computation does not settle it');
          }
          continue;
        }
        this.ownComputing = r.shardId;
        const assignment: Assignment = {
          copyId: 'coordinator', jobId: job.id, projectId: job.projectId, kind: job.kind,
          model: { hash: job.spec.modelHash, url: '', bytes: job.spec.modelBytes },
          outputs: job.spec.outputs.map((o) => o.name), ackWithinMs: 0, leaseMs: 0,
          ...(await this.kinds[job.kind].payload(job, shard)),
        };
        let computed: { encoded: Uint8Array; computeMs: number };
        try {
          computed = await own.runner.compute(assignment, { [job.spec.modelHash]: own.blobs.path(job.spec.modelHash) });
        } catch (err) {
          // Busy: a spot check's computation came first; the next tick tries again. Closed: the coordinator is stopping.
          if (err instanceof AnswerBusy || own.runner.closed) return;
          this.passed.add(r.shardId);
          this.log.warn({ err, shard: r.shardId, job: job.id }, 'the coordinator could not compute a review\'s shard; the review is left to the operator\'s own hosts');
          return;
        }
        await own.underShardLock(r.shardId, () => this.settleOwn(r.shardId, computed.encoded, computed.computeMs));
        return;
      }
    } catch (err) {
      this.log.warn({ err }, 'could not settle a review with the coordinator\'s own computation; it tries again');
    } finally {
      this.ownComputing = null;
      this.ownBusy = false;
    }
  }

  /** The coordinator's own result for a shard under review: settles it as a root copy would. The caller holds the shard's lock. */
  private async settleOwn(shardId: string, encoded: Uint8Array, computeMs: number): Promise<void> {
    const [sr, review] = await Promise.all([this.store.shardResults(shardId), this.store.reviewOf(shardId)]);
    // Settled meanwhile (a root host's copy, another coordinator), or closed with its job: nothing to do.
    if (!sr || review?.state !== 'open' || sr.shard.canonicalCopyId !== review.canonicalCopyId) return;
    const { job, shard } = sr;
    const spec = job.spec;
    const answer = (await sr.results([review.canonicalCopyId])).get(review.canonicalCopyId);
    if (!answer) {
      this.log.error({ shard: shard.id, job: job.id, copy: review.canonicalCopyId }, 'review could not be settled: the answer under review is no longer kept');
      return;
    }
    const differ = kindOf(spec).disagreement(spec, decodeTensors(answer), decodeTensors(encoded));
    const agreeing = sr.copies.filter((c) => c.outcome === 'valid').map((c) => ({ copyId: c.id, volunteerId: c.volunteerId }));
    const copyId = newId();
    const s = settleReview(review, { copyId }, agreeing, differ, 'coordinator');
    const done = await this.store.settleReview({
      shardId, rootCopyId: copyId, outcome: s.outcome, reason: s.reason, now: Date.now(), holdMs: this.settings.holdMs, credit: 0,
      overturned: s.outcome === 'overturned' ? s.overturned.map((o) => o.copyId) : [], own: { encoded, computeMs, numericClass: this.own!.numericClass },
    });
    if (!done) return;
    this.events.emit('trust', { kind: 'review', event: s.outcome, count: 1, by: 'coordinator' });
    const what = { shard: shardId, job: job.id, index: shard.index, outcome: s.outcome, computeMs: Math.round(computeMs), copy: copyId };
    if (s.outcome === 'confirmed') {
      this.log.info({ ...what, hosts: agreeing.map((a) => a.volunteerId) }, 'review settled by the coordinator\'s own computation');
      return;
    }
    this.log.warn({
      ...what, hosts: s.overturned.map((o) => o.volunteerId), reason: s.reason,
      creditReversed: done.reversed.reduce((n, r) => n + r.amount, 0), jobReopened: done.jobReopened,
    }, 'review settled by the coordinator\'s own computation');
    await this.overturned(sr, s, done);
  }
}
