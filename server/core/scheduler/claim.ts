/**
 * The claim decision (BOINC's scheduler, per shard): may this volunteer take
 * a copy of this shard now, and if so, the copy it gets. Every store calls
 * it, so the policy lives here once; a store only finds candidate shards,
 * reads what the decision needs and writes the copy it returns.
 *
 * The checks, in order: the shard still wants a copy; the volunteer may take
 * one beside the copies already issued (mayTakeCopy); the job is running; the
 * job's kind lets the volunteer's backend compute it; under the trust rules,
 * the volunteer's numeric class may hold a homogeneous shard's copies now
 * (those three hold for every shard of a job: jobRefusal); the kind's cap on the
 * shards one volunteer holds (a training round's). The cap spans a round's
 * shards, more than the store has read for one shard, so the decision asks
 * for that count (`count`) instead of taking it up front: the store counts
 * (under whatever lock makes the count hold) and decides again with
 * `heldInRound`. Last, under the trust rules, adaptive replication
 * (trust/replication.ts): the shard's next copy may be kept for a trusted
 * host, or (an inference shard, one copy at a time) wait for its copy in
 * flight to come back.
 */
import { kindOf } from '../jobs/kinds.ts';
import type { Copy, Job, Shard } from '../jobs/types.ts';
import type { TrustPolicy } from '../trust/policy.ts';
import { type ClassCensus, type ClassRefusal, type HomogeneousClasses, homogeneousClassProblem } from '../trust/numeric-class.ts';
import { COPY_IN_FLIGHT, decideReplication, type Holder, trustedCanBeHad } from '../trust/replication.ts';
import { copyPace, type Seen, shardRecords } from '../trust/pace.ts';
import { isTrusted, type Reputation, type ResultTrust } from '../trust/reputation.ts';
import { assignedCopy } from './assigned-copy.ts';
import { type BindsClass, type CopyIdentity, type DistinctRule, inFlight, type VolunteerIdentity, mayTakeCopy, withinRoundCap } from './eligibility.ts';

/**
 * What adaptive replication needs beside the shard (core/trust/replication.ts):
 * the asker's reputation, who is trusted, which trusted classes are connected,
 * and a draw. Absent: no trust rules (plain replication, as before issue 13).
 */
export interface ClaimTrust {
  /** Whole, oneCopyAtATime included: a knob left out of a policy built field by field would silently be off. */
  policy: Pick<TrustPolicy, 'trustAfter' | 'minReplicateProbability' | 'classQuorum' | 'oneCopyAtATime'> & Partial<Pick<TrustPolicy, 'pace'>>;
  /** The asking volunteer's reputation in its numeric class; null: a new host. */
  asker: Pick<Reputation, 'streak'> & Partial<Pick<Reputation, 'operator'>> | null;
  /** Numeric classes of the trusted hosts connected now (to any coordinator on the same database). */
  trustedClasses: readonly string[];
  /**
   * The same less the hosts that hold a copy of the shard (`holders`: volunteer ids), which cannot take another:
   * whether a trusted host can still be had for it. Hosts on other coordinators are not told by id and count as
   * free. Absent: trustedClasses.
   */
  trustedClassesBesides?: (holders: ReadonlySet<string>) => readonly string[];
  /** Distinct address groups announcing each numeric class (core/trust/numeric-class.ts): homogeneous jobs honour only classes enough announce. */
  census: ClassCensus;
  /** Uniform in [0, 1). */
  draw: number;
  /**
   * How the holder of a copy counts for this copy (reputation.ts resultTrust): the store reads its reputation in the
   * copy's class and, when `seen` (a returned copy's pace: core/trust/pace.ts copyPace; null in flight, unknown, or
   * the rule off) is given, its pace in job `jobId`.
   */
  holderTrust: (c: CopyIdentity, seen: Seen | null, jobId: string) => ResultTrust;
}

/** Copies that still count toward the quorum: in flight, or returned and not judged invalid. */
const holding = (c: CopyIdentity): boolean => inFlight(c) || (c.state === 'returned' && c.outcome !== 'invalid');

/**
 * Whether the job's results are compared against one answer (inference), so its shards' copies go out one at a
 * time under oneCopyAtATime (trust/replication.ts). A training round's updates are aggregated, each checked
 * against the others' spread, and gone: holding a round's second copy back would only stretch the round.
 */
export const comparedJob = (job: Pick<Job, 'kind'>): boolean => job.kind === 'inference';

/** A shard with the counters the dispatcher reads beside the Shard itself. */
export interface ClaimableShard extends Shard {
  /** Copies that still count toward the quorum (in flight, or returned and not invalid). */
  alive: number;
  /** Copies ever to be issued (the job's maxTotalCopies). */
  maxTotal: number;
  homogeneous: boolean;
}

/** Open, fewer copies alive than it wants, and copies left to issue. */
export const wanting = (s: ClaimableShard): boolean => s.state === 'open' && s.alive < s.wanted && s.issued < s.maxTotal;

export interface ClaimInput {
  shard: ClaimableShard;
  /** Every copy of the shard issued so far, whatever its state. */
  copies: readonly CopyIdentity[];
  /** The shard's job as committed now; null when it is gone. */
  job: Job | null;
  volunteer: VolunteerIdentity & { account: string };
  rules: ReadonlySet<DistinctRule>;
  now: number;
  /** The id the new copy gets (the store makes one per claim). */
  copyId: string;
  /** Copies of the shard's round the volunteer holds, once the decision asked for them. */
  heldInRound?: number;
  trust?: ClaimTrust;
}

export type ClaimRefusal = 'not wanting' | 'not distinct' | 'job not running' | 'backend not allowed' | 'round cap' | 'kept for a trusted host' | 'copy in flight' | ClassRefusal;

export type ClaimDecision =
  /** `wanted`: the shard's wanted after this copy (adaptive replication may lower it to 1 or raise it). */
  | { take: true; copy: Copy; wanted: number }
  | { take: false; why: ClaimRefusal }
  /** The volunteer's live copies of shards with index in [from, to) of this job are needed: count them, decide again. */
  | { take: 'count'; jobId: string; from: number; to: number };

/** The class rules' inputs for a homogeneous job: the trusted classes that may compute it. */
export function homogeneousClasses(t: Pick<ClaimTrust, 'census' | 'trustedClasses' | 'policy'>, job: Job): HomogeneousClasses {
  const kind = kindOf(job.spec);
  return { census: t.census, trustedClasses: t.trustedClasses.filter((cls) => kind.runsOn(job.spec, cls)), policy: t.policy };
}

/** The claim's trust input less what differs per shard (the holders' trust) or per claim (the draw). */
export type JobClaimTrust = Omit<ClaimTrust, 'holderTrust' | 'draw'>;

/**
 * The claim's refusals that hold for every shard of a job: it is gone or not
 * running, the volunteer's backend may not compute it, or (a homogeneous
 * shard, under the trust rules) the volunteer's numeric class may not hold
 * its copies now. decideClaim refuses with these; a store deciding a queue of
 * shards asks once per job (jobRefusals) and skips a refused job's shards
 * instead of deciding each: a host refused by class asks again every few
 * seconds, and each request used to decide every wanting shard in the queue.
 */
export function jobRefusal(job: Job | null, homogeneous: boolean, v: VolunteerIdentity, trust?: JobClaimTrust): ClaimRefusal | null {
  if (!job || job.state !== 'running') return 'job not running';
  if (!kindOf(job.spec).runsOn(job.spec, v.numericClass)) return 'backend not allowed';
  if (trust && homogeneous) return homogeneousClassProblem(v.numericClass, isTrusted(trust.asker, trust.policy), homogeneousClasses(trust, job));
  return null;
}

export type JobRefusals = (job: Job | null, homogeneous: boolean) => ClaimRefusal | null;

/** jobRefusal remembered per job (and homogeneity) for one claim request: the jobs' states must not change meanwhile. */
export function jobRefusals(v: VolunteerIdentity, trust?: JobClaimTrust): JobRefusals {
  const seen = new Map<string, ClaimRefusal | null>();
  return (job, homogeneous) => {
    if (!job) return 'job not running';
    const key = `${homogeneous ? 'h' : 'm'}${job.id}`;
    let r = seen.get(key);
    if (r === undefined) seen.set(key, r = jobRefusal(job, homogeneous, v, trust));
    return r;
  };
}

export function decideClaim(c: ClaimInput): ClaimDecision {
  const { shard, job, volunteer: v } = c;
  if (!wanting(shard)) return { take: false, why: 'not wanting' };
  // A homogeneous shard under the trust rules: which classes may hold its copies now (numeric-class.ts).
  const classes = c.trust && shard.homogeneous && job ? homogeneousClasses(c.trust, job) : null;
  // A returned copy too fast for its host's pace in the job is an untrusted host's (pace.ts): it neither stands alone
  // nor binds a class; one of a host with no pace in the job yet does not stand alone either. With the rule off
  // (TrustPolicy.pace), no copy's pace is read: nothing is doubted.
  const records = job && c.trust?.policy.pace === true ? shardRecords(job.spec, shard) : null;
  const holderTrust = (h: CopyIdentity): ResultTrust => c.trust!.holderTrust(h, records === null ? null : copyPace(h, records), shard.jobId);
  const holderTrusted = (h: CopyIdentity): boolean => holderTrust(h) !== 'untrusted';
  const binds: BindsClass | undefined = classes ? (h) => homogeneousClassProblem(h.numericClass, holderTrusted(h), classes) === null : undefined;
  if (!mayTakeCopy(v, c.copies, c.rules, shard.homogeneous, binds)) return { take: false, why: 'not distinct' };
  // Before any count is asked for: every refusal here is cheap.
  const refused = jobRefusal(job, shard.homogeneous, v, c.trust);
  if (refused || !job) return { take: false, why: refused ?? 'job not running' };
  const kind = kindOf(job.spec);
  const cap = kind.capWindow(job.spec, shard.index);
  if (cap) {
    if (c.heldInRound === undefined) return { take: 'count', jobId: job.id, from: cap.from, to: cap.to };
    if (!withinRoundCap(c.heldInRound, cap.cap)) return { take: false, why: 'round cap' };
  }
  let solo = false;
  let wanted = shard.wanted;
  if (c.trust) {
    const t = c.trust;
    // A trusted host's first result in the job never stands alone (quorum.ts): its shard wants a check, which an
    // untrusted host may compute beside it (the judge asks for a trusted one too while one that holds no copy can be had).
    const holders: Holder[] = c.copies.filter(holding).map((h) => {
      const trust = holderTrust(h);
      return { trusted: trust !== 'untrusted', solo: h.solo === true && trust === 'trusted', inFlight: inFlight(h) };
    });
    const r = decideReplication({
      replicas: job.spec.limits.replicas, wanted: shard.wanted, holders, asker: t.asker, draw: t.draw, policy: t.policy,
      trustedAvailable: trustedCanBeHad(t.trustedClassesBesides ? t.trustedClassesBesides(new Set(c.copies.map((h) => h.volunteerId))) : t.trustedClasses,
        (cls) => kind.runsOn(job.spec, cls)),
      compared: comparedJob(job),
      fresh: shard.issued === 0,
    });
    if (!r.take) return { take: false, why: r.why === COPY_IN_FLIGHT ? 'copy in flight' : 'kept for a trusted host' };
    solo = r.solo;
    wanted = r.wanted;
  }
  return {
    take: true,
    wanted,
    copy: assignedCopy({ copyId: c.copyId, shardId: shard.id, job, volunteer: v, now: c.now, solo }),
  };
}
