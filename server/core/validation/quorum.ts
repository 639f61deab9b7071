/**
 * The validator, after BOINC's: once a shard has as many successful results
 * as it wants, look for a result that enough others agree with. That one is
 * canonical; results agreeing with it are valid, the rest invalid. No such
 * result means no consensus: the shard wants one more copy.
 */
export interface Candidate<R> {
  copyId: string;
  result: R;
}

export type Disagreement<R> = (a: R, b: R) => string | null;

export type QuorumDecision =
  | { consensus: true; canonical: string; valid: string[]; invalid: { copyId: string; reason: string }[] }
  | { consensus: false; reason: string };

/** Agreeing results needed for `replicas` = R: a strict majority of R (R=1 → 1, R=2 → 2, R=3 → 2). */
export function agreementNeeded(replicas: number): number {
  return Math.floor(replicas / 2) + 1;
}

export function decideQuorum<R>(results: readonly Candidate<R>[], replicas: number, differ: Disagreement<R>): QuorumDecision {
  const need = agreementNeeded(replicas);
  if (results.length < Math.max(1, Math.min(replicas, need))) {
    return { consensus: false, reason: `${results.length} result(s), ${replicas} wanted` };
  }
  const n = results.length;
  const why: (string | null)[][] = Array.from({ length: n }, () => new Array<string | null>(n).fill(null));
  const agreeCount = new Array<number>(n).fill(1);
  for (let i = 0; i < n; i++) {
    for (let j = i + 1; j < n; j++) {
      const w = differ(results[i]!.result, results[j]!.result);
      why[i]![j] = w;
      why[j]![i] = w;
      if (w === null) { agreeCount[i]!++; agreeCount[j]!++; }
    }
  }
  let best = 0;
  for (let i = 1; i < n; i++) if (agreeCount[i]! > agreeCount[best]!) best = i;
  if (agreeCount[best]! < need) {
    const sample = why[0]!.find((w) => w !== null) ?? 'results differ';
    return { consensus: false, reason: `no ${need} of ${n} results agree (${sample})` };
  }
  const valid: string[] = [];
  const invalid: { copyId: string; reason: string }[] = [];
  results.forEach((r, i) => {
    if (i === best || why[best]![i] === null) valid.push(r.copyId);
    // Re-asked in canonical-first order so the message reads "canonical vs yours".
    else invalid.push({ copyId: r.copyId, reason: `disagrees with the canonical result: ${differ(results[best]!.result, r.result)}` });
  });
  return { consensus: true, canonical: results[best]!.copyId, valid, invalid };
}
