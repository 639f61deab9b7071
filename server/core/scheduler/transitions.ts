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

/** Why the shard must fail now, or null while it can still succeed. */
export function shardFailure(shard: Pick<Shard, 'errors' | 'issued' | 'wanted'>, alive: number, limits: JobLimits): string | null {
  if (shard.errors > limits.maxErrorCopies) return `copies from ${shard.errors} independent sources failed or timed out (limit ${limits.maxErrorCopies})`;
  if (shard.issued >= limits.maxTotalCopies && alive < shard.wanted) {
    return `${shard.issued} copies issued without consensus (limit ${limits.maxTotalCopies})`;
  }
  return null;
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

/**
 * Failed and timed-out copies that count toward the job's error budget: one
 * per independent source. Four identities of one person, one network (/24,
 * /64) or one wallet (as far as the job's distinct-copies rules tell people
 * apart) reporting failures on a shard are one error, not four: one host or
 * group cannot fail a job that others can finish, only errors reproduced
 * by independent volunteers can. A source is new when none of its volunteer,
 * network or wallet has failed the shard before.
 */
export function independentErrors(
  copies: readonly { state: string; volunteerId: string; wallet: string | null; address: string }[],
  rules: ReadonlySet<DistinctRule>,
): number {
  const seen = new Set<string>();
  let sources = 0;
  for (const c of copies) {
    if (c.state !== 'error' && c.state !== 'expired') continue;
    const keys = [`v:${c.volunteerId}`];
    if (rules.has('address')) keys.push(`a:${addressGroup(c.address)}`);
    if (rules.has('wallet') && c.wallet) keys.push(`w:${c.wallet.toLowerCase()}`);
    if (!keys.some((k) => seen.has(k))) sources++;
    for (const k of keys) seen.add(k);
  }
  return sources;
}
