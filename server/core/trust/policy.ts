/**
 * The knobs of the trust core, in one place. Defaults follow BOINC's adaptive
 * replication (a host is reliable after 10 consecutive valid results) and
 * Sarmenta's spot-checking (a small fraction q of copies carry known answers).
 */
export interface TrustPolicy {
  /** Consecutive valid results (per host and numeric class) before a host is trusted. */
  trustAfter: number;
  /** A trusted host's copy is still replicated with probability max(1/streak, this): the cap on BOINC's 1/streak. */
  minReplicateProbability: number;
  /** Fraction of a trusted-or-not host's requests answered with a known-answer copy (spot check). */
  spotCheckFraction: number;
  /** A numeric class is honoured (kept apart for homogeneous jobs) only once this many distinct hosts share it. */
  classQuorum: number;
  /**
   * A replicated inference shard's copies go out one at a time: the next only once the live ones have
   * returned. A careful group lies only where it holds every copy of a shard; one copy at a time, whoever
   * holds the first must answer before anyone knows who gets the second (replication.ts).
   */
  oneCopyAtATime: boolean;
  /**
   * The pace rule (pace.ts): a trusted host's inference result far faster than its checked pace in the job is
   * judged as an untrusted host's, and its first result in a job does not stand alone. Off (`--pace off`): fast
   * on-off attackers frame honest hosts (pace.ts says how).
   */
  pace: boolean;
}

export const DEFAULT_TRUST: TrustPolicy = {
  trustAfter: 10,
  minReplicateProbability: 0.05,
  spotCheckFraction: 0.05,
  classQuorum: 3,
  oneCopyAtATime: true,
  pace: true,
};

/** Checks a policy from flags or options; throws a precise message for a bad value. */
export function trustPolicy(p: Partial<TrustPolicy>): TrustPolicy {
  const out = { ...DEFAULT_TRUST, ...p };
  if (!Number.isInteger(out.trustAfter) || out.trustAfter < 1) throw new Error(`trustAfter must be an integer >= 1; got ${out.trustAfter}`);
  if (!(out.minReplicateProbability > 0 && out.minReplicateProbability <= 1)) throw new Error(`minReplicateProbability must be in (0, 1]; got ${out.minReplicateProbability}`);
  if (!(out.spotCheckFraction >= 0 && out.spotCheckFraction < 1)) throw new Error(`spotCheckFraction must be in [0, 1); got ${out.spotCheckFraction}`);
  if (!Number.isInteger(out.classQuorum) || out.classQuorum < 1) throw new Error(`classQuorum must be an integer >= 1; got ${out.classQuorum}`);
  if (typeof out.pace !== 'boolean') throw new Error(`pace must be true or false; got ${JSON.stringify(out.pace)}`);
  if (typeof out.oneCopyAtATime !== 'boolean') throw new Error(`oneCopyAtATime must be true or false; got ${JSON.stringify(out.oneCopyAtATime)}`);
  return out;
}
