/**
 * A root of trust's review copy is never judged as a volunteer's late copy
 * (work-service.ts validateShardNow, review.ts judgeUnsettledReviewCopy).
 * Root A's review copy expires; root B takes the review; A's late result
 * then comes back (a late result revives an expired copy) while the review
 * is still open with B's copy. The answer under review is a lie, so A's
 * result disagrees with it: judged as an ordinary late copy, that cost the
 * operator's host A its trust. Here A's result settles the review (any root
 * copy of the shard may), and B's, coming back after, is recorded with no
 * trust change. Real SQLite store, real work service; the order is fixed by
 * construction (the store's own expiry, then the issues and results).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { BlobStore } from '../../../server/blobs/blob-store.ts';
import { DEFAULT_CONFIG } from '../../../server/config.ts';
import { CoordinatorEvents } from '../../../server/services/events.ts';
import type { JobService } from '../../../server/services/job-service.ts';
import type { KindWorks } from '../../../server/services/kinds.ts';
import { WorkService } from '../../../server/services/work-service.ts';
import { SqliteStore } from '../../../server/store/sqlite/sqlite-store.ts';
import { encodeTensors } from '../../../shared/tensor/codec.ts';
import { consensus, makeJob, makeProject, makeVolunteer, NO_RULES } from '../store/contract.ts';

/** A well-formed result of one 8-record shard: y is [8, 2], every value `v`. */
/** A shard's credit: 8 records at the job's 0.001 each (copyCredit). */
const CREDIT = 8 * 0.001;

const result = (v: number) => encodeTensors([{ name: 'y', dtype: 'float32', dims: [8, 2], data: new Uint8Array(new Float32Array(16).fill(v).buffer) }]);

describe("a root's review copy that does not settle its review", () => {
  let dir: string;
  let store: SqliteStore;
  let progressed: string[];
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'tabgrid-review-late-'));
    store = new SqliteStore(join(dir, 'tabgrid.sqlite'));
    progressed = [];
  });
  afterEach(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  function service(): WorkService {
    // An overturn assembles the job's outputs again: recorded here, the outputs themselves are not this test's.
    const kinds = { inference: { progress: async (id: string) => { progressed.push(id); } } } as unknown as KindWorks;
    return new WorkService(store, null as unknown as JobService, kinds, new CoordinatorEvents(),
      { ...DEFAULT_CONFIG, dataDir: dir, clientDir: dir }, pino({ level: 'silent' }), { blobs: null as unknown as BlobStore, runner: null });
  }

  it('settles the review when it comes back late, and never costs an operator host its trust', async () => {
    const p = makeProject();
    await store.createProject(p);
    const { job, shards } = makeJob(p.id, { shards: 1, replicas: 2, maxTotal: 2 });
    await store.createJob(job, shards);
    const shard = shards[0]!;
    // Two colluders agree on a lie (every value 7); the truth is 1.
    const liars = [makeVolunteer(3), makeVolunteer(4)];
    const lies = [];
    for (const v of liars) {
      const c = (await store.issueSpotCopy(shard.id, v, Date.now()))!.copy;
      expect(await store.saveResult(c.id, v.id, result(7), 1, Date.now(), NO_RULES)).toBe('accepted');
      lies.push(c);
    }
    await store.applyValidation({ ...consensus(shard, job, lies, 2), holdMs: 3600_000 });
    const [a, b] = [makeVolunteer(1), makeVolunteer(2)];
    for (const r of [a, b]) await store.markOperator({ volunteerId: r.id, numericClass: r.numericClass }, Date.now());
    expect(await store.startReviews({ targets: [{ shardId: shard.id, at: 1 }], reason: 'under review', now: Date.now() })).toHaveLength(1);

    // Root A takes the review; its copy expires; root B takes it.
    const t0 = Date.now();
    const copyA = (await store.issueReviewCopy(shard.id, a, true, t0))!.copy;
    await store.expireCopies(copyA.deadline + 1, NO_RULES);
    expect(await store.getCopy(copyA.id)).toMatchObject({ state: 'expired' });
    const copyB = (await store.issueReviewCopy(shard.id, b, true, Date.now()))!.copy;
    expect(await store.reviewOf(shard.id)).toMatchObject({ state: 'open', copyId: copyB.id });

    // A's late result (the truth) comes back first.
    const work = service();
    expect(await store.saveResult(copyA.id, a.id, result(1), 1, Date.now(), NO_RULES)).toBe('accepted');
    await work.validateShard(shard.id);
    const operators = async () => (await store.reputations([a, b].map((r) => ({ volunteerId: r.id, numericClass: r.numericClass }))))
      .map((r) => [r.volunteerId, r.operator, r.invalid]).sort();
    expect(await operators()).toEqual([[a.id, true, 0], [b.id, true, 0]].sort());
    // A's result settled the review: the lie is overturned, A's result is the output.
    expect(await store.reviewOf(shard.id)).toMatchObject({ state: 'overturned' });
    expect(await store.getShard(shard.id)).toMatchObject({ state: 'validated', canonicalCopyId: copyA.id });
    expect(await store.getCopy(copyA.id)).toMatchObject({ outcome: 'valid', credit: CREDIT });
    for (const l of lies) expect(await store.getCopy(l.id)).toMatchObject({ outcome: 'invalid' });
    expect(progressed).toEqual([job.id]);

    // B's result comes back after the review settled: recorded against the answer as it stands, credited, no trust change.
    expect(await store.saveResult(copyB.id, b.id, result(1), 1, Date.now(), NO_RULES)).toBe('accepted');
    await work.validateShard(shard.id);
    expect(await store.getCopy(copyB.id)).toMatchObject({ outcome: 'valid', credit: CREDIT });
    expect(await operators()).toEqual([[a.id, true, 0], [b.id, true, 0]].sort());
    const repB = (await store.reputations([{ volunteerId: b.id, numericClass: b.numericClass }]))[0]!;
    expect(repB.valid).toBe(0);
  });
});
