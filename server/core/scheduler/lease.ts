/**
 * The ceiling on how long one copy may be held. Heartbeats extend a copy's
 * lease, and without a ceiling a volunteer that acknowledges a copy and then
 * heartbeats forever holds its shard forever (a job with 3 s leases was held
 * 40 s, until the holder left). So every extension stops at the copy's
 * ceiling: a few leases, or many times the shard's run time on a slow device
 * when that is longer. Past it the copy expires like any other (counted as a
 * timeout, reissued) and its holder is told why.
 */
import type { JobSpec } from '../jobs/types.ts';

/** A copy may be held at most this many of its job's leases... */
export const CEILING_LEASES = 4;
/** ...or this many times the shard's run time on a device computing SLOWEST_FLOPS_PER_S, if that is longer. */
export const CEILING_RUNS = 10;
/** A slow phone on WASM, and some: 50 MFLOP/s. */
export const SLOWEST_FLOPS_PER_S = 5e7;

/** Records one copy of the job computes (its largest shard). */
function recordsPerCopy(spec: JobSpec): number {
  return spec.kind === 'train' ? Math.max(1, Math.ceil(spec.batch / spec.shardsPerRound)) : spec.shardSize;
}

/** How long after it was assigned a copy of this job may be held at most, ms. */
export function holdCeilingMs(spec: JobSpec): number {
  const slowRunMs = (spec.flopsPerRecord * recordsPerCopy(spec) / SLOWEST_FLOPS_PER_S) * 1000;
  return Math.round(Math.max(CEILING_LEASES * spec.limits.leaseMs, CEILING_RUNS * slowRunMs));
}

/** The deadline an acknowledgement or a heartbeat at `now` gives: one lease on, never past the ceiling. */
export function leaseDeadline(spec: JobSpec, assignedAt: number, now: number): number {
  return Math.min(now + spec.limits.leaseMs, assignedAt + holdCeilingMs(spec));
}

/**
 * Whether a copy's lease has run out at `now`: it is no longer held for its
 * volunteer, though the reconciler may not have expired it yet. Neither a
 * heartbeat nor a hello's claim (resume.ts) revives it; a late result still
 * may, when it helps.
 */
export const leaseRanOut = (copy: { deadline: number }, now: number): boolean => copy.deadline <= now;

/**
 * Why a heartbeat at `now` may not extend its volunteer's copy's lease (the
 * copy is then lost to it, and this says why), or null when it may: the copy
 * must be acknowledged and still within its lease. One run out says why it
 * will be expired (expiryReason): at its hold ceiling, the holder hears so.
 */
export function heartbeatRefusal(copy: { state: string; reason: string | null; assignedAt: number; deadline: number }, spec: JobSpec | null, now: number): string | null {
  if (copy.state !== 'running') return `copy is ${copy.state}${copy.reason ? `: ${copy.reason}` : ''}`;
  if (leaseRanOut(copy, now)) return `copy is overdue, its lease ran out ${Math.round((now - copy.deadline) / 1000)} s ago: ${expiryReason(copy, spec)}`;
  return null;
}

const CEILING_REASON = /^held \d+ s, the most one copy of this job may be held /;

/** Why a copy found past its deadline expires. */
export function expiryReason(copy: { state: string; assignedAt: number; deadline: number }, spec: JobSpec | null): string {
  if (copy.state === 'assigned') return 'not acknowledged in time';
  if (spec && copy.deadline >= copy.assignedAt + holdCeilingMs(spec)) {
    return `held ${Math.round(holdCeilingMs(spec) / 1000)} s, the most one copy of this job may be held (${CEILING_LEASES} leases, or ${CEILING_RUNS} runs on a slow device): reissued to another volunteer`;
  }
  return 'lease expired without heartbeat or result';
}

/**
 * Whether a copy's stored reason (expiryReason's words) says it was taken back
 * at its hold ceiling: its holder heartbeated to the end without a result, so
 * it is not given the shard again (eligibility.ts).
 */
export function expiredAtCeiling(reason: string | null | undefined): boolean {
  return reason != null && CEILING_REASON.test(reason);
}
