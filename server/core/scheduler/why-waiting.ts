/**
 * Why a job's shards are not being computed, in words an operator can act on:
 * no volunteer connected; N connected but none may take a copy (the distinct
 * rule, the job's backends, homogeneous redundancy and the trust rules on
 * numeric classes, a page bound to another project); every volunteer that
 * may take one is busy; or (one copy at a time) a shard's copy in flight must
 * come back before anyone gets its next. Also what to warn a
 * submitter about before a job waits at all (replicas the swarm cannot supply).
 *
 * Pure: the coordinator gathers the connected volunteers and a sample of the
 * job's shards that want a copy (with the copies they already have), and
 * these functions judge them with the same rules the claim applies.
 */
import type { Backend } from '../../../shared/protocol/events.ts';
import { backendAllows } from '../jobs/backends.ts';
import { type HomogeneousClasses, homogeneousClassProblem } from '../trust/numeric-class.ts';
import { type BindsClass, copyConflict, type CopyIdentity, type DistinctRule, inFlight, shardConflicts, type VolunteerIdentity } from './eligibility.ts';

export interface RosterEntry extends VolunteerIdentity {
  /** The project a page (an embed) bound this volunteer to; null: any project. */
  projectId: string | null;
  /** Copies it holds now; at `maxInFlight` it asks for no more. */
  inFlight: number;
  /** Trusted in its numeric class now (core/trust/reputation.ts); absent: not. */
  trusted?: boolean;
}

export interface JobForDiagnosis {
  projectId: string;
  /** Backends that may compute it; absent: any. */
  backends?: readonly Backend[];
  homogeneous: boolean;
  replicas: number;
  /**
   * Its shards' copies go out one at a time (an inference job under --copies one-at-a-time: trust/replication.ts):
   * a shard with a copy in flight gives nobody its next copy until that one returns.
   */
  oneCopyAtATime?: boolean;
}

/** Why one connected volunteer cannot take any copy of the job. */
export type Exclusion = 'project' | 'backend' | 'unhonoured' | 'untrusted-class' | 'address' | 'wallet' | 'class' | 'errored' | 'volunteer';

export interface WaitReason {
  code: 'no_volunteers' | 'excluded' | 'busy' | 'copy_in_flight';
  message: string;
  connected: number;
  /** Connected volunteers kept off the job, by the first rule that keeps each off. */
  excluded: Partial<Record<Exclusion, number>>;
  /** Volunteers that may take a copy but hold as many as they may. */
  busy: number;
  /** Shards of the sample whose next copy waits for their copy in flight to come back (one copy at a time). */
  heldBack: number;
}

const ONE_AT_A_TIME = '--copies one-at-a-time: a replicated inference shard\'s next copy goes out only once its last has returned, so whoever holds one answers before anyone holds another';

// When every shard is closed to a volunteer, the rule named is the one an
// operator can change: an address or wallet rule before "it already has
// one"; "its copy errored" only when that is so on every shard.
const PRECEDENCE = ['address', 'wallet', 'class', 'volunteer', 'errored'] as const;

/** The rule keeping the volunteer off every one of these shards, or null if it may take a copy of one. */
export function shardsExclusion(v: VolunteerIdentity, wanting: readonly (readonly CopyIdentity[])[], rules: ReadonlySet<DistinctRule>, homogeneous: boolean, binds?: BindsClass): Exclusion | null {
  const seen = new Set<Exclusion>();
  for (const copies of wanting) {
    const own = shardConflicts(v, copies, rules, homogeneous, binds);
    if (own.length === 0) return null;
    // A copy of its own says it all for this shard (one it holds or held, else one that errored); otherwise the first rule that bites.
    seen.add(own.includes('volunteer') ? 'volunteer' : own.includes('errored') ? 'errored' : PRECEDENCE.find((p) => own.includes(p))!);
  }
  return PRECEDENCE.find((p) => seen.has(p)) ?? null;
}

function volunteerExclusion(v: RosterEntry, job: JobForDiagnosis, wanting: readonly (readonly CopyIdentity[])[], rules: ReadonlySet<DistinctRule>, classes?: HomogeneousClasses): Exclusion | null {
  if (v.projectId !== null && v.projectId !== job.projectId) return 'project';
  if (!backendAllows(job.backends, v.numericClass)) return 'backend';
  // The trust rules on numeric classes (core/trust/numeric-class.ts), as the claim applies them. A copy's holder
  // is taken as untrusted here: the sample carries no reputations (a trusted holder's copy may bind where this says not).
  const gate = job.homogeneous && classes ? classes : null;
  const problem = gate ? homogeneousClassProblem(v.numericClass, v.trusted === true, gate) : null;
  if (problem) return problem === 'class not honoured' ? 'unhonoured' : 'untrusted-class';
  return shardsExclusion(v, wanting, rules, job.homogeneous, gate ? (c) => homogeneousClassProblem(c.numericClass, false, gate) === null : undefined);
}

const plural = (n: number, one: string, many: string) => `${n} ${n === 1 ? one : many}`;

function describe(kind: Exclusion, n: number, job: JobForDiagnosis, classes?: HomogeneousClasses): string {
  const they = n === 1 ? 'it' : 'they';
  switch (kind) {
    case 'project': return `${plural(n, 'is', 'are')} bound to another project (an embed on another project's page)`;
    case 'backend': return `${n === 1 ? 'runs' : 'run'} a backend the job excludes (it runs on ${job.backends?.join(', ')} only)`;
    case 'unhonoured': return `${n === 1 ? 'computes' : 'compute'} in a numeric class fewer than ${classes?.policy.classQuorum} address groups announce (homogeneous job: a class counts only once that many share it, so a made-up class cannot keep shards to itself)`;
    case 'untrusted-class': return `${n === 1 ? 'is' : 'are'} not trusted yet, and no trusted host of ${n === 1 ? 'its' : 'their'} numeric class is connected to check ${n === 1 ? 'its' : 'their'} copies (homogeneous job: only a host of the same class can; trust is earned on other jobs)`;
    case 'address': return `${n === 1 ? 'shares' : 'share'} a client address with a copy of the same shard (distinct-copies rule 'address': replicas ${job.replicas} need ${job.replicas} different addresses)`;
    case 'wallet': return `${n === 1 ? 'shares' : 'share'} a wallet with a copy of the same shard (distinct-copies rule 'wallet': replicas ${job.replicas} need ${job.replicas} different wallets)`;
    case 'class': return `${n === 1 ? 'computes' : 'compute'} in another numeric class than the shard's other copies (homogeneous job)`;
    case 'errored': return `${n === 1 ? 'has' : 'have'} failed on every shard that wants a copy (a volunteer whose copy of a shard errored is not given that shard again; replicas ${job.replicas} need ${job.replicas} different volunteers)`;
    case 'volunteer': return `already ${n === 1 ? 'holds or held' : 'hold or held'} a copy of every shard that wants one (replicas ${job.replicas} need ${job.replicas} different volunteers; ${they} cannot take a second copy)`;
  }
}

const ORDER: readonly Exclusion[] = ['project', 'backend', 'unhonoured', 'untrusted-class', 'address', 'wallet', 'class', 'errored', 'volunteer'];

function exclusionsText(excluded: Partial<Record<Exclusion, number>>, job: JobForDiagnosis, classes?: HomogeneousClasses): string {
  return ORDER.filter((k) => excluded[k]).map((k) => `${excluded[k]} ${describe(k, excluded[k]!, job, classes)}`).join('; ');
}

/**
 * Why nothing takes the job's shards that want a copy, or null when nothing
 * waits (no shard wants a copy, or some connected volunteer may take one now).
 * `wanting` holds, per shard that wants a copy, the copies it already has;
 * `classes`, the trust rules' view of numeric classes (a homogeneous job's:
 * core/trust/numeric-class.ts; absent: not applied).
 */
export function whyWaiting(
  job: JobForDiagnosis, wanting: readonly (readonly CopyIdentity[])[], roster: readonly RosterEntry[],
  rules: ReadonlySet<DistinctRule>, maxInFlight: number, classes?: HomogeneousClasses,
): WaitReason | null {
  if (wanting.length === 0) return null;
  // One copy at a time: a shard with a copy in flight gives nobody a copy now, whoever asks; the rest are judged per volunteer.
  const open = job.oneCopyAtATime ? wanting.filter((copies) => !copies.some(inFlight)) : wanting;
  const heldBack = wanting.length - open.length;
  if (open.length === 0) {
    return {
      code: 'copy_in_flight', connected: roster.length, excluded: {}, busy: 0, heldBack,
      message: `${wanting.length === 1 ? 'the shard that wants a copy waits' : 'every shard that wants a copy waits'} for its copy in flight to come back (${ONE_AT_A_TIME})`,
    };
  }
  const besides = heldBack ? `; and ${plural(heldBack, 'shard waits for its', 'shards wait for their')} copy in flight to come back (--copies one-at-a-time)` : '';
  if (roster.length === 0) {
    return { code: 'no_volunteers', message: `no volunteer is connected${besides}`, connected: 0, excluded: {}, busy: 0, heldBack };
  }
  const excluded: Partial<Record<Exclusion, number>> = {};
  let busy = 0;
  for (const v of roster) {
    const why = volunteerExclusion(v, job, open, rules, classes);
    if (why) excluded[why] = (excluded[why] ?? 0) + 1;
    else if (v.inFlight >= maxInFlight) busy++;
    else return null;
  }
  const connected = plural(roster.length, 'volunteer', 'volunteers');
  if (busy > 0) {
    const others = exclusionsText(excluded, job, classes);
    return {
      code: 'busy', connected: roster.length, excluded, busy, heldBack,
      message: `${connected} connected; ${busy === 1 ? 'the one' : `all ${busy}`} that may take a copy ${busy === 1 ? 'is' : 'are'} busy (holding ${maxInFlight} copies each)${others ? `; the others may not: ${others}` : ''}${besides}`,
    };
  }
  return {
    code: 'excluded', connected: roster.length, excluded, busy: 0, heldBack,
    message: `${connected} connected, but none may take a copy: ${exclusionsText(excluded, job, classes)}${besides}`,
  };
}

/**
 * What a submitter should hear before the job waits: the connected volunteers
 * that may compute it cannot supply `replicas` copies of one shard under the
 * distinct rules (greedy: a lower bound on how many can, exact for one rule).
 */
export function submissionWarnings(job: JobForDiagnosis, roster: readonly RosterEntry[], rules: ReadonlySet<DistinctRule>): string[] {
  const eligible = roster.filter((v) => (v.projectId === null || v.projectId === job.projectId) && backendAllows(job.backends, v.numericClass));
  if (roster.length === 0) return ['no volunteer is connected yet: the job waits until one is'];
  if (eligible.length === 0) {
    return [`none of the ${plural(roster.length, 'connected volunteer', 'connected volunteers')} may compute this job (${job.backends ? `it runs on ${job.backends.join(', ')} only` : 'they are bound to another project'})`];
  }
  const picked: RosterEntry[] = [];
  for (const v of eligible) {
    const asCopy = (p: RosterEntry): CopyIdentity => ({ volunteerId: p.id, wallet: p.wallet, address: p.address, numericClass: p.numericClass, state: 'assigned' });
    if (picked.every((p) => copyConflict(v, asCopy(p), rules, false) === null)) picked.push(v);
  }
  if (picked.length >= job.replicas) return [];
  const ruleText = rules.size ? ` with distinct ${[...rules].map((r) => (r === 'address' ? 'client addresses' : 'wallets')).join(' and ')} (--distinct-copies ${[...rules].join(',')})` : '';
  return [`replicas ${job.replicas} need ${job.replicas} volunteers${ruleText}, but the ${plural(eligible.length, 'connected volunteer', 'connected volunteers')} that may compute it ${eligible.length === 1 ? 'gives' : 'give'} only ${picked.length}: shards will wait for more volunteers`];
}
