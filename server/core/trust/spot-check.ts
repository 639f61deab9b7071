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
