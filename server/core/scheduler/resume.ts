/**
 * A volunteer that reloaded or reconnected says in its hello which copies it
 * still holds (HelloRequest.holding). Each one it may keep is acknowledged
 * again with a fresh lease (never past its hold ceiling, lease.ts), so a
 * reload does not leave it to run out the disconnect grace and be reissued.
 * A claim is only ever a request: the copy must be this volunteer's, still in
 * flight, of a job still taking its result, announced in the class it was
 * assigned to, and of a project this connection may compute for. A refused
 * claim changes nothing, and says why; an id that is not the claimant's reads
 * the same whether it exists or not, so a forger learns nothing from it.
 */
import type { Copy, Job, Shard } from '../jobs/types.ts';
import { mayServeProject } from './eligibility.ts';
import { leaseRanOut } from './lease.ts';

/** Who claims: the volunteer as its hello announced it, and what its connection may compute. */
export interface Claimant {
  id: string;
  numericClass: string;
  /** The one project this connection computes for (an embed), if any. */
  projectId?: string;
  /** The private projects whose group it is in now. */
  groups: ReadonlySet<string>;
}

/** What the store says about one claimed copy (nulls: not found). */
export interface ClaimedCopyFacts {
  copy: Copy | null;
  job: Job | null;
  shard: Shard | null;
  project: { id: string; private: boolean } | null;
  /** The job kind's reason a result of this shard is no longer needed (a closed training round), or null. */
  tooLate: string | null;
}

/** Why this claim is refused, or null when the copy is the claimant's to keep. */
export function resumeRefusal(copyId: string, who: Claimant, f: ClaimedCopyFacts, now: number): string | null {
  const { copy, job, shard, project } = f;
  if (!copy || copy.volunteerId !== who.id) return `copy ${copyId} is not assigned to you`;
  if (copy.state === 'returned') return `copy ${copyId} was returned already: its result is in`;
  if (copy.state !== 'assigned' && copy.state !== 'running') {
    return `copy ${copyId} is ${copy.state}${copy.reason ? ` (${copy.reason})` : ''}: it is no longer held for you`;
  }
  // Run out, and about to be expired and reissued: a claim does not revive it (a late result still may, when it helps).
  if (leaseRanOut(copy, now)) return `copy ${copyId} ran out its lease ${Math.round((now - copy.deadline) / 1000)} s ago: it is no longer held for you`;
  if (!job || !shard || job.state !== 'running') return `copy ${copyId} is of a job that has ended${job ? ` (${job.state})` : ''}`;
  if (f.tooLate) return `copy ${copyId} ${f.tooLate}; it is no longer needed`;
  if (who.projectId !== undefined && job.projectId !== who.projectId) {
    return `copy ${copyId} is of another project than the one this connection computes for (${who.projectId})`;
  }
  if (!project || !mayServeProject(project, who.groups)) return `copy ${copyId} is of a private project whose group you are not in`;
  // Its result is compared as the class it was issued to (homogeneous jobs isolate classes): another class may not finish it.
  if (copy.numericClass !== who.numericClass) {
    return `copy ${copyId} was assigned to numeric class ${copy.numericClass}, and this hello announces ${who.numericClass}`;
  }
  return null;
}
