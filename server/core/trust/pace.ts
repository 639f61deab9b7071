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
