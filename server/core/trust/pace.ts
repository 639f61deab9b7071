/**
 * A host's pace in a job: how fast it has been seen to compute that job's
 * shards when its results were checked (agreed with another host's, or
 * passed a spot check). A result that comes back far faster than its host
 * ever computed a checked one of the same job was most likely not computed:
 * it is judged as an untrusted host's (it never stands alone, and an
 * untrusted result never outvotes a trusted one).
 *
 * Why: trusted hosts that turn to lying (on-off attackers) answer at once,
 * so they ask for work far more often than honest hosts and take most of
 * the copies a disputed or re-opened shard needs; two of them then outvote
 * an honest trusted host and have it caught (measured with
 * `npm run simulate`, on-off attackers at f = 35 %: a quarter of all catches
 * were honest hosts framed that way). Bounded by its own checked work, a
 * liar gains at most PACE_FACTOR in speed over its honest phase.
 *
 * Per job, in milliseconds per record: one job's shards are one model on
 * records of one shape, so its records cost the same, while two jobs' do not
 * compare in any unit (a job of tiny shards is all fixed overhead; a pace
 * kept across jobs in ms per GFLOP doubted honest hosts 300-fold faster on a
 * bigger model and stalled their jobs). A trusted host with no checked
 * result in the job yet has no pace there: its result may not stand alone
 * (paceCheck 'first'), or a liar trusted elsewhere would lie unchecked at
 * once in every new job. The fastest checked result is kept, so a host cannot slow
 * its pace down again after a fast checked result, and slow results (a
 * throttled tab, a model download) never make it look suspicious.
 */

/** A result more than this many times faster than its host's fastest checked one is not trusted. */
export const PACE_FACTOR = 4;

/** Milliseconds per record of a returned copy; null when it cannot be told (no records, or no time). */
export function paceOf(elapsedMs: number, records: number): number | null {
  if (!(records > 0) || !(elapsedMs >= 0) || !Number.isFinite(elapsedMs)) return null;
  return elapsedMs / records;
}

/** The host's pace in a job after one more checked result there. */
export function afterChecked(pace: number | null, seen: number | null): number | null {
  if (seen === null) return pace;
  return pace === null ? seen : Math.min(pace, seen);
}

/**
 * Below this much work at the host's checked pace, a shard's time is mostly round trips and event-loop jitter
 * (an honest host's copies of a tiny shard vary more than PACE_FACTOR apart: seen at 4 ms and 26 ms in one test
 * run), and a liar saves too little time to outpace honest hosts by much: the rule does not judge speed there.
 */
export const PACE_MIN_MS = 1000;

/** A returned copy's pace: milliseconds per record, and the shard's records (what the pace is per). */
export interface Seen { msPerRecord: number; records: number }

/**
 * Whether a result is too fast for a host whose checked pace is `pace` to have computed it: more than `factor`
 * times faster, on a shard that takes the host at least PACE_MIN_MS at that pace.
 */
export function tooFast(pace: number | null, seen: Seen | null, factor = PACE_FACTOR): boolean {
  return pace !== null && seen !== null && seen.msPerRecord * factor < pace && pace * seen.records >= PACE_MIN_MS;
}

/**
 * The records of a shard, for the pace rule: inference jobs only (their
 * results are compared against one answer, and each record costs the same
 * model run); null for any other kind: the rule then does nothing.
 */
export function shardRecords(spec: { kind: string }, shard: { start: number; end: number }): number | null {
  if (spec.kind !== 'inference') return null;
  const records = shard.end - shard.start;
  return records > 0 ? records : null;
}

/**
 * A returned copy's pace: from its assignment to its result, both the
 * coordinator's clock (a volunteer's own computeMs is its word only); null
 * for a copy not returned, or a shard the rule does not read.
 */
export function copyPace(c: { state?: string; assignedAt?: number | null; returnedAt?: number | null }, records: number | null): Seen | null {
  if (records === null || c.returnedAt === null || c.returnedAt === undefined || c.assignedAt === null || c.assignedAt === undefined) return null;
  if (c.state !== undefined && c.state !== 'returned') return null;
  const msPerRecord = paceOf(c.returnedAt - c.assignedAt, records);
  return msPerRecord === null ? null : { msPerRecord, records };
}

/**
 * What the pace rule makes of a trusted host's result: `seen` (its pace;
 * null: unknown, in flight, or a job the rule does not read) against its
 * host's checked pace in the job. 'too-fast': far faster than that pace, so
 * judged as an untrusted host's. 'first': the host has no checked result in
 * the job yet, so the result counts as a trusted host's but may not stand
 * alone: it is checked, and that check teaches the pace (doubting it outright
 * would leave a fresh job nobody trusted to check anybody). 'ok' otherwise.
 * An operator's host is exempt: it is the root of trust, whose results settle
 * reviews and make known answers undoubted elsewhere; doubting it would hand
 * the deciding copy to another trusted host, perhaps the very on-off attacker
 * this rule is for. A stolen operator token is met by revocation
 * (reputation.ts operatorRevoked), not by pace.
 */
export function paceCheck(host: { operator?: boolean }, pace: number | null, seen: Seen | null, factor = PACE_FACTOR): 'ok' | 'first' | 'too-fast' {
  if (host.operator === true || seen === null) return 'ok';
  if (pace === null) return 'first';
  return tooFast(pace, seen, factor) ? 'too-fast' : 'ok';
}
