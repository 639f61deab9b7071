/**
 * Who may take a copy of a shard. Two copies never go to the same volunteer;
 * by default not to the same wallet or client address either (BOINC's
 * one_result_per_user_per_wu), so one person cannot outvote the check alone.
 */
export type DistinctRule = 'wallet' | 'address';

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
}

export function mayTakeCopy(v: VolunteerIdentity, existing: readonly CopyIdentity[], rules: ReadonlySet<DistinctRule>, homogeneous: boolean): boolean {
  for (const c of existing) {
    if (c.volunteerId === v.id) return false;
    if (rules.has('wallet') && v.wallet !== null && c.wallet === v.wallet) return false;
    if (rules.has('address') && c.address === v.address) return false;
    // Homogeneous redundancy: compare only like with like numerics.
    if (homogeneous && c.state !== 'expired' && c.state !== 'error' && c.numericClass !== v.numericClass) return false;
  }
  return true;
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
