/**
 * Idempotent job submission in the store (server/core/jobs/submission.ts
 * decides what a repeat gets), against SQLite and PostgreSQL like
 * contract.ts: a job written with an Idempotency-Key holds it, within its
 * project only; a second job with the same key writes nothing and names the
 * first; two submissions racing with one key leave one job; a key goes with
 * its job.
 */
import { describe, expect, it } from 'vitest';
import type { Store } from '../../../server/store/types.ts';
import { makeJob, makeProject } from './contract.ts';
import { freshStoreEachTest, type StoreHarness } from './harness.ts';

export function submissionContract(label: string, makeHarness: () => Promise<StoreHarness>) {
  describe(`Submission contract: ${label}`, () => {
    let h: StoreHarness;
    let store: Store;

    freshStoreEachTest(makeHarness, (fresh, opened) => {
      h = fresh;
      store = opened;
    });

    const counts = async (projectId: string) => {
      const [r] = await h.sql(`SELECT (SELECT COUNT(*) FROM jobs WHERE project_id = '${projectId}') AS jobs,
        (SELECT COUNT(*) FROM shards WHERE project_id = '${projectId}') AS shards`);
      return { jobs: Number(r!.jobs), shards: Number(r!.shards) };
    };

    it('a job keeps its key; a second job with the key writes nothing and is told the first', async () => {
      const p = makeProject();
      await store.createProject(p);
      const first = makeJob(p.id, { shards: 3 });
      expect(await store.createJob(first.job, first.shards, { key: 'k-1', fingerprint: 'f1' })).toBeNull();
      expect(await store.jobBySubmissionKey(p.id, 'k-1')).toEqual({ jobId: first.job.id, fingerprint: 'f1' });
      expect(await store.jobBySubmissionKey(p.id, 'k-2')).toBeNull();

      // The same key again, whatever the request: the first job is named, and neither the job nor its shards are written.
      for (const fingerprint of ['f1', 'f2']) {
        const again = makeJob(p.id, { shards: 2 });
        expect(await store.createJob(again.job, again.shards, { key: 'k-1', fingerprint })).toEqual({ jobId: first.job.id, fingerprint: 'f1' });
        expect(await store.getJob(again.job.id)).toBeNull();
      }
      expect(await counts(p.id)).toEqual({ jobs: 1, shards: 3 });

      // Another key, and jobs with no key at all, are jobs of their own.
      const other = makeJob(p.id);
      expect(await store.createJob(other.job, other.shards, { key: 'k-2', fingerprint: 'f1' })).toBeNull();
      const plain = [makeJob(p.id), makeJob(p.id)];
      for (const j of plain) expect(await store.createJob(j.job, j.shards)).toBeNull();
      expect(await counts(p.id)).toEqual({ jobs: 4, shards: 6 });
      expect(await store.jobBySubmissionKey(p.id, 'k-2')).toEqual({ jobId: other.job.id, fingerprint: 'f1' });
    });

    it('keys are a project\'s own: another project\'s job may hold the same key', async () => {
      const [a, b] = [makeProject(), makeProject()];
      await store.createProject(a);
      await store.createProject(b);
      const ja = makeJob(a.id);
      const jb = makeJob(b.id);
      expect(await store.createJob(ja.job, ja.shards, { key: 'shared', fingerprint: 'fa' })).toBeNull();
      expect(await store.createJob(jb.job, jb.shards, { key: 'shared', fingerprint: 'fb' })).toBeNull();
      expect(await store.jobBySubmissionKey(a.id, 'shared')).toEqual({ jobId: ja.job.id, fingerprint: 'fa' });
      expect(await store.jobBySubmissionKey(b.id, 'shared')).toEqual({ jobId: jb.job.id, fingerprint: 'fb' });
    });

    it('submissions racing with one key leave one job, and each is told which', async () => {
      const p = makeProject();
      await store.createProject(p);
      const racers = Array.from({ length: 6 }, () => makeJob(p.id, { shards: 2 }));
      // At once: on PostgreSQL each on a connection of its own, so the unique key, not the order, decides.
      const written = await Promise.all(racers.map((r) => store.createJob(r.job, r.shards, { key: 'race', fingerprint: 'f' })));
      const winners = racers.filter((_, i) => written[i] === null);
      expect(winners).toHaveLength(1);
      const winner = winners[0]!.job.id;
      for (const w of written) if (w !== null) expect(w).toEqual({ jobId: winner, fingerprint: 'f' });
      expect(await counts(p.id)).toEqual({ jobs: 1, shards: 2 });
      expect(await store.jobBySubmissionKey(p.id, 'race')).toEqual({ jobId: winner, fingerprint: 'f' });
    });

    it('a key lives as long as its job: the job\'s row holds it', async () => {
      const p = makeProject();
      await store.createProject(p);
      const { job, shards } = makeJob(p.id);
      await store.createJob(job, shards, { key: 'kept', fingerprint: 'f' });
      // A job that ended keeps its key: a late repeat still finds it rather than making another.
      expect(await store.finishJob(job.id, 'cancelled', { finishedAt: Date.now(), error: 'cancelled' })).toBe(true);
      expect(await store.jobBySubmissionKey(p.id, 'kept')).toEqual({ jobId: job.id, fingerprint: 'f' });
      expect(await h.sql(`SELECT submission_key, submission_fingerprint FROM jobs WHERE id = '${job.id}'`)).toEqual([{ submission_key: 'kept', submission_fingerprint: 'f' }]);
      // Gone with the job (nothing deletes jobs yet; should anything, their keys go with their rows).
      await h.sql(`DELETE FROM shards WHERE job_id = '${job.id}'`);
      await h.sql(`DELETE FROM jobs WHERE id = '${job.id}'`);
      expect(await store.jobBySubmissionKey(p.id, 'kept')).toBeNull();
      const next = makeJob(p.id);
      expect(await store.createJob(next.job, next.shards, { key: 'kept', fingerprint: 'g' })).toBeNull();
    });
  });
}
