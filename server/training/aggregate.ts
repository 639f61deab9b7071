/**
 * Combining gradients from several workers into one.
 *
 * Weights are the workers' shard sizes (each gradient is a mean over its
 * shard, so the shard-size-weighted mean equals the full-batch mean). The
 * coordinator assigns shard sizes, so weights are trusted; gradient values are not.
 *
 * - mean: sum_i w_i g_i / sum_i w_i.
 * - trimmed-mean: per coordinate, sort the workers' values, cut `trim` of the
 *   total weight from each tail (cutting a worker's weight partially at the
 *   boundary), and take the weighted mean of what remains. With equal weights
 *   and trim*n an integer this is the classic trimmed mean dropping trim*n
 *   values at each end; it tolerates up to that many Byzantine workers.
 * - median: per coordinate, the weighted median (the value where cumulative
 *   weight reaches half; the midpoint of the two neighbours on an exact tie,
 *   which is the usual median for equal weights). It tolerates any minority.
 *
 * Non-finite values (NaN, ±Infinity) are rejected with the worker's index:
 * they carry no usable information and would poison every rule; the caller
 * should drop that worker and aggregate again.
 */

export type AggregationRule = 'mean' | 'trimmed-mean' | 'median';

/** Default fraction of the total weight cut from each tail by trimmed-mean. */
export const DEFAULT_TRIM = 0.2;

export function aggregate(grads: Float32Array[], weights: number[], rule: AggregationRule, trim = DEFAULT_TRIM): Float32Array {
  const n = grads.length;
  if (n === 0) throw new Error('no gradients to aggregate');
  if (weights.length !== n) throw new Error(`${n} gradients but ${weights.length} weights`);
  const len = grads[0]!.length;
  grads.forEach((g, i) => {
    if (g.length !== len) throw new Error(`gradient ${i} has ${g.length} values, gradient 0 has ${len}`);
    for (let j = 0; j < len; j++) {
      if (!Number.isFinite(g[j]!)) throw new Error(`gradient ${i} has a non-finite value at index ${j}`);
    }
  });
  weights.forEach((w, i) => {
    if (!(Number.isFinite(w) && w >= 0)) throw new Error(`weight ${i} must be a finite non-negative number, got ${w}`);
  });
  const total = weights.reduce((a, b) => a + b, 0);
  if (!(total > 0)) throw new Error('weights sum to zero');

  switch (rule) {
    case 'mean': return weightedMean(grads, weights, total);
    case 'trimmed-mean':
      if (!(trim >= 0 && trim < 0.5)) throw new Error(`trim must be in [0, 0.5), got ${trim}`);
      return perCoordinate(grads, weights, (vals, ws, order) => trimmedMean(vals, ws, order, total, trim));
    case 'median': return perCoordinate(grads, weights, (vals, ws, order) => weightedMedian(vals, ws, order, total));
    default: throw new Error(`unknown aggregation rule ${JSON.stringify(rule)}`);
  }
}

function weightedMean(grads: Float32Array[], weights: number[], total: number): Float32Array {
  const acc = new Float64Array(grads[0]!.length);
  grads.forEach((g, i) => {
    const w = weights[i]!;
    for (let j = 0; j < acc.length; j++) acc[j]! += w * g[j]!;
  });
  return Float32Array.from(acc, (v) => v / total);
}

type Reducer = (vals: Float64Array, ws: number[], order: number[]) => number;

function perCoordinate(grads: Float32Array[], weights: number[], reduce: Reducer): Float32Array {
  const n = grads.length;
  const out = new Float32Array(grads[0]!.length);
  const vals = new Float64Array(n);
  const order = Array.from({ length: n }, (_, i) => i);
  for (let j = 0; j < out.length; j++) {
    for (let i = 0; i < n; i++) vals[i] = grads[i]![j]!;
    // insertion sort of worker indices by value: n is small, and ties keep worker order (deterministic)
    for (let a = 1; a < n; a++) {
      const k = order[a]!;
      let b = a - 1;
      while (b >= 0 && vals[order[b]!]! > vals[k]!) { order[b + 1] = order[b]!; b--; }
      order[b + 1] = k;
    }
    out[j] = reduce(vals, weights, order);
    for (let i = 0; i < n; i++) order[i] = i;
  }
  return out;
}

function trimmedMean(vals: Float64Array, ws: number[], order: number[], total: number, trim: number): number {
  // relative slack so that e.g. trim=0.2 of 5 equal weights cuts exactly one worker
  const cut = trim * total * (1 - 1e-12);
  let lo = cut;
  let hi = cut;
  const kept = order.map((i) => ws[i]!);
  for (let a = 0; a < kept.length && lo > 0; a++) {
    const take = Math.min(kept[a]!, lo);
    kept[a]! -= take;
    lo -= take;
  }
  for (let a = kept.length - 1; a >= 0 && hi > 0; a--) {
    const take = Math.min(kept[a]!, hi);
    kept[a]! -= take;
    hi -= take;
  }
  let sum = 0;
  let mass = 0;
  order.forEach((i, a) => {
    if (kept[a]! > total * 1e-12) { sum += kept[a]! * vals[i]!; mass += kept[a]!; }
  });
  return sum / mass;
}

function weightedMedian(vals: Float64Array, ws: number[], order: number[], total: number): number {
  const half = total / 2;
  let cum = 0;
  for (let a = 0; a < order.length; a++) {
    cum += ws[order[a]!]!;
    if (Math.abs(cum - half) <= total * 1e-12) {
      // exactly half the weight at or below this value: midpoint with the next positive-weight value
      let b = a + 1;
      while (b < order.length && ws[order[b]!]! === 0) b++;
      return b < order.length ? (vals[order[a]!]! + vals[order[b]!]!) / 2 : vals[order[a]!]!;
    }
    if (cum > half) return vals[order[a]!]!;
  }
  return vals[order[order.length - 1]!]!;
}
