/**
 * A host's pace: how fast it has been seen to compute when its results were
 * checked (agreed with another host's, or passed a spot check). A result
 * that comes back far faster than its host ever computed a checked one was
 * most likely not computed: it is judged as an untrusted host's result (it
 * never stands alone, and an untrusted result never outvotes a trusted one).
 *
 * Why: trusted hosts that turn to lying (on-off attackers) answer at once,
 * so they ask for work far more often than honest hosts and take most of
 * the copies a disputed or re-opened shard needs; two of them then outvote
 * an honest trusted host and have it caught (measured with
 * `npm run simulate`, on-off attackers at f = 35 %: a quarter of all catches
 * were honest hosts framed that way). Bounded by its own checked work, a
 * liar gains at most PACE_FACTOR in speed over its honest phase.
 *
 * Pace is milliseconds per unit of work (the job's FLOPs of the shard, in
 * GFLOP); the fastest checked result is kept, so a host cannot slow its pace
 * down again after a fast checked result, and slow results (a throttled
 * tab, a model download) never make it look suspicious.
 */

/** A result more than this many times faster than its host's fastest checked one is not trusted. */
export const PACE_FACTOR = 4;

/** Milliseconds per GFLOP of a returned copy; null when it cannot be told (no work, or no time). */
export function paceOf(elapsedMs: number, gflop: number): number | null {
  if (!(gflop > 0) || !(elapsedMs >= 0) || !Number.isFinite(elapsedMs)) return null;
  return elapsedMs / gflop;
}

/** The host's pace after one more checked result. */
export function afterChecked(pace: number | null, seen: number | null): number | null {
  if (seen === null) return pace;
  return pace === null ? seen : Math.min(pace, seen);
}

/** Whether a result is too fast for its host to have computed it. */
export function tooFast(pace: number | null, seen: number | null, factor = PACE_FACTOR): boolean {
  return pace !== null && seen !== null && seen * factor < pace;
}

/**
 * The work of a shard in GFLOP, for the pace rule: inference jobs only (their
 * results are compared against one answer, and their FLOPs per record are the
 * graph's); null for any other kind, or unknown FLOPs: the rule then does nothing.
 */
export function shardGflop(spec: { kind: string; flopsPerRecord?: number }, shard: { start: number; end: number }): number | null {
  if (spec.kind !== 'inference' || !(Number(spec.flopsPerRecord) > 0)) return null;
  const gflop = ((shard.end - shard.start) * spec.flopsPerRecord!) / 1e9;
  return gflop > 0 ? gflop : null;
}

/**
 * A returned copy's pace: from its assignment to its result, both the
 * coordinator's clock (a volunteer's own computeMs is its word only); null
 * for a copy not returned, or work unknown.
 */
export function copyPace(c: { state?: string; assignedAt?: number | null; returnedAt?: number | null }, gflop: number | null): number | null {
  if (gflop === null || c.returnedAt === null || c.returnedAt === undefined || c.assignedAt === null || c.assignedAt === undefined) return null;
  if (c.state !== undefined && c.state !== 'returned') return null;
  return paceOf(c.returnedAt - c.assignedAt, gflop);
}

/**
 * Whether the pace rule doubts this result of a trusted host: too fast for
 * its host's checked pace. An operator's host is exempt: it is the root of
 * trust, whose results settle reviews and make known answers undoubted
 * elsewhere; doubting it would hand the deciding copy to another trusted host,
 * perhaps the very on-off attacker this rule is for. A stolen operator token
 * is met by revocation (reputation.ts operatorRevoked), not by pace.
 */
export function paceDoubts(host: { pace?: number | null; operator?: boolean }, seen: number | null, factor = PACE_FACTOR): boolean {
  return host.operator !== true && tooFast(host.pace ?? null, seen, factor);
}
