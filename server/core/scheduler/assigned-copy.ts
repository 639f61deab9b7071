/**
 * The copy a volunteer is given, as it is first written: assigned, pending,
 * due to be acknowledged within the job's ackWithinMs. The claim path
 * (claim.ts) and the spot-check path (trust/spot-check.ts) both issue copies
 * through here, so a known-answer copy is made field for field as a real one
 * is and nothing in it tells the volunteer it is a check (its `spot` mark is
 * the server's: no field of an assignment comes from it).
 */
import type { Copy, Job } from '../jobs/types.ts';
import type { VolunteerIdentity } from './eligibility.ts';

export function assignedCopy(c: {
  copyId: string;
  shardId: string;
  job: Pick<Job, 'id' | 'spec'>;
  volunteer: VolunteerIdentity & { account: string };
  now: number;
  /** Drawn to stand alone (core/trust/replication.ts); the field is left out when false. */
  solo?: boolean;
  /** A spot check (core/trust/spot-check.ts decideSpotCopy); the field is left out when false. */
  spot?: boolean;
  /** A root host's review copy (core/trust/review.ts decideReviewCopy); the field is left out when false. */
  review?: boolean;
}): Copy {
  const { job, volunteer: v } = c;
  return {
    id: c.copyId, shardId: c.shardId, jobId: job.id, volunteerId: v.id, account: v.account,
    wallet: v.wallet, address: v.address, numericClass: v.numericClass,
    state: 'assigned', outcome: 'pending', assignedAt: c.now, deadline: c.now + job.spec.limits.ackWithinMs,
    returnedAt: null, reason: null, credit: 0, ...(c.solo ? { solo: true } : {}), ...(c.spot ? { spot: true } : {}), ...(c.review ? { review: true } : {}),
  };
}
