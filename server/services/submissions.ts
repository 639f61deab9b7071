/**
 * Job submissions that are safe to send again (the Idempotency-Key header,
 * core/jobs/submission.ts). A client whose POST lost its reply sends it again
 * with the same key: it gets the job the first one made. Repeats of one key
 * are taken one at a time in this process (the second waits for the first's
 * model check and finds its job); across coordinators the store's unique key
 * decides, and the loser answers with the winner's job.
 */
import { type Job } from '../core/jobs/types.ts';
import { type KeyedJob, repeatOutcome, requestFingerprint, type SubmissionKey } from '../core/jobs/submission.ts';
import type { Project, Store } from '../store/types.ts';
import { SubmissionTaken } from './job-service.ts';
import { KeyedLock } from './keyed-lock.ts';

/** An Idempotency-Key sent again with another request: refused (HTTP 422, code idempotency_key_reused), nothing changed. */
export class KeyReused extends Error {
  override name = 'KeyReused';
}

export class Submissions {
  private lock = new KeyedLock();

  constructor(private readonly store: Store) {}

  /**
   * The job this submission makes (`create`, given the key to keep with it), or, for a key a job of the
   * project holds already, that job; the same key with another body is refused and changes nothing.
   * `body` is the validated request, defaults filled in: its fingerprint tells a repeat from another request.
   */
  async submit(project: Project, body: unknown, key: string | null, create: (submission?: SubmissionKey) => Promise<Job>): Promise<{ job: Job; repeat: boolean }> {
    if (key === null) return { job: await create(), repeat: false };
    const submission: SubmissionKey = { key, fingerprint: requestFingerprint(body) };
    // Keys are a project's own: the lock's name holds both (neither holds a newline).
    return this.lock.run(`${project.id}\n${key}`, async () => {
      const known = await this.store.jobBySubmissionKey(project.id, key);
      if (known) return { job: await this.answer(project, known, submission), repeat: true };
      try {
        return { job: await create(submission), repeat: false };
      } catch (e) {
        if (!(e instanceof SubmissionTaken)) throw e;
        return { job: await this.answer(project, e.taken, submission), repeat: true };
      }
    });
  }

  private async answer(project: Project, known: KeyedJob, submission: SubmissionKey): Promise<Job> {
    const outcome = repeatOutcome(known, submission.fingerprint, submission.key);
    if ('refuse' in outcome) throw new KeyReused(outcome.refuse);
    const job = await this.store.getJob(outcome.replay);
    if (!job || job.projectId !== project.id) throw new Error(`job ${outcome.replay} of Idempotency-Key ${submission.key} cannot be read`);
    return job;
  }
}
