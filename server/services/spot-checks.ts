/**
 * Spot checks and backtracking in the coordinator (Sarmenta 2002; the
 * decisions are server/core/trust/spot-check.ts):
 *  - a fraction of work requests get a copy of a shard whose answer is
 *    known, issued as any copy is (same assignment, same opaque copy id);
 *  - known answers come from validated shards whose agreeing results
 *    include an operator host's (answerKnown), and, while none exists,
 *    from the coordinator's own computation of a shard (one worker
 *    thread, the --node executor, a queue cap and a time limit);
 *  - a copy that disagrees with the coordinator's own answer is invalid at
 *    once (a failed spot check); one that agrees goes on to the quorum;
 *  - a host found wrong (a failed check, or any invalid result) has every
 *    result it had accepted on its word alone re-opened: recomputed by
 *    others, its credit reversed by new ledger rows, a completed job run
 *    again so its outputs are corrected; what it had accepted with others'
 *    agreement is void when no uncaught host vouches for it any more
 *    (void-agreements.ts: re-opened the same way), and goes under review
 *    otherwise (reviews.ts).
 */
import type { Logger } from 'pino';
import type { Assignment } from '../../shared/protocol/events.ts';
import { decodeTensors } from '../../shared/tensor/codec.ts';
import type { BlobStore } from '../blobs/blob-store.ts';
import { kindOf } from '../core/jobs/kinds.ts';
import type { InferenceSpec, Job, Shard } from '../core/jobs/types.ts';
import type { Draw } from '../core/scheduler/random.ts';
import { backtrackPlan, judgeAgainstKnown, type KnownAnswer, pairedKnownAnswer, type PendingPair, pickKnownAnswer, spotCheckNow } from '../core/trust/spot-check.ts';
import { AnswerBusy, type AnswerRunner } from '../models/answer-runner.ts';
import { ort } from '../models/ort-node.ts';
import type { Claimed, CopyJudgement, ShardResults, Store, Volunteer } from '../store/types.ts';
import type { CoordinatorEvents } from './events.ts';
import type { KindWorks } from './kinds.ts';
import type { Reviews } from './reviews.ts';
import { voidAgreements } from './void-agreements.ts';

export interface SpotCheckSettings {
  /** Fraction of work requests answered with a known-answer copy (0: none, and no answers computed). */
  fraction: number;
  /** How long a known answer's first copy waits for a second host (spot-check.ts pairedKnownAnswer; 0: no pairs). */
  pairWaitMs: number;
}

/** How long the pool of validated known answers is reused before it is read again. */
export const POOL_TTL_MS = 5_000;
const POOL_SIZE = 256;
/** The coordinator's own answers kept (one per running inference job at most). */
const MAX_OWN_ANSWERS = 64;

interface OwnAnswer extends KnownAnswer {
  encoded: Uint8Array;
  /** The coordinator's numeric class (WASM, its onnxruntime-web): a homogeneous job's copies of another class are not judged by it. */
  numericClass: string;
}

/** The class the coordinator's own computations are of, as a --node volunteer's (work-service.ts numericClass). */
export const OWN_CLASS = `wasm/ort-${ort.env.versions.web ?? 'unknown'}`;

export class SpotChecks {
  private pool: KnownAnswer[] = [];
  private poolAt = -Infinity;
  private readonly own = new Map<string, OwnAnswer>();
  /** Jobs whose answer is being computed. */
  private readonly computing = new Set<string>();
  /** A known answer's first copy waiting for a second host (spot-check.ts PendingPair). */
  private pending: PendingPair | null = null;
  /** Backtracking runs one host at a time, outside any shard's lock (it takes the targets' locks). */
  private backtracks: Promise<void> = Promise.resolve();

  constructor(
    private readonly store: Store,
    private readonly blobs: BlobStore,
    private readonly kinds: KindWorks,
    private readonly events: CoordinatorEvents,
    private readonly settings: SpotCheckSettings,
    private readonly draw: Draw,
    private readonly runner: AnswerRunner | null,
    /** Runs `fn` under the shard's validation lock (WorkService), so a re-opening never races a judgement. */
    private readonly underShardLock: <T>(shardId: string, fn: () => Promise<T>) => Promise<T>,
    private readonly log: Logger,
  ) {}

  /**
   * The answers the coordinator computed before a restart (kept in the store): a copy issued against one
   * before the restart is still checked against it after, and the first spot checks need no new computation.
   * Called once at start, before stored results are judged.
   */
  async restore(): Promise<void> {
    const kept = await this.store.ownAnswers(MAX_OWN_ANSWERS);
    for (const a of kept) this.own.set(a.shardId, { ...a, source: 'coordinator' });
    if (kept.length) this.log.info({ answers: kept.length, jobs: new Set(kept.map((a) => a.jobId)).size }, 'known answers kept from before the restart: spot checks use them');
  }

  /** Whether the coordinator computed this shard's answer itself (so its copies are checked against it). */
  hasOwnAnswer(shardId: string): boolean {
    return this.own.has(shardId);
  }

  /**
   * Before the claim path: with probability `fraction`, a copy of a shard
   * whose answer is known. Null: the request goes on to an ordinary claim.
   */
  async maybeIssue(v: Volunteer, projectId: string | undefined, now: number): Promise<Claimed | null> {
    if (this.settings.fraction <= 0) return null;
    const draw = this.draw();
    if (draw >= this.settings.fraction) return null;
    const pool = await this.knownPool(now);
    if (!spotCheckNow({ spotCheckFraction: this.settings.fraction }, draw, pool.length)) {
      void this.computeAnswer();
      return null;
    }
    // The waiting pair's second copy first: two hosts holding one known shard, as a replicated shard's copies.
    const paired = pairedKnownAnswer(this.pending, v.id, now, this.settings.pairWaitMs);
    if (paired && (!projectId || paired.projectId === projectId)) {
      const claimed = await this.store.issueSpotCopy(paired.shardId, v, now);
      if (claimed) {
        this.pending = null;
        this.log.debug({ copy: claimed.copy.id, shard: paired.shardId, job: paired.jobId, volunteer: v.id, answer: paired.source, pair: 'second' }, 'issued a known-answer copy (spot check)');
        return claimed;
      }
    }
    // The store refuses a shard the volunteer already holds a copy of (decideSpotCopy): a few tries.
    for (let i = 0; i < 3; i++) {
      const k = pickKnownAnswer(pool, { heldShards: new Set(), ...(projectId ? { projectId } : {}) }, this.draw());
      if (!k) return null;
      const claimed = await this.store.issueSpotCopy(k.shardId, v, now);
      if (claimed) {
        // It waits for a second host; a pair never completed is a single check.
        this.pending = { known: k, firstVolunteer: v.id, at: now };
        this.log.debug({ copy: claimed.copy.id, shard: k.shardId, job: k.jobId, volunteer: v.id, answer: k.source, pair: 'first' }, 'issued a known-answer copy (spot check)');
        return claimed;
      }
    }
    return null;
  }

  private async knownPool(now: number): Promise<KnownAnswer[]> {
    if (now - this.poolAt > POOL_TTL_MS) {
      this.pool = await this.store.knownAnswerShards(POOL_SIZE);
      this.poolAt = now;
    }
    return [...this.pool, ...this.own.values()];
  }

  /**
   * Computes one open shard of a running inference job that has no known
   * answer yet, on the answer thread; at most one job at a time.
   */
  private async computeAnswer(): Promise<void> {
    if (!this.runner || this.computing.size > 0 || this.own.size >= MAX_OWN_ANSWERS) return;
    const jobs = (await this.store.listJobs({ states: ['running'], limit: 50 })).filter((j) => j.kind === 'inference');
    // Answers of jobs no longer running are no use.
    const running = new Set(jobs.map((j) => j.id));
    for (const [id, a] of this.own) if (!running.has(a.jobId)) this.own.delete(id);
    const known = new Set([...this.pool, ...this.own.values()].map((k) => k.jobId));
    const job = jobs.find((j) => !known.has(j.id));
    if (!job) return;
    this.computing.add(job.id);
    try {
      const shard = await this.someOpenShard(job);
      if (!shard) return;
      const assignment: Assignment = {
        copyId: 'coordinator', jobId: job.id, projectId: job.projectId, kind: job.kind,
        model: { hash: job.spec.modelHash, url: '', bytes: job.spec.modelBytes },
        outputs: job.spec.outputs.map((o) => o.name), ackWithinMs: 0, leaseMs: 0,
        ...(await this.kinds[job.kind].payload(job, shard)),
      };
      const { encoded, computeMs } = await this.runner.compute(assignment, { [job.spec.modelHash]: this.blobs.path(job.spec.modelHash) });
      // Kept in the store first: an answer a copy may be checked against must outlive this process. Not kept: the job ended meanwhile.
      if (!(await this.store.saveOwnAnswer({ shardId: shard.id, jobId: job.id, projectId: job.projectId, numericClass: OWN_CLASS, encoded, at: Date.now() }))) return;
      this.own.set(shard.id, { shardId: shard.id, jobId: job.id, projectId: job.projectId, source: 'coordinator', encoded, numericClass: OWN_CLASS });
      this.log.info({ job: job.id, shard: shard.id, index: shard.index, computeMs: Math.round(computeMs) }, 'computed a known answer for spot checks (no shard of the job was validated yet)');
    } catch (err) {
      if (!(err instanceof AnswerBusy)) this.log.warn({ err, job: job.id }, 'could not compute a known answer; spot checks wait for validated shards');
    } finally {
      this.computing.delete(job.id);
    }
  }

  /** A shard of the job still open, drawn at random (a few tries; null when none found). */
  private async someOpenShard(job: Job): Promise<Shard | null> {
    const spec = job.spec as InferenceSpec;
    const n = Math.ceil(spec.records / Math.max(1, spec.shardSize));
    for (let i = 0; i < 4; i++) {
      const at = Math.floor(this.draw() * n);
      const [s] = await this.store.shardsOf(job.id, { from: at, to: at + 1 });
      if (s && s.state === 'open') return s;
    }
    return null;
  }

  /**
   * Copies of an open shard the coordinator computed itself: each pending
   * one that disagrees with the coordinator's answer is invalid now (a
   * failed spot check). Agreeing ones are left to the quorum. Returns the
   * judgements written (empty: nothing to do); the caller holds the shard's lock.
   */
  async judgeOwnAnswer(sr: ShardResults): Promise<CopyJudgement[]> {
    const own = this.own.get(sr.shard.id);
    if (!own || sr.shard.state !== 'open') return [];
    const spec = sr.job.spec;
    const pending = sr.copies.filter((c) => c.state === 'returned' && c.outcome === 'pending' && (!spec.homogeneous || c.numericClass === own.numericClass));
    if (pending.length === 0) return [];
    const kind = kindOf(spec);
    const results = await sr.results(pending.map((c) => c.id));
    const answer = decodeTensors(own.encoded);
    const all = judgeAgainstKnown(
      pending.filter((c) => results.has(c.id)).map((c) => ({ copyId: c.id, volunteerId: c.volunteerId })),
      'coordinator',
      (id) => kind.disagreement(spec, answer, decodeTensors(results.get(id)!)),
    );
    // An agreeing copy stays pending for the quorum: a spot-check copy among them is counted when the quorum judges it.
    const verdicts = all.filter((v) => v.event === 'spot-fail');
    if (verdicts.length === 0) return [];
    const judgements: CopyJudgement[] = verdicts.map((v) => ({ copyId: v.copyId, outcome: 'invalid', reason: v.reason, credit: 0 }));
    await this.store.applyValidation({ shardId: sr.shard.id, shard: { state: 'open', wanted: sr.shard.wanted, canonicalCopyId: null }, judgements, credits: [] });
    const byId = new Map(sr.copies.map((c) => [c.id, c]));
    // Only the copies issued as spot checks count as checks: any other copy of this shard is judged by the same answer, but was no check.
    for (const v of verdicts) if (byId.get(v.copyId)!.spot) this.events.emit('trust', { kind: 'spot-judged', passed: false });
    const now = Date.now();
    await this.store.recordReputation(verdicts.map((v) => ({ volunteerId: v.volunteerId, numericClass: byId.get(v.copyId)!.numericClass, event: 'spot-fail' as const })), now);
    for (const v of verdicts) {
      const c = byId.get(v.copyId)!;
      this.log.warn({ copy: c.id, shard: sr.shard.id, job: sr.job.id, volunteer: c.volunteerId, class: c.numericClass, reason: v.reason }, 'spot check failed: the copy disagrees with the coordinator\'s own result; invalid, no credit, the host loses its trust');
      this.events.emit('outcome', c.volunteerId, { copyId: c.id, jobId: sr.job.id, outcome: 'invalid', credit: 0, reason: v.reason });
      this.found(c.volunteerId, c.id, true);
    }
    this.events.emit('validated', { jobId: sr.job.id, projectId: sr.job.projectId, flops: 0, valid: 0, invalid: verdicts.length });
    this.events.emit('work');
    return judgements;
  }

  /**
   * A host was found wrong on `copyId` (a failed spot check, or any invalid
   * result): backtracking is queued, one host at a time, outside the
   * caller's shard lock.
   */
  found(volunteerId: string, copyId: string, spot: boolean): void {
    this.backtracks = this.backtracks.then(() => this.backtrack(volunteerId, copyId, spot)).catch((err: unknown) => {
      this.log.error({ err, volunteer: volunteerId, copy: copyId }, 'backtracking failed; the host\'s solo results stay accepted until it is caught again');
    });
  }

  /** Resolves once every backtracking queued so far is done (tests, shutdown). */
  settled(): Promise<void> {
    return this.backtracks;
  }

  /** Backtracking that follows agreement (reviews.ts): set by the work service. */
  reviews: Reviews | null = null;

  private async backtrack(volunteerId: string, copyId: string, spot: boolean): Promise<void> {
    // What nobody uncaught vouches for any more first: re-opened without the root, so no review is opened for it.
    await voidAgreements({ store: this.store, events: this.events, underShardLock: this.underShardLock, log: this.log }, { volunteerId, copyId, spot }).catch((err: unknown) => {
      this.log.error({ err, volunteer: volunteerId, copy: copyId }, 'could not void the agreements no uncaught host vouches for; they go under review instead');
    });
    // What it agreed on with others next: those reviews wait for the root of trust, and hold their credit meanwhile.
    await this.reviews?.open({ volunteerId, copyId, spot }, Date.now()).catch((err: unknown) => {
      this.log.error({ err, volunteer: volunteerId, copy: copyId }, 'could not open the reviews of a caught host\'s agreed results; they stay accepted until it is caught again');
    });
    const solos = await this.store.soloResults(volunteerId, 0);
    // Every solo result still standing: each earlier failure already re-opened the ones before it.
    const plan = backtrackPlan(solos, { volunteerId, streakSince: null }, { copyId, spot });
    if (plan.targets.length === 0) return;
    const now = Date.now();
    const reopened = [];
    const reversed = [];
    for (const t of plan.targets) {
      const r = await this.underShardLock(t.shardId, () => this.store.reopenShards({ targets: [t], reason: plan.reason, now }));
      reopened.push(...r.reopened);
      reversed.push(...r.reversed);
    }
    if (reopened.length === 0) return;
    const jobs = new Map(reopened.map((r) => [r.jobId, r]));
    this.log.warn({
      volunteer: volunteerId, caughtOn: copyId, spot, reopened: reopened.length, jobs: jobs.size,
      jobsRerun: [...new Set(reopened.filter((r) => r.jobReopened).map((r) => r.jobId))],
      creditReversed: reversed.reduce((s, r) => s + r.amount, 0), reason: plan.reason,
    }, 'backtracking: the host\'s results accepted on its word alone are re-opened for others to recompute, their credit reversed');
    this.events.emit('trust', { kind: 'reopened', reason: 'backtracking', shards: reopened.length, creditReversed: reversed.reduce((s, r) => s + r.amount, 0) });
    for (const r of reopened) {
      this.events.emit('outcome', r.volunteerId, { copyId: r.copyId, jobId: r.jobId, outcome: 'invalid', credit: 0, reason: plan.reason });
    }
    for (const a of new Set(reversed.map((r) => r.account))) this.events.emit('credited', a);
    for (const r of jobs.values()) this.events.emit('job', r.jobId, r.projectId);
    this.events.emit('work');
  }
}
