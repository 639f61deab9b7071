/**
 * The judge: accept, reject or ask for more, from a shard's results and the
 * reputations of their hosts (quorum.ts decides which group of agreeing
 * results may be accepted), and what each judged copy does to its host's
 * reputation and credit.
 *
 * A result is "checked" when a trusted host's result is in its group, or
 * when independent results agree (two or more untrusted hosts, accepted only
 * while no trusted host can be had). One result accepted on no one's word
 * (replicas 1, an untrusted host, no trusted host to be had) is unchecked:
 * the project gets it, marked so, and it earns no credit and no reputation.
 * A result that stood alone on a trusted host's word is checked by that
 * trust; it earns credit but no streak (nothing compared it), and spot
 * checks and backtracking (spot-check.ts) are what keep it honest.
 */
import type { Disagreement } from '../validation/quorum.ts';
import { decideTrustQuorum } from './quorum.ts';

export interface JudgedResult<R> {
  copyId: string;
  result: R;
  /** Its host is trusted in its numeric class now. */
  trusted: boolean;
  /** Drawn to stand alone when it was issued (replication.ts). */
  solo: boolean;
  /**
   * Its trusted host has no checked pace in this job yet (pace.ts paceCheck 'first'): it never stands alone, and
   * it vouches only beside another trusted result (quorum.ts).
   */
  first?: boolean;
}

export interface JudgeInput {
  replicas: number;
  /** A trusted host that may compute the job can be had now. */
  trustedAvailable: boolean;
}

/** What a judged copy does to its host's reputation: nothing, when no other result compared it. */
export type ReputationChange = 'valid' | 'invalid' | null;

export type Verdict =
  | {
    accept: true;
    canonical: string;
    valid: string[];
    invalid: { copyId: string; reason: string }[];
    /** Accepted on no trusted or independent word: credited 0. */
    unchecked: boolean;
    /** Per judged copy id. */
    reputation: Map<string, ReputationChange>;
  }
  | { accept: false; reason: string; wanted: number };

export function judge<R>(results: readonly JudgedResult<R>[], input: JudgeInput, differ: Disagreement<R>): Verdict {
  const lone = results.length === 1 ? results[0]! : null;
  if (lone && (!lone.trusted || lone.first === true) && input.replicas === 1 && !input.trustedAvailable) {
    // The project asked for one result and nothing better can be had: it gets it, unchecked.
    return { accept: true, canonical: lone.copyId, valid: [lone.copyId], invalid: [], unchecked: true, reputation: new Map([[lone.copyId, null]]) };
  }
  const soloDrawn = !!lone && lone.trusted && lone.solo && lone.first !== true;
  const d = decideTrustQuorum(results, { replicas: input.replicas, soloDrawn, trustedAvailable: input.trustedAvailable }, differ);
  if (!d.consensus) return { accept: false, reason: d.reason, wanted: d.wanted };
  const reputation = new Map<string, ReputationChange>();
  // A result that no other result agreed with (a trusted one standing alone) says nothing about its host.
  for (const id of d.valid) reputation.set(id, d.valid.length >= 2 ? 'valid' : null);
  for (const bad of d.invalid) reputation.set(bad.copyId, 'invalid');
  return { accept: true, canonical: d.canonical, valid: d.valid, invalid: d.invalid, unchecked: false, reputation };
}

/**
 * A result returned after its shard was validated, against the canonical
 * result: valid if it agrees. It counts for its host's reputation only when
 * the canonical result was itself checked; it is credited only then too.
 */
export function judgeLate(agreesWhy: string | null, canonicalUnchecked: boolean): { outcome: 'valid' | 'invalid'; reason: string; reputation: ReputationChange; credited: boolean } {
  if (agreesWhy === null) {
    return canonicalUnchecked
      ? { outcome: 'valid', reason: 'late, agrees with an unchecked canonical result', reputation: null, credited: false }
      : { outcome: 'valid', reason: 'late, agrees with the canonical result', reputation: 'valid', credited: true };
  }
  // Disagreeing with an unchecked result proves nothing against the host.
  return { outcome: 'invalid', reason: `disagrees with the canonical result: ${agreesWhy}`, reputation: canonicalUnchecked ? null : 'invalid', credited: false };
}
