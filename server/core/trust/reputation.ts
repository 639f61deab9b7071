/**
 * A volunteer host's reputation per numeric class (BOINC keeps it per host and
 * app version): the current streak of consecutive valid results, when that
 * streak began (backtracking re-verifies what a host returned unreplicated
 * since then), and its history. New hosts start untrusted. Pure: the stores
 * persist what these functions return.
 */
import { paceCheck, type Seen } from './pace.ts';
import type { TrustPolicy } from './policy.ts';

export interface Reputation {
  volunteerId: string;
  numericClass: string;
  /** Consecutive valid results; any invalid result resets it to 0. */
  streak: number;
  /** When the current streak's first valid result was judged (null: no streak). */
  streakSince: number | null;
  valid: number;
  invalid: number;
  /** Errors and expiries: counted, but they do not reset the streak (a closed tab is not a lie). */
  errors: number;
  spotPassed: number;
  spotFailed: number;
  lastInvalidAt: number | null;
  updatedAt: number;
  /**
   * The root of trust: a volunteer the operator runs (it presented the
   * coordinator's operator token). Trusted from its first result, whatever
   * its streak; absent or false for everyone else.
   */
  operator?: boolean;
  /**
   * The operator's host returned an invalid result or failed a spot check in
   * this class: its operator trust is gone for good, and a later hello with
   * the operator token does not restore it (a stolen token or a broken
   * machine must not stay trusted). The operator re-registers the machine
   * under a new volunteer id.
   */
  operatorRevoked?: boolean;
}

export type ReputationEvent = 'valid' | 'invalid' | 'error' | 'spot-pass' | 'spot-fail';

export function newReputation(volunteerId: string, numericClass: string, now: number): Reputation {
  return {
    volunteerId, numericClass, streak: 0, streakSince: null, valid: 0, invalid: 0, errors: 0,
    spotPassed: 0, spotFailed: 0, lastInvalidAt: null, updatedAt: now,
  };
}

/**
 * The reputation after one judged copy. A failed spot check is an invalid result that also counts as caught.
 */
export function afterEvent(r: Reputation, ev: ReputationEvent, now: number): Reputation {
  const n = { ...r, updatedAt: now };
  switch (ev) {
    case 'valid':
    case 'spot-pass':
      n.valid++;
      if (n.streak === 0) n.streakSince = now;
      n.streak++;
      if (ev === 'spot-pass') n.spotPassed++;
      return n;
    case 'invalid':
    case 'spot-fail':
      n.invalid++;
      n.streak = 0;
      n.streakSince = null;
      n.lastInvalidAt = now;
      if (ev === 'spot-fail') n.spotFailed++;
      if (n.operator) {
        delete n.operator;
        n.operatorRevoked = true;
      }
      return n;
    case 'error':
      n.errors++;
      return n;
  }
}

/**
 * Whether the operator token may make this host an operator's, from all its
 * reputation rows (every numeric class): never once its operator trust was
 * revoked in any. The class is the host's own claim (its backend and
 * onnxruntime version), so a caught host announcing another version would
 * otherwise be the operator's again in a class it has no row in.
 */
export function mayMarkOperator(rows: readonly Pick<Reputation, 'operatorRevoked'>[]): boolean {
  return !rows.some((r) => r.operatorRevoked === true);
}

type TrustFacts = Pick<Reputation, 'streak'> & Partial<Pick<Reputation, 'operator'>>;

export function isTrusted(r: TrustFacts | null | undefined, policy: Pick<TrustPolicy, 'trustAfter'>): boolean {
  return !!r && (r.operator === true || r.streak >= policy.trustAfter);
}

/**
 * How a result counts. 'trusted': its host is trusted in the class and the
 * pace rule finds nothing (pace.ts paceCheck). 'trusted, not alone': its host
 * is trusted but has no checked result in the result's job yet; it counts as
 * a trusted host's result but may not stand alone. 'untrusted': its host is
 * not trusted, or the result is far faster than the host's checked pace in
 * the job; it never stands alone and never outvotes a trusted one.
 * `timing`: the host's pace in the result's job and the result's own
 * (pace.ts copyPace); null where the rule does not read it (off, a copy in
 * flight, a job of another kind).
 */
export type ResultTrust = 'trusted' | 'trusted, not alone' | 'untrusted';

export function resultTrust(r: TrustFacts | null | undefined, timing: PaceTiming | null, policy: Pick<TrustPolicy, 'trustAfter'>): ResultTrust {
  return trustWithPace(isTrusted(r, policy), r ?? {}, timing);
}

type PaceTiming = { pace: number | null; seen: Seen | null };

/** resultTrust for a host whose trust in the class was read already (a store's query: streak or operator). */
export function trustWithPace(trusted: boolean, host: { operator?: boolean }, timing: PaceTiming | null): ResultTrust {
  if (!trusted) return 'untrusted';
  const check = timing ? paceCheck(host, timing.pace, timing.seen) : 'ok';
  return check === 'too-fast' ? 'untrusted' : check === 'first' ? 'trusted, not alone' : 'trusted';
}

/**
 * BOINC's adaptive replication: a trusted host's copy is replicated with
 * probability 1/streak, never below the policy's floor; an untrusted host's
 * always.
 */
export function replicateProbability(r: TrustFacts | null | undefined, policy: Pick<TrustPolicy, 'trustAfter' | 'minReplicateProbability'>): number {
  if (!isTrusted(r, policy)) return 1;
  // An operator's host counts as having just earned trust until its own streak says more.
  return Math.max(policy.minReplicateProbability, 1 / Math.max(r!.streak, r!.operator ? policy.trustAfter : 1));
}

/** Whether this result may stand alone; `draw` is uniform in [0, 1) (injected, so callers and tests fix it). */
export function mayStandAlone(r: TrustFacts | null | undefined, policy: Pick<TrustPolicy, 'trustAfter' | 'minReplicateProbability'>, draw: number): boolean {
  return isTrusted(r, policy) && draw >= replicateProbability(r, policy);
}

/** Why a host stopped being trusted: an invalid result, a failed spot check, or (an operator's host) either, which revokes its operator trust. */
export type TrustLossReason = 'invalid' | 'spot_check_failed' | 'operator_revoked';

/**
 * What one judgement did to a host's trust, from its reputation before and
 * after: earned it (its streak reached trustAfter), lost it (and why), or
 * nothing. What the coordinator logs and counts, never what it decides on.
 */
export function trustChange(
  before: Reputation | null | undefined, after: Reputation | null | undefined, policy: Pick<TrustPolicy, 'trustAfter'>,
  /** The result was judged against a known answer (a late copy of a validated shard): a spot check, whatever event it wrote. */
  againstKnown = false,
): { change: 'earned' } | { change: 'lost'; reason: TrustLossReason } | null {
  const was = isTrusted(before, policy);
  const is = isTrusted(after, policy);
  if (!was && is) return { change: 'earned' };
  if (!was || is) return null;
  if (before?.operator && after?.operatorRevoked) return { change: 'lost', reason: 'operator_revoked' };
  return { change: 'lost', reason: againstKnown || (after?.spotFailed ?? 0) > (before?.spotFailed ?? 0) ? 'spot_check_failed' : 'invalid' };
}
