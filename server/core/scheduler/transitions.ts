/**
 * The reconciler's decisions (BOINC's transitioner), as pure functions: how
 * many copies still count for a shard, and when a shard (and so its job) has
 * failed for good. Which copies are overdue and which shards want another copy
 * the stores answer in SQL (indexed queries), checked by their contract tests.
 */
import type { Copy, JobLimits, Shard } from '../jobs/types.ts';

const ALIVE = new Set(['assigned', 'running', 'returned']);

/** Copies still counting toward the quorum: in flight, or returned and not judged invalid. */
export function aliveCopies(copies: readonly Pick<Copy, 'state' | 'outcome'>[]): number {
  return copies.filter((c) => ALIVE.has(c.state) && c.outcome !== 'invalid').length;
}

/** Why the shard must fail now, or null while it can still succeed. */
export function shardFailure(shard: Pick<Shard, 'errors' | 'issued' | 'wanted'>, alive: number, limits: JobLimits): string | null {
  if (shard.errors > limits.maxErrorCopies) return `${shard.errors} copies failed or timed out (limit ${limits.maxErrorCopies})`;
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
