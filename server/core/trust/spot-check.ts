/**
 * Spot checks with known answers and backtracking (Sarmenta 2002). A
 * fraction of the copies a host is given are shards whose answer is already
 * known; a host cannot tell them apart (opaque copy ids, same shapes). A host
 * that fails one loses its trust, and everything it returned unreplicated
 * during its streak is re-verified by others and its credit reversed: lying
 * while trusted buys nothing that lasts.
 */
import { kindOf } from '../jobs/kinds.ts';
import type { Copy, Job, Shard } from '../jobs/types.ts';
import { assignedCopy } from '../scheduler/assigned-copy.ts';
import { type CopyIdentity, mayTakeCopy, NO_RULES, type VolunteerIdentity } from '../scheduler/eligibility.ts';
import type { TrustPolicy } from './policy.ts';

/** Whether this request gets a known-answer copy; `draw` uniform in [0, 1). */
export function spotCheckNow(policy: Pick<TrustPolicy, 'spotCheckFraction'>, draw: number, knownAnswers: number): boolean {
  return knownAnswers > 0 && draw < policy.spotCheckFraction;
}

/** A result accepted on a single host's word: what backtracking re-verifies. */
export interface SoloResult {
  copyId: string;
  shardId: string;
  volunteerId: string;
  numericClass: string;
  /** When it was accepted. */
  at: number;
}

/**
 * The solo results to re-verify once a host was caught: every one it
 * returned since its streak began (a superset of "since its last passed
 * check": a host lying on some copies may pass a check between two lies).
 */
export function backtrackTargets(solos: readonly SoloResult[], caught: { volunteerId: string; streakSince: number | null }): SoloResult[] {
  const since = caught.streakSince ?? 0;
  return solos.filter((s) => s.volunteerId === caught.volunteerId && s.at >= since);
}

/**
 * A shard whose answer the coordinator knows: validated with a result from
 * one of the operator's own hosts among the agreeing ones (answerKnown), or
 * computed by the coordinator itself (the known-answer runner).
 */
export interface KnownAnswer {
  shardId: string;
  jobId: string;
  projectId: string;
  source: 'validated' | 'coordinator';
}

/**
 * Whether a validated shard's answer may serve as a known answer: only when
 * the group of valid results that agreed on it includes a result from one of
 * the operator's own hosts (the root of trust). Agreement alone is not
 * enough: two colluders that both earned trust and agreed on the same wrong
 * answer would make their lie the known answer, and honest hosts would then
 * fail spot checks against it (found by `npm run simulate`, careful
 * colluders). Answers the coordinator computed itself are known by
 * construction and do not pass through here.
 */
export function answerKnown(agreeing: readonly { operator: boolean }[]): boolean {
  return agreeing.some((c) => c.operator);
}

/**
 * The known answer a spot check uses for this volunteer, or null: one whose
 * shard the volunteer holds no copy of (its own earlier result would check
 * nothing) and whose project it may work for. `draw` uniform in [0, 1)
 * picks among them, so which known shard a host gets is no more
 * predictable than which real one.
 */
export function pickKnownAnswer(
  pool: readonly KnownAnswer[],
  v: { heldShards: ReadonlySet<string>; projectId?: string },
  draw: number,
): KnownAnswer | null {
  const fit = pool.filter((k) => !v.heldShards.has(k.shardId) && (!v.projectId || k.projectId === v.projectId));
  if (fit.length === 0) return null;
  return fit[Math.min(fit.length - 1, Math.floor(draw * fit.length))]!;
}

/** A returned copy judged against its shard's known answer. */
export interface SpotVerdict {
  copyId: string;
  volunteerId: string;
  outcome: 'valid' | 'invalid';
  event: 'spot-pass' | 'spot-fail';
  reason: string;
}

/**
 * Judges returned copies against the known answer: `differ` says how a copy
 * differs from it (null: agrees). An agreeing copy is valid and its host
 * passed a check; a differing one is invalid and its host failed one.
 */
export function judgeAgainstKnown(
  copies: readonly { copyId: string; volunteerId: string }[],
  source: KnownAnswer['source'],
  differ: (copyId: string) => string | null,
): SpotVerdict[] {
  const what = source === 'coordinator' ? "the coordinator's own result" : 'the answer validated by agreement';
  return copies.map((c) => {
    const why = differ(c.copyId);
    return why === null
      ? { copyId: c.copyId, volunteerId: c.volunteerId, outcome: 'valid', event: 'spot-pass', reason: `spot check passed: agrees with ${what}` }
      : { copyId: c.copyId, volunteerId: c.volunteerId, outcome: 'invalid', event: 'spot-fail', reason: `spot check failed: disagrees with ${what}: ${why}` };
  });
}

/** What follows a failed spot check (or any invalid result of a host that had results accepted alone). */
export interface BacktrackPlan {
  /** Solo results to re-open: recomputed by others, their credit reversed. */
  targets: SoloResult[];
  /** Why, in words the volunteer and the dashboards read (also the ledger rows' reason). */
  reason: string;
}

/**
 * Backtracking after `caught` (its reputation before the failure: the
 * failure itself clears the streak start) was found wrong on `copyId`:
 * every result it had accepted alone during its streak is re-opened, except
 * the one just judged.
 */
export function backtrackPlan(
  solos: readonly SoloResult[],
  caught: { volunteerId: string; streakSince: number | null },
  found: { copyId: string; spot: boolean },
): BacktrackPlan {
  const targets = backtrackTargets(solos, caught).filter((s) => s.copyId !== found.copyId);
  const since = caught.streakSince === null ? 'it joined' : new Date(caught.streakSince).toISOString();
  const what = found.spot ? 'failed a spot check' : 'returned an invalid result';
  return {
    targets,
    reason: `reversed: this host ${what} (copy ${found.copyId}), so the results it had accepted without a second opinion since ${since} are recomputed by others`,
  };
}

/**
 * The copy a spot check issues: a copy of a shard whose answer is known,
 * whether or not the shard still wants copies (a validated shard does not),
 * made by the claim path's own assignedCopy (same fields, same deadline), so
 * nothing in it tells the volunteer it is a check (it is marked `spot` for
 * the server's own accounting only). Refused when the job no
 * longer runs, is not an inference job (only those are compared against a
 * fixed answer), the shard is failed or cancelled, it has no copies left to
 * issue, the volunteer already held a copy of it, or the job is homogeneous
 * and the shard's results are of another numeric class.
 */
export function decideSpotCopy(c: {
  shard: Pick<Shard, 'id' | 'state' | 'issued'> & { maxTotal: number };
  /** The shard's copies so far (their holders and numeric classes). */
  copies: readonly CopyIdentity[];
  job: Job | null;
  volunteer: VolunteerIdentity & { account: string };
  now: number;
  copyId: string;
}): { take: true; copy: Copy } | { take: false; why: string } {
  const { shard, job, volunteer: v } = c;
  if (!job || job.state !== 'running') return { take: false, why: 'job not running' };
  if (job.kind !== 'inference') return { take: false, why: 'not an inference job' };
  if (shard.state !== 'open' && shard.state !== 'validated') return { take: false, why: `shard ${shard.state}` };
  if (shard.issued >= c.shard.maxTotal) return { take: false, why: 'no copies left to issue' };
  if (c.copies.some((x) => x.volunteerId === v.id)) return { take: false, why: 'volunteer held a copy' };
  // A homogeneous job compares like with like only: a host of another numeric class is not checked against this shard.
  if (!mayTakeCopy(v, c.copies, NO_RULES, job.spec.homogeneous)) return { take: false, why: 'another numeric class' };
  if (!kindOf(job.spec).runsOn(job.spec, v.numericClass)) return { take: false, why: 'backend not allowed' };
  return {
    take: true,
    copy: assignedCopy({ copyId: c.copyId, shardId: shard.id, job, volunteer: v, now: c.now, spot: true }),
  };
}

/**
 * A known answer given to two hosts at once, as a replicated shard's copies
 * are: a careful group lies only where it holds every copy of a shard, and
 * a spot check that came alone never looks like that. So each known answer
 * issued waits for a second host (the next spot check drawn by another
 * host, within the pair wait: SPOT_PAIR_WAIT_MS unless the operator set
 * another, `--spot-pair-seconds`): a group that holds both copies of one
 * shard cannot tell a trap from a real shard, and lying on it fails two
 * checks at once. Each copy is judged against the known answer on its own.
 */
export interface PendingPair {
  known: KnownAnswer;
  /** The host that got the first copy. */
  firstVolunteer: string;
  at: number;
}

/** How long a known answer's first copy waits for its second by default (a real shard's second copy is rarely later). */
export const SPOT_PAIR_WAIT_MS = 60_000;

/**
 * The known answer a drawn spot check gives this host: the waiting pair's, if another host and within
 * `waitMs`; else null (draw a new one). `waitMs` 0: pairing is off, every known answer goes out singly.
 */
export function pairedKnownAnswer(pending: PendingPair | null, askerId: string, now: number, waitMs = SPOT_PAIR_WAIT_MS): KnownAnswer | null {
  if (waitMs <= 0 || !pending || pending.firstVolunteer === askerId || now - pending.at > waitMs) return null;
  return pending.known;
}
