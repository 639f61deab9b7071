/**
 * Who may take a copy of a shard. Two copies that can vote never go to the
 * same volunteer; by default not to the same wallet or client address either (BOINC's
 * one_result_per_user_per_wu), so one person cannot outvote the check alone.
 */
import { expiredAtCeiling } from './lease.ts';

export type DistinctRule = 'wallet' | 'address';

/** No rule: copies are kept apart by volunteer only (`--distinct-copies none`). */
export const NO_RULES: ReadonlySet<DistinctRule> = new Set();

export interface VolunteerIdentity {
  id: string;
  wallet: string | null;
  address: string;
  numericClass: string;
}

export interface CopyIdentity {
  volunteerId: string;
  wallet: string | null;
  address: string;
  numericClass: string;
  state: string;
  /** Why it ended, for a dead copy (expiryReason's words for an expired one); absent where not read. */
  reason?: string | null;
  /** Judged so far (pending, valid, invalid); absent where only the identity was read. */
  outcome?: string;
  /** Drawn to stand alone (core/trust/replication.ts). */
  solo?: boolean;
  /** When it was assigned and returned (the pace rule reads a returned copy's: core/trust/pace.ts); absent where not read. */
  assignedAt?: number;
  returnedAt?: number | null;
}

/** Issued to a volunteer and not yet returned (nor expired, failed or taken back). */
export const inFlight = (c: Pick<CopyIdentity, 'state'>): boolean => c.state === 'assigned' || c.state === 'running';

/** Copies that ended without a result: they can no longer vote. */
const DEAD = new Set(['expired', 'error', 'cancelled']);

/**
 * Rules that keep a copy of a shard from a volunteer, given a copy the shard
 * already has. 'volunteer': it holds a copy of the shard, returned one, or
 * lost too many; 'errored': its copy of the shard failed.
 */
export type ConflictRule = 'volunteer' | 'errored' | 'address' | 'wallet' | 'class';

/**
 * Copies of one shard a volunteer may lose without a result (handed back, or
 * expired before its hold ceiling) and still be given the shard again. After
 * BOINC, which sends a workunit again to a host whose result timed out or was
 * aborted: a lost copy says nothing about the volunteer's answer, and barring
 * it for good stalls a shard whose replicas are as many as the volunteers
 * that may take it (two volunteers at replicas 2, one copy lost to a dropped
 * connection or an acknowledgement late on a loaded host: the shard waited
 * forever). Bounded, so a volunteer that takes copies and lets them lapse
 * holds a shard for at most this many more acknowledgement windows.
 */
export const LOST_COPIES_FORGIVEN = 2;

/** A copy of the volunteer's own that ended without a result and without telling against it. */
function lostCopy(c: CopyIdentity): boolean {
  return c.state === 'cancelled' || (c.state === 'expired' && !expiredAtCeiling(c.reason));
}

/**
 * Which rule keeps a copy of this shard from the volunteer, given one copy it
 * already has; null if none. Its own copy bars it while the copy can vote
 * (in flight, returned); one that errored bars it for good, as in BOINC: the
 * same device failing the same input again is no independent evidence, and
 * the error budget counts it once; one held to its hold ceiling (lease.ts)
 * bars it too, or a volunteer heartbeating forever would hold the shard again
 * and again. One handed back or expired before the ceiling does not
 * (LOST_COPIES_FORGIVEN: shardConflicts counts those). A dead copy bars no
 * other volunteer: it holds no result, so a sibling behind the same NAT (or
 * the same site wallet) taking the shard cannot outvote anyone with it. Were
 * it to return late after all, `lateResultClash` keeps it from counting
 * beside that sibling, or beside its own volunteer's new copy.
 */
export function copyConflict(v: VolunteerIdentity, c: CopyIdentity, rules: ReadonlySet<DistinctRule>, homogeneous: boolean, binds: BindsClass = bindsAlways): ConflictRule | null {
  if (c.volunteerId === v.id) {
    if (c.state === 'error') return 'errored';
    return lostCopy(c) ? null : 'volunteer';
  }
  if (DEAD.has(c.state)) return null;
  const shared = sharesIdentity(v, c, rules);
  if (shared) return shared;
  // Homogeneous redundancy: compare only like with like numerics.
  if (homogeneous && c.numericClass !== v.numericClass && binds(c)) return 'class';
  return null;
}

/**
 * Whether a live copy ties a homogeneous shard to its numeric class. Every copy does, except under the trust
 * rules one whose class may not hold homogeneous copies now (core/trust/numeric-class.ts): the shard's other
 * copies may then go to another class, or no one could ever take them.
 */
export type BindsClass = (c: CopyIdentity) => boolean;
const bindsAlways: BindsClass = () => true;

/** Every rule that keeps a copy of a shard with these copies from the volunteer (empty: it may take one). */
export function shardConflicts(v: VolunteerIdentity, existing: readonly CopyIdentity[], rules: ReadonlySet<DistinctRule>, homogeneous: boolean, binds: BindsClass = bindsAlways): ConflictRule[] {
  const out = existing.map((c) => copyConflict(v, c, rules, homogeneous, binds)).filter((r): r is ConflictRule => r !== null);
  if (existing.filter((c) => c.volunteerId === v.id && lostCopy(c)).length > LOST_COPIES_FORGIVEN) out.push('volunteer');
  return out;
}

export function mayTakeCopy(v: VolunteerIdentity, existing: readonly CopyIdentity[], rules: ReadonlySet<DistinctRule>, homogeneous: boolean, binds: BindsClass = bindsAlways): boolean {
  // One statement of the rules, shared with the wait diagnosis (why-waiting.ts).
  return shardConflicts(v, existing, rules, homogeneous, binds).length === 0;
}

function sharesIdentity(v: Pick<VolunteerIdentity, 'wallet' | 'address'>, c: Pick<CopyIdentity, 'wallet' | 'address'>, rules: ReadonlySet<DistinctRule>): DistinctRule | null {
  if (rules.has('wallet') && v.wallet !== null && c.wallet === v.wallet) return 'wallet';
  if (rules.has('address') && c.address === v.address) return 'address';
  return null;
}

/**
 * A late result revives a dead copy; it may not when another live copy of
 * the shard now is its own volunteer's or shares its wallet or address
 * (issued once the dead one no longer barred them): the two would not be
 * independent votes. Says which rule they share, or null.
 */
export function lateResultClash(late: CopyIdentity & { id: string }, copies: readonly (CopyIdentity & { id: string; outcome?: string })[], rules: ReadonlySet<DistinctRule>): DistinctRule | 'volunteer' | null {
  if (!DEAD.has(late.state)) return null;
  for (const c of copies) {
    if (c.id === late.id || DEAD.has(c.state) || c.outcome === 'invalid') continue;
    if (c.volunteerId === late.volunteerId) return 'volunteer';
    const shared = sharesIdentity(late, c, rules);
    if (shared) return shared;
  }
  return null;
}

export function parseDistinctRules(text: string): Set<DistinctRule> {
  const parts = text.split(',').map((s) => s.trim()).filter(Boolean);
  if (parts.length === 1 && parts[0] === 'none') return new Set();
  const out = new Set<DistinctRule>();
  for (const p of parts) {
    if (p !== 'wallet' && p !== 'address') throw new Error(`--distinct-copies takes wallet, address or none; got ${JSON.stringify(p)}`);
    out.add(p);
  }
  return out;
}

/**
 * Robust aggregation (median, trimmed mean) only holds while no single
 * volunteer supplies a large share of a round's gradients, so training jobs
 * may cap how many shards of one round a volunteer holds (0 = no cap).
 */
export function withinRoundCap(heldInRound: number, cap: number): boolean {
  return cap <= 0 || heldInRound < cap;
}

/**
 * Private swarms (issue 15): a private project's copies go only to volunteers
 * in its group (`groups`: the projects whose group the volunteer is in now,
 * server/core/groups/membership.ts); a public project's go to anyone.
 */
export function mayServeProject(p: { id: string; private: boolean }, groups: ReadonlySet<string>): boolean {
  return !p.private || groups.has(p.id);
}

/**
 * Whether a connection computes for a project: an embed (`projectId`) for its
 * own project only, and a private project only while in its group. What it
 * may not compute for is none of its business: it is told nothing of it.
 */
export function connectionServes(p: { id: string; private: boolean }, who: { projectId?: string; groups: ReadonlySet<string> }): boolean {
  return (who.projectId === undefined || who.projectId === p.id) && mayServeProject(p, who.groups);
}
