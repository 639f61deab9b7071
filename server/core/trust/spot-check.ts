/**
 * Spot checks with known answers and backtracking (Sarmenta 2002). A
 * fraction of the copies a host is given are shards whose answer is already
 * known; a host cannot tell them apart (opaque copy ids, same shapes). A host
 * that fails one loses its trust, and everything it returned unreplicated
 * during its streak is re-verified by others and its credit reversed: lying
 * while trusted buys nothing that lasts.
 */
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
 * A shard whose answer the coordinator knows: validated by agreement (never
 * on one host's word: that is what spot checks verify) or computed by the
 * coordinator itself (the known-answer runner).
 */
export interface KnownAnswer {
  shardId: string;
  jobId: string;
  projectId: string;
  source: 'validated' | 'coordinator';
}

/**
 * Whether a validated shard's answer may serve as a known answer: at least
 * two valid results agreed on it. A result accepted alone may be a trusted
 * host's lie, and checking hosts against it would spread the lie.
 */
export function answerKnown(validCopies: number): boolean {
  return validCopies >= 2;
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
      ? { copyId: c.copyId, volunteerId: c.volunteerId, outcome: 'valid', event: 'spot-pass', reason: `agrees with ${what}` }
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
