/**
 * When the coordinator's own computation settles a review (services/reviews.ts settleOwnNext): one at a time, only
 * while the answer runner is idle (a spot check's known answer never waits behind a queue of reviews), in
 * reviewOrder, never the one a root host's copy is under way for, never a homogeneous job's answer of another class;
 * a computation refused as busy is tried again, one that failed is left to the operator's hosts. Real SQLite store,
 * real work service (its shard lock, its wiring); the answer thread is a stand-in whose computations the test
 * finishes itself, because what is tested is when the coordinator computes, not what onnxruntime returns (the real
 * runner settles reviews in test/integration/reviews.test.ts).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { BlobStore } from '../../../server/blobs/blob-store.ts';
import { DEFAULT_CONFIG } from '../../../server/config.ts';
import { COORDINATOR_HOST } from '../../../server/core/trust/review.ts';
import { AnswerBusy, type AnswerRunner } from '../../../server/models/answer-runner.ts';
import { CoordinatorEvents } from '../../../server/services/events.ts';
import type { JobService } from '../../../server/services/job-service.ts';
import type { KindWorks } from '../../../server/services/kinds.ts';
import { OWN_CLASS } from '../../../server/services/spot-checks.ts';
import { WorkService } from '../../../server/services/work-service.ts';
import { SqliteStore } from '../../../server/store/sqlite/sqlite-store.ts';
import type { Assignment } from '../../../shared/protocol/events.ts';
import { encodeTensors } from '../../../shared/tensor/codec.ts';
import { consensus, makeJob, makeProject, makeVolunteer, NO_RULES } from '../store/contract.ts';

/** A well-formed result of one 8-record shard: y is [8, 2], every value `v`. */
const result = (v: number) => encodeTensors([{ name: 'y', dtype: 'float32', dims: [8, 2], data: new Uint8Array(new Float32Array(16).fill(v).buffer) }]);

/** The answer thread as the work service sees it: each computation waits until the test answers it. */
class Thread {
  closed = false;
  load = 0;
  readonly asked: { shardIndex: number; done: (v: number | Error) => void }[] = [];
  compute(a: Assignment): Promise<{ encoded: Uint8Array; computeMs: number }> {
    this.load++;
    return new Promise<{ encoded: Uint8Array; computeMs: number }>((resolve, reject) => {
      this.asked.push({ shardIndex: (a as unknown as { shardIndex: number }).shardIndex, done: (v) => (v instanceof Error ? reject(v) : resolve({ encoded: result(v), computeMs: 5 })) });
    }).finally(() => this.load--);
  }
}

describe("the coordinator's own computation settling reviews", () => {
  let dir: string;
  let store: SqliteStore;
  let thread: Thread;
  let work: WorkService;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'tabgrid-own-reviews-'));
    store = new SqliteStore(join(dir, 'tabgrid.sqlite'));
    thread = new Thread();
    // An overturn assembles the job's outputs again: not this test's.
    const kinds = { inference: { progress: async () => {}, payload: async (_job: unknown, shard: { index: number }) => ({ shardIndex: shard.index, feedBlobs: [] }) } } as unknown as KindWorks;
    work = new WorkService(store, null as unknown as JobService, kinds, new CoordinatorEvents(),
      { ...DEFAULT_CONFIG, dataDir: dir, clientDir: dir }, pino({ level: 'silent' }),
      { blobs: { path: (h: string) => join(dir, h) } as unknown as BlobStore, runner: thread as unknown as AnswerRunner });
  });
  afterEach(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /**
   * A job of `n` shards, each validated on two colluders' agreeing lie (every value 7), each under review; shard i's answer
   * returned at `at + i`. Each shard's pair is its own: an overturn catches one pair, and the other shards' answers are
   * still vouched for by hosts not caught (not void: void-agreements.ts), so their reviews stay open.
   */
  async function underReview(n: number, o: { homogeneous?: boolean; cls?: string; at?: number } = {}) {
    const p = makeProject();
    await store.createProject(p);
    const { job, shards } = makeJob(p.id, { shards: n, replicas: 2, maxTotal: 2, ...(o.homogeneous ? { homogeneous: true } : {}) });
    await store.createJob(job, shards);
    for (const shard of shards) {
      const liars = [makeVolunteer(3 + 2 * shard.index, o.cls ? { cls: o.cls } : {}), makeVolunteer(4 + 2 * shard.index, o.cls ? { cls: o.cls } : {})];
      const lies = [];
      for (const v of liars) {
        const c = (await store.issueSpotCopy(shard.id, v, Date.now()))!.copy;
        expect(await store.saveResult(c.id, v.id, result(7), 1, Date.now(), NO_RULES)).toBe('accepted');
        lies.push(c);
      }
      await store.applyValidation({ ...consensus(shard, job, lies, 2), holdMs: 3600_000 });
    }
    expect(await store.startReviews({ targets: shards.map((s) => ({ shardId: s.id, at: (o.at ?? 1) + s.index })), reason: 'under review', now: Date.now() })).toHaveLength(n);
    return { job, shards };
  }
  const state = async (shardId: string) => (await store.reviewOf(shardId))!.state;
  /** Until the coordinator has asked the thread for `n` computations (its store reads before that are microtasks). */
  const asked = async (n: number) => {
    for (let i = 0; i < 1000 && thread.asked.length < n; i++) await new Promise((r) => setImmediate(r));
    expect(thread.asked).toHaveLength(n);
  };

  it('computes one review at a time, newest answer first, and settles it as a root copy would (its result the output, the liars invalid)', async () => {
    const { shards } = await underReview(2);
    const first = work.reviews.settleOwnNext();
    // One at a time: asked again while computing, it computes nothing more.
    await work.reviews.settleOwnNext();
    await asked(1);
    expect(thread.asked.map((a) => a.shardIndex)).toEqual([1]);
    // A root host is not sent the review the coordinator is computing; it gets the other one.
    const root = makeVolunteer(1);
    await store.markOperator({ volunteerId: root.id, numericClass: root.numericClass }, Date.now());
    const given = await work.reviews.maybeIssue({ ...root, secretHash: '', capabilities: {} as never, createdAt: 0, lastSeen: 0 }, true, undefined, Date.now());
    expect(given?.shard.id).toBe(shards[0]!.id);
    thread.asked[0]!.done(1);
    await first;
    expect(await state(shards[1]!.id)).toBe('overturned');
    const own = (await store.getShard(shards[1]!.id))!.canonicalCopyId!;
    expect(await store.getCopy(own)).toMatchObject({ volunteerId: COORDINATOR_HOST.volunteerId, outcome: 'valid', credit: 0, numericClass: OWN_CLASS });
    expect((await store.shardResults(shards[1]!.id))!.copies.filter((c) => c.outcome === 'invalid')).toHaveLength(2);
    // The other review has a root copy under way: the coordinator leaves it to that host.
    await work.reviews.settleOwnNext();
    expect(thread.asked).toHaveLength(1);
    expect(await state(shards[0]!.id)).toBe('open');
  });

  it('waits while the answer thread is busy (a spot check\'s known answer first), and tries again after a refusal', async () => {
    const { shards } = await underReview(1);
    thread.load = 1;
    await work.reviews.settleOwnNext();
    expect(thread.asked).toEqual([]);
    thread.load = 0;
    const refused = work.reviews.settleOwnNext();
    await asked(1);
    thread.asked[0]!.done(new AnswerBusy('the coordinator is already computing 5 shards'));
    await refused;
    expect(await state(shards[0]!.id)).toBe('open');
    const again = work.reviews.settleOwnNext();
    await asked(2);
    // Confirmed this time: the coordinator computed the same answer (the "lie" was the truth).
    thread.asked[1]!.done(7);
    await again;
    expect(await state(shards[0]!.id)).toBe('confirmed');
  });

  it('leaves to the operator\'s hosts a review whose computation failed, and a homogeneous job\'s answer of another class', async () => {
    const gpu = await underReview(1, { homogeneous: true, cls: 'webgpu/nvidia/hopper/ort-1.30.0', at: 100 });
    const { shards } = await underReview(2);
    // The homogeneous GPU answer is the newest of all (reviewOrder), and is passed over without a computation.
    const failing = work.reviews.settleOwnNext();
    await asked(1);
    expect(thread.asked.map((a) => a.shardIndex)).toEqual([1]);
    thread.asked[0]!.done(new Error('computing the shard took longer than 30 s'));
    await failing;
    const next = work.reviews.settleOwnNext();
    await asked(2);
    expect(thread.asked.map((a) => a.shardIndex)).toEqual([1, 0]);
    thread.asked[1]!.done(1);
    await next;
    expect(await state(shards[0]!.id)).toBe('overturned');
    // Nothing more to compute: the other two stay open for the operator's hosts.
    await work.reviews.settleOwnNext();
    expect(thread.asked).toHaveLength(2);
    expect([await state(shards[1]!.id), await state(gpu.shards[0]!.id)]).toEqual(['open', 'open']);
  });
});
