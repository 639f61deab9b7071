/**
 * The reconciler's decisions (BOINC's transitioner), as pure functions: how
 * many copies still count for a shard, and when a shard (and so its job) has
 * failed for good. Which copies are overdue and which shards want another copy
 * the stores answer in SQL (indexed queries), checked by their contract tests.
 */
import type { Copy, JobLimits, Shard } from '../jobs/types.ts';
import { addressGroup } from '../trust/address.ts';
import type { DistinctRule } from './eligibility.ts';

const ALIVE = new Set(['assigned', 'running', 'returned']);

/** Copies still counting toward the quorum: in flight, or returned and not judged invalid. */
export function aliveCopies(copies: readonly Pick<Copy, 'state' | 'outcome'>[]): number {
  return copies.filter((c) => ALIVE.has(c.state) && c.outcome !== 'invalid').length;
}

/**
 * Why the shard must fail now, or null while it can still succeed. Its copy budget is the job's maxTotalCopies,
 * or more where a recomputation raised it (`maxTotal`: reopenedBudget).
 */
export function shardFailure(shard: Pick<Shard, 'errors' | 'issued' | 'wanted'> & { maxTotal?: number }, alive: number, limits: JobLimits): string | null {
  if (shard.errors > limits.maxErrorCopies) return `copies from ${shard.errors} independent sources failed or timed out (limit ${limits.maxErrorCopies})`;
  const budget = Math.max(limits.maxTotalCopies, shard.maxTotal ?? 0);
  if (shard.issued >= budget && alive < shard.wanted) {
    return `${shard.issued} copies issued without consensus (limit ${budget})`;
  }
  return null;
}

/**
 * The copy budget of a shard re-opened for recomputation (backtracking, a void agreement): the job's whole
 * budget beyond the copies already issued. Its answer was found to rest on caught hosts; counting the copies
 * those liars used against its recomputation would fail the shard, and its job, for their lies (28 shards per
 * 100,000 failed so under 35 % fast on-off attackers in `npm run simulate`).
 */
export function reopenedBudget(shard: { issued: number; maxTotal: number }, limits: Pick<JobLimits, 'maxTotalCopies'>): number {
  return Math.max(shard.maxTotal, shard.issued + limits.maxTotalCopies);
}

/** Why a running job must fail now because its deadline passed, or null. */
export function deadlineFailure(job: { createdAt: number; spec: { limits: Pick<JobLimits, 'deadlineMs'> } }, now: number): string | null {
  const ms = job.spec.limits.deadlineMs;
  if (ms === undefined || now < job.createdAt + ms) return null;
  return `deadline passed: not finished within ${ms / 1000} s of submission (by ${new Date(job.createdAt + ms).toISOString()})`;
}

/** After a failed consensus the shard wants one more result than it has. */
export function wantedAfterNoConsensus(returned: number): number {
  return returned + 1;
}

/** What tells two copies' sources apart: the volunteer, and its network group and wallet as the rules say. */
type SourceCopy = { state: string; volunteerId: string; wallet: string | null; address: string };

function sourceKeys(c: SourceCopy, rules: ReadonlySet<DistinctRule>): string[] {
  const keys = [`v:${c.volunteerId}`];
  if (rules.has('address')) keys.push(`a:${addressGroup(c.address)}`);
  if (rules.has('wallet') && c.wallet) keys.push(`w:${c.wallet.toLowerCase()}`);
  return keys;
}

/**
 * Failed and timed-out copies that count toward the job's error budget: one
 * per independent source. Four identities of one person, one network (/24,
 * /64) or one wallet (as far as the job's distinct-copies rules tell people
 * apart) reporting failures on a shard are one error, not four: one host or
 * group cannot fail a job that others can finish, only errors reproduced
 * by independent volunteers can. A source is new when none of its volunteer,
 * network or wallet has failed the shard before.
 */
export function independentErrors(copies: readonly SourceCopy[], rules: ReadonlySet<DistinctRule>): number {
  const seen = new Set<string>();
  let sources = 0;
  for (const c of copies) {
    if (c.state !== 'error' && c.state !== 'expired') continue;
    const keys = sourceKeys(c, rules);
    if (!keys.some((k) => seen.has(k))) sources++;
    for (const k of keys) seen.add(k);
  }
  return sources;
}

/** Copies that ended without a result. */
const ENDED_EMPTY = new Set(['error', 'expired', 'cancelled']);

/**
 * How many of the copies that just ended without a result (failed, expired
 * or handed back; `ended`, in the order they ended) go back to their shard's
 * copy budget (the job's maxTotalCopies): each one whose source (volunteer,
 * network group, wallet, as for the error budget) had already lost a copy of
 * the shard that way. One source's empty copies cost the budget once, so a
 * dozen identities in one /24 taking and dropping copies cannot use it up and
 * stall the shard, while copies from independent sources still count. Exclusions
 * stay per volunteer, so each identity gets at most one copy of the shard.
 *
 * `copies`: all of the shard's copies, `ended` ones already in their final state.
 */
export function budgetRefunds(copies: readonly (SourceCopy & { id: string })[], ended: readonly string[], rules: ReadonlySet<DistinctRule>): number {
  const pending = new Set(ended);
  const lost = new Set<string>();
  for (const c of copies) if (ENDED_EMPTY.has(c.state) && !pending.has(c.id)) for (const k of sourceKeys(c, rules)) lost.add(k);
  let refunds = 0;
  for (const id of ended) {
    const c = copies.find((x) => x.id === id);
    if (!c || !ENDED_EMPTY.has(c.state)) continue;
    const keys = sourceKeys(c, rules);
    if (keys.some((k) => lost.has(k))) refunds++;
    for (const k of keys) lost.add(k);
  }
  return refunds;
}
