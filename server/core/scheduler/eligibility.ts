/**
 * Who may take a copy of a shard. Two copies never go to the same volunteer;
 * by default not to the same wallet or client address either (BOINC's
 * one_result_per_user_per_wu), so one person cannot outvote the check alone.
 */
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
  /** Judged so far (pending, valid, invalid); absent where only the identity was read. */
  outcome?: string;
  /** Drawn to stand alone (core/trust/replication.ts). */
  solo?: boolean;
}

/** Copies that ended without a result: they can no longer vote. */
const DEAD = new Set(['expired', 'error', 'cancelled']);

/** Rules that keep a copy of a shard from a volunteer, given a copy the shard already has. */
export type ConflictRule = 'volunteer' | 'address' | 'wallet' | 'class';

/**
 * Which rule keeps a copy of this shard from the volunteer, given one copy it
 * already has; null if none. A copy released, errored or expired bars only
 * its own volunteer from the shard: it holds no result, so a sibling behind
 * the same NAT (or the same site wallet) taking the shard cannot outvote
 * anyone with it. Were it to return late after all, `lateResultClash` keeps
 * it from counting beside that sibling.
 */
export function copyConflict(v: VolunteerIdentity, c: CopyIdentity, rules: ReadonlySet<DistinctRule>, homogeneous: boolean): ConflictRule | null {
  if (c.volunteerId === v.id) return 'volunteer';
  if (DEAD.has(c.state)) return null;
  const shared = sharesIdentity(v, c, rules);
  if (shared) return shared;
  // Homogeneous redundancy: compare only like with like numerics.
  if (homogeneous && c.numericClass !== v.numericClass) return 'class';
  return null;
}

export function mayTakeCopy(v: VolunteerIdentity, existing: readonly CopyIdentity[], rules: ReadonlySet<DistinctRule>, homogeneous: boolean): boolean {
  // One statement of the rules, shared with the wait diagnosis (why-waiting.ts).
  return existing.every((c) => copyConflict(v, c, rules, homogeneous) === null);
}

function sharesIdentity(v: Pick<VolunteerIdentity, 'wallet' | 'address'>, c: Pick<CopyIdentity, 'wallet' | 'address'>, rules: ReadonlySet<DistinctRule>): DistinctRule | null {
  if (rules.has('wallet') && v.wallet !== null && c.wallet === v.wallet) return 'wallet';
  if (rules.has('address') && c.address === v.address) return 'address';
  return null;
}

/**
 * A late result revives a dead copy; it may not when another live copy of
 * the shard now shares its wallet or address (issued once the dead one no
 * longer barred them): the two would not be independent votes. Says which
 * rule they share, or null.
 */
export function lateResultClash(late: CopyIdentity & { id: string }, copies: readonly (CopyIdentity & { id: string; outcome?: string })[], rules: ReadonlySet<DistinctRule>): DistinctRule | null {
  if (!DEAD.has(late.state)) return null;
  for (const c of copies) {
    if (c.id === late.id || DEAD.has(c.state) || c.outcome === 'invalid') continue;
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
