/**
 * The validator with trust (Sarmenta's credibility-based voting, with BOINC's
 * adaptive replication as the floor). Plain majority voting lets two
 * colluding identities outvote the truth; here a group of agreeing results
 * is accepted only if:
 *  - it holds a trusted host's result and as many results as a strict
 *    majority of the job's replicas, or the one trusted result was drawn to
 *    stand alone (`soloDrawn`), or the job wants a single result; or
 *  - it holds at least two results and a majority of replicas, all from
 *    untrusted hosts, and no trusted host can be had (`trustedAvailable`
 *    false: a swarm that is just starting). An untrusted result never stands
 *    alone.
 * Among acceptable groups the one with more trusted results wins, then the
 * larger, then the earlier: an untrusted crowd never outvotes a trusted host.
 *
 * A trusted host's result in a job where it has no checked pace yet
 * (`first`: pace.ts) vouches only beside another trusted result: one such
 * result with none, or only untrusted ones, beside it counts as untrusted.
 * Two of them agreeing check each other (a fresh job has no other kind),
 * and a group with a paced trusted result outranks one without.
 */
import { agreementNeeded, type Candidate, type Disagreement } from '../validation/quorum.ts';

export interface TrustCandidate<R> extends Candidate<R> {
  trusted: boolean;
  /** A trusted host's result in a job where it has no checked pace yet (pace.ts paceCheck 'first'). */
  first?: boolean;
}

/** How many of a group's results count as trusted ones, and how many of those have a pace in the job. */
export function trustedIn(members: readonly Pick<TrustCandidate<unknown>, 'trusted' | 'first'>[]): { trusted: number; paced: number } {
  let paced = 0;
  let first = 0;
  for (const m of members) if (m.trusted) { if (m.first) first++; else paced++; }
  return { trusted: paced > 0 || first >= 2 ? paced + first : 0, paced };
}

export interface TrustQuorumInput {
  replicas: number;
  /** The single trusted result present was drawn to stand alone (see reputation.ts mayStandAlone). */
  soloDrawn: boolean;
  /** A trusted host (of a class the job accepts) can be had now. */
  trustedAvailable: boolean;
}

export type TrustDecision =
  | { consensus: true; canonical: string; valid: string[]; invalid: { copyId: string; reason: string }[]; solo: boolean }
  | { consensus: false; reason: string; wanted: number };

/** Results an untrusted-only group needs: never one. */
export function untrustedNeeded(replicas: number): number {
  return Math.max(2, agreementNeeded(replicas));
}

export function decideTrustQuorum<R>(results: readonly TrustCandidate<R>[], input: TrustQuorumInput, differ: Disagreement<R>): TrustDecision {
  const n = results.length;
  const need = agreementNeeded(input.replicas);
  // What a shard wants when nothing is accepted: the replicas an untrusted result needs, then one more each time.
  const more = (reason: string): TrustDecision => ({ consensus: false, reason, wanted: n < untrustedNeeded(input.replicas) ? untrustedNeeded(input.replicas) : n + 1 });
  if (n === 0) return more('no results');
  const why: (string | null)[][] = Array.from({ length: n }, () => new Array<string | null>(n).fill(null));
  for (let i = 0; i < n; i++) {
    for (let j = i + 1; j < n; j++) {
      const w = differ(results[i]!.result, results[j]!.result);
      why[i]![j] = w;
      why[j]![i] = w;
    }
  }
  let best = -1;
  let bestPaced = -1;
  let bestTrusted = -1;
  let bestSize = -1;
  let sawUntrustedOnly = false;
  for (let i = 0; i < n; i++) {
    const members = results.filter((_, j) => j === i || why[i]![j] === null);
    const { trusted, paced } = trustedIn(members);
    const size = members.length;
    const acceptable = trusted > 0
      ? size >= need || (size === 1 && input.soloDrawn)
      : size >= untrustedNeeded(input.replicas) && !input.trustedAvailable;
    if (!acceptable) {
      if (trusted === 0 && size >= untrustedNeeded(input.replicas)) sawUntrustedOnly = true;
      continue;
    }
    if (paced > bestPaced || (paced === bestPaced && (trusted > bestTrusted || (trusted === bestTrusted && size > bestSize)))) {
      best = i;
      bestPaced = paced;
      bestTrusted = trusted;
      bestSize = size;
    }
  }
  if (best < 0) {
    if (sawUntrustedOnly) return more(`${n} result(s) agree only among untrusted hosts while a trusted host can be had`);
    if (n === 1) {
      return more(!results[0]!.trusted ? 'an untrusted result never stands alone'
        : results[0]!.first ? 'a trusted host\'s first result in this job is checked' : 'a trusted result drawn for replication');
    }
    const sample = why[0]!.find((w, j) => j !== 0 && w !== null) ?? 'results differ';
    return more(`no acceptable agreement among ${n} results (${sample})`);
  }
  // The canonical result is the group's first paced trusted one where it has one, else its first trusted one.
  const inGroup = (i: number) => i === best || why[best]![i] === null;
  const pacedAt = results.findIndex((r, i) => inGroup(i) && r.trusted && !r.first);
  const canonical = pacedAt >= 0 ? pacedAt : results.findIndex((r, i) => inGroup(i) && r.trusted);
  const k = canonical >= 0 ? canonical : best;
  const valid: string[] = [];
  const invalid: { copyId: string; reason: string }[] = [];
  results.forEach((r, i) => {
    if (inGroup(i)) valid.push(r.copyId);
    else invalid.push({ copyId: r.copyId, reason: `disagrees with the canonical result: ${differ(results[k]!.result, r.result)}` });
  });
  return { consensus: true, canonical: results[k]!.copyId, valid, invalid, solo: valid.length === 1 };
}
