/**
 * The services' half of a job kind (the pure half is server/core/jobs/kinds.ts):
 * what a copy of a shard carries to its volunteer, and what happens once one
 * of the job's shards validates. WorkService holds one per kind and calls it
 * instead of branching on the kind.
 */
import type { Assignment, JobKind } from '../../shared/protocol/events.ts';
import type { Job, Shard } from '../core/jobs/types.ts';

export type KindPayload = Pick<Assignment, 'inputs' | 'feedBlobs' | 'batchedInputs' | 'runUnit'> & Partial<Pick<Assignment, 'localSteps' | 'weights'>>;

export interface KindWork {
  /** The feeds a copy of this shard carries: inline inputs, blobs fed beside the model, and how they are batched. */
  payload(job: Job, shard: Shard): Promise<KindPayload>;
  /** After one of the job's shards validates, and at start: close its round, or complete the job, when it can. */
  progress(jobId: string): Promise<void>;
  /** The reconciler's periodic turn (a training round's deadline). */
  tick?(now: number): Promise<void>;
}

export type KindWorks = { readonly [K in JobKind]: KindWork };
