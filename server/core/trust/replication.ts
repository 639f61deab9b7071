/**
 * Adaptive replication (BOINC's, with a root of trust): how many copies a
 * shard still needs, and whether the volunteer asking now may hold one,
 * given the reputations of the copies' holders and the job's replicas.
 *
 * Pull-based dispatch hands the next copy to whoever asks first, and a liar
 * that never computes asks far more often than an honest volunteer. So the
 * copies of a shard are not first come, first served: while a trusted host
 * can be had, untrusted hosts may hold only the copies a trusted result's
 * group still needs beside it (one, at replicas 1 or 2), and the rest wait
 * for a trusted host. Two untrusted hosts then never hold every copy of a
 * shard between them, whatever the order of their requests.
 *
 * A trusted host asking for a fresh shard gets it unreplicated with
 * probability 1 - replicateProbability (1/streak, capped: reputation.ts),
 * which is what brings an honest swarm's cost towards one copy per shard.
 * Replicas above SOLO_MAX_REPLICAS are the project raising the floor: no
 * copy of such a job stands alone. Pure: the stores call it under the lock
 * that makes their read of the holders hold.
 */
import { agreementNeeded } from '../validation/quorum.ts';
import type { TrustPolicy } from './policy.ts';
import { isTrusted, mayStandAlone, type Reputation } from './reputation.ts';

/** Jobs asking for more replicas than this never get an unreplicated copy. */
export const SOLO_MAX_REPLICAS = 2;

/** A live copy of the shard (in flight, or returned and not judged invalid), as replication sees it. */
export interface Holder {
  trusted: boolean;
  /** Drawn to stand alone when it was issued. */
  solo: boolean;
  /** Issued and not yet returned. */
  inFlight?: boolean;
}

export interface ReplicationInput {
  /** The job's replicas: results a shard wants when no copy stands alone. */
  replicas: number;
  /** The shard's `wanted` now (grows by one on each failed consensus). */
  wanted: number;
  holders: readonly Holder[];
  /** The asking volunteer's reputation in its numeric class; null: none yet (a new host). */
  asker: Pick<Reputation, 'streak'> & Partial<Pick<Reputation, 'operator'>> | null;
  /** A trusted host that may compute this job is connected (it can be had). */
  trustedAvailable: boolean;
  /** Uniform in [0, 1): injected so callers and tests fix it. */
  draw: number;
  policy: Pick<TrustPolicy, 'trustAfter' | 'minReplicateProbability'> & Partial<Pick<TrustPolicy, 'oneCopyAtATime'>>;
  /** The job's results are compared against one answer (inference): only those go out one copy at a time. */
  compared?: boolean;
  /**
   * No copy of the shard was ever issued (its `issued` is 0). Only such a shard's copy may stand alone (or one
   * whose lost solo copy left it wanting a single result): a shard re-opened (backtracking, a void agreement) is
   * recomputed with agreement, or a trusted liar drawn to stand alone on it would answer for it alone again
   * (found by `npm run simulate`, patient on-off attackers: the only wrong shards left at f = 10 %, 4 of 50,000).
   * Absent: taken as fresh.
   */
  fresh?: boolean;
}

export type ReplicationDecision =
  /** `wanted`: the shard's wanted after this copy (1 for a copy that stands alone). */
  | { take: true; solo: boolean; wanted: number }
  | { take: false; why: string };

/** Why a shard held back by oneCopyAtATime gives nobody a copy now (the claim's 'copy in flight'). */
export const COPY_IN_FLIGHT = 'its copy in flight comes back first';

/**
 * Whether a compared shard's next copy waits for its copies out to return (oneCopyAtATime): whoever asks, so the
 * wait diagnosis (scheduler/why-waiting.ts) can say so without knowing who would ask.
 */
export function waitsForCopyInFlight(c: Pick<ReplicationInput, 'holders' | 'compared'> & { policy: Partial<Pick<TrustPolicy, 'oneCopyAtATime'>> }): boolean {
  return c.policy.oneCopyAtATime === true && c.compared === true && c.holders.some((h) => h.inFlight);
}

/** Untrusted copies a shard may have while none of its live copies is trusted and a trusted host can be had. */
export function untrustedSlots(replicas: number): number {
  return Math.max(1, agreementNeeded(replicas) - 1);
}

export function decideReplication(c: ReplicationInput): ReplicationDecision {
  const trusted = c.holders.filter((h) => h.trusted).length;
  const untrusted = c.holders.length - trusted;
  // A solo copy whose host has lost its trust since (caught on another copy) stands alone no more: the judge
  // then wants a second result, and refusing everyone would stall the shard for good. Nor does one the judge
  // has asked a second result for (wanted > 1: its result was the host's first in the job, or too fast, when it
  // was judged), even if the holder's pace now reads otherwise: the judge is not asked again until a result comes.
  if (c.wanted <= 1 && c.holders.some((h) => h.solo && h.trusted)) return { take: false, why: 'a trusted host computes this shard alone' };
  if (c.holders.length >= c.wanted) return { take: false, why: 'the shard has the copies it wants' };
  if (waitsForCopyInFlight(c)) return { take: false, why: COPY_IN_FLIGHT };
  const floor = Math.max(c.wanted, c.replicas);
  if (isTrusted(c.asker, c.policy)) {
    // A lost solo copy left its shard wanting one result: that one may stand alone again (nothing was answered).
    if (c.holders.length === 0 && (c.fresh !== false || c.wanted <= 1)) {
      // Replicas 1: the project accepts one result, and a trusted one needs no partner.
      if (c.replicas === 1) return { take: true, solo: true, wanted: 1 };
      if (c.replicas <= SOLO_MAX_REPLICAS && mayStandAlone(c.asker, c.policy, c.draw)) return { take: true, solo: true, wanted: 1 };
    }
    return { take: true, solo: false, wanted: floor };
  }
  if (c.trustedAvailable) {
    // Each trusted copy may have as many untrusted copies beside it as a group needs (one, at replicas 1 to 3),
    // never more: a disagreement's extra copies go to trusted hosts, or fast liars would take every one of them
    // and use up the shard's copies (it fails, and its job with it).
    if (untrusted >= untrustedSlots(c.replicas) * Math.max(1, trusted)) {
      return { take: false, why: trusted === 0 ? 'its other copies are kept for a trusted host' : 'its next copy is kept for a trusted host' };
    }
    // An untrusted result needs a trusted one beside it, even at replicas 1.
    return { take: true, solo: false, wanted: Math.max(floor, 2) };
  }
  // No trusted host can be had: untrusted hosts check each other (replicas 1: one unchecked result, credited 0).
  return { take: true, solo: false, wanted: floor };
}

/** Whether any trusted host that is connected may compute the job: `runsOn` is the job kind's backend rule. */
export function trustedCanBeHad(trustedClasses: Iterable<string>, runsOn: (numericClass: string) => boolean): boolean {
  for (const cls of trustedClasses) if (runsOn(cls)) return true;
  return false;
}
