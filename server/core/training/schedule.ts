/**
 * Synchronous data-parallel rounds, as plain arithmetic: which records a round
 * trains on, how a round's global batch splits into shards, and when a round
 * may close. The same seed and global batch give the same batches whatever
 * the number of volunteers, so runs are comparable.
 */
import { createRng, permutation } from '../../training/rng.ts';

export interface Schedule {
  records: number;
  batch: number;
  shardsPerRound: number;
  epochs: number;
  seed: number;
}

export function roundsPerEpoch(s: Pick<Schedule, 'records' | 'batch'>): number {
  return Math.ceil(s.records / s.batch);
}

export function totalRounds(s: Schedule): number {
  return roundsPerEpoch(s) * s.epochs;
}

/** The round's slice [start, end) of its epoch's shuffled order. */
export function roundBatch(s: Schedule, round: number): { epoch: number; start: number; end: number } {
  const per = roundsPerEpoch(s);
  const epoch = Math.floor(round / per);
  const b = round % per;
  return { epoch, start: b * s.batch, end: Math.min(s.records, (b + 1) * s.batch) };
}

/** Splits [start, end) into up to `parts` contiguous, near-equal, non-empty ranges. */
export function splitRange(start: number, end: number, parts: number): { start: number; end: number }[] {
  const n = end - start;
  const k = Math.max(1, Math.min(parts, n));
  const out: { start: number; end: number }[] = [];
  for (let i = 0; i < k; i++) out.push({ start: start + Math.floor((i * n) / k), end: start + Math.floor(((i + 1) * n) / k) });
  return out;
}

/** The epoch's shuffled record order, derived from the job seed alone. */
export function epochOrder(seed: number, epoch: number, records: number): Uint32Array {
  return permutation(records, createRng((seed * 1_000_003 + epoch) >>> 0));
}

export type RoundDecision = 'wait' | 'advance' | 'fail';

/**
 * A round closes when every shard is validated, or, once its deadline passed,
 * when at least `minFraction` of them are (stragglers are dropped for this
 * round). A round with shards failed beyond that fraction fails the job.
 */
export function roundDecision(o: { shards: number; validated: number; failed: number; minFraction: number; deadlinePassed: boolean }): RoundDecision {
  const needed = Math.max(1, Math.ceil(o.minFraction * o.shards));
  if (o.validated === o.shards) return 'advance';
  if (o.shards - o.failed < needed) return 'fail';
  if (o.deadlinePassed && o.validated >= needed) return 'advance';
  return 'wait';
}

/** Held-out split: the last `fraction` of a seeded shuffle never reaches training. */
export function holdOut(records: number, fraction: number, seed: number): { train: Uint32Array; eval: Uint32Array } {
  const order = permutation(records, createRng((seed ^ 0x5eed) >>> 0));
  const evalCount = Math.floor(records * fraction);
  return { train: order.slice(0, records - evalCount), eval: order.slice(records - evalCount) };
}
