/**
 * The dashboards' numbers, apart from how they are drawn: job rates from the
 * coordinator's JobSummary, and time series built from the live snapshots
 * (the coordinator pushes cumulative counters, so rates over time are
 * differences between snapshots over a sliding window).
 */
import type { JobSummary } from '../../shared/protocol/events.ts';

export interface JobRates {
  /** Copies judged so far: valid + invalid + error (expired and pending are not judgements). */
  judged: number;
  validRate: number | null;
  invalidRate: number | null;
  /**
   * Invalid copies per validated shard. Every shard whose copies disagreed
   * leaves at least one invalid copy, so this bounds the share of shards that
   * saw a disagreement from above (the coordinator does not count those shards).
   */
  disagreement: number | null;
  errorRate: number | null;
  /** Credit paid per validated shard. */
  costPerShard: number | null;
  progress: number;
}

const ratio = (a: number, b: number): number | null => (b > 0 ? a / b : null);

export function jobRates(j: Pick<JobSummary, 'shards' | 'copies' | 'credit'>): JobRates {
  const { valid, invalid, error } = j.copies;
  const judged = valid + invalid + error;
  return {
    judged,
    validRate: ratio(valid, judged),
    invalidRate: ratio(invalid, judged),
    disagreement: ratio(invalid, j.shards.validated),
    errorRate: ratio(error, judged),
    costPerShard: ratio(j.credit, j.shards.validated),
    progress: j.shards.total > 0 ? j.shards.validated / j.shards.total : 0,
  };
}

export interface Totals {
  jobs: number;
  running: number;
  shards: number;
  validated: number;
  failed: number;
  valid: number;
  invalid: number;
  error: number;
  expired: number;
  pending: number;
  credit: number;
}

export function totals(jobs: readonly JobSummary[]): Totals {
  const t: Totals = { jobs: jobs.length, running: 0, shards: 0, validated: 0, failed: 0, valid: 0, invalid: 0, error: 0, expired: 0, pending: 0, credit: 0 };
  for (const j of jobs) {
    if (j.state === 'running') t.running++;
    t.shards += j.shards.total;
    t.validated += j.shards.validated;
    t.failed += j.shards.failed;
    t.valid += j.copies.valid;
    t.invalid += j.copies.invalid;
    t.error += j.copies.error;
    t.expired += j.copies.expired;
    t.pending += j.copies.pending;
    t.credit += j.credit;
  }
  return t;
}

/** Columnar series for uPlot: `x` in seconds since the epoch, one array per named column (null = gap). */
export class TimeSeries<K extends string> {
  readonly x: number[] = [];
  readonly cols: Record<K, (number | null)[]>;

  constructor(readonly keys: readonly K[], private readonly maxPoints = 900) {
    this.cols = Object.fromEntries(keys.map((k) => [k, []])) as unknown as Record<K, (number | null)[]>;
  }

  push(atMs: number, values: Partial<Record<K, number | null>>): void {
    // uPlot needs increasing x: a sample at the same second replaces the previous one.
    const t = atMs / 1000;
    if (this.x.length && t <= this.x[this.x.length - 1]!) {
      for (const k of this.keys) this.cols[k][this.cols[k].length - 1] = values[k] ?? null;
      return;
    }
    this.x.push(t);
    for (const k of this.keys) this.cols[k].push(values[k] ?? null);
    if (this.x.length > this.maxPoints) {
      this.x.shift();
      for (const k of this.keys) this.cols[k].shift();
    }
  }

  get length(): number {
    return this.x.length;
  }

  data(keys: readonly K[] = this.keys): [number[], ...(number | null)[][]] {
    return [this.x.slice(), ...keys.map((k) => this.cols[k].slice())];
  }
}

/**
 * Rates over a sliding window from cumulative counters (validated shards,
 * credit paid): shards per minute and credit per validated shard in the
 * window. A counter that goes down (a job left the listing) restarts the window.
 */
export class WindowedRates {
  private points: { at: number; validated: number; credit: number }[] = [];

  constructor(private readonly windowMs = 60_000) {}

  add(at: number, validated: number, credit: number): { shardsPerMin: number; costPerShard: number | null } {
    const last = this.points[this.points.length - 1];
    if (last && (validated < last.validated || credit < last.credit - 1e-9)) this.points = [];
    this.points.push({ at, validated, credit });
    while (this.points.length > 2 && this.points[1]!.at <= at - this.windowMs) this.points.shift();
    const first = this.points[0]!;
    const span = Math.max(1000, at - first.at);
    const dv = validated - first.validated;
    return {
      shardsPerMin: this.points.length < 2 ? 0 : (dv * 60_000) / Math.min(span, this.windowMs),
      costPerShard: dv > 0 ? (credit - first.credit) / dv : null,
    };
  }
}

/**
 * A wallet's balance over time as a step series, from its latest ledger
 * entries (oldest first). The coordinator lists only the latest entries, so
 * the curve starts at what the balance was before them and ends at `balance`.
 */
export function balanceHistory(entries: readonly { at: number; amount: number }[], balance?: number): [number[], number[]] {
  const sorted = [...entries].sort((a, b) => a.at - b.at);
  const listed = sorted.reduce((s, e) => s + e.amount, 0);
  const x: number[] = [];
  const y: number[] = [];
  let sum = balance === undefined ? 0 : Math.max(0, balance - listed);
  if (sorted.length) { x.push(sorted[0]!.at / 1000 - 1); y.push(sum); }
  for (const e of sorted) {
    sum += e.amount;
    const t = e.at / 1000;
    if (x.length && t <= x[x.length - 1]!) y[y.length - 1] = sum;
    else { x.push(t); y.push(sum); }
  }
  return [x, y];
}

/** `#/swarm`, `#/project`, `#/wallet/0x…`: the dashboard's routes, from location.hash. */
export type Route = { view: 'swarm' } | { view: 'project' } | { view: 'wallet'; account: string | null } | { view: 'board'; name: string };

export function parseRoute(hash: string): Route {
  const parts = hash.replace(/^#\/?/, '').split('/').map((p) => decodeURIComponent(p));
  if (parts[0] === 'project') return { view: 'project' };
  if (parts[0] === 'p' && parts[1]) return { view: 'board', name: parts[1] };
  if (parts[0] === 'wallet') return { view: 'wallet', account: parts[1] ? parts[1].trim() : null };
  return { view: 'swarm' };
}

export function pct(x: number | null, digits = 1): string {
  return x === null ? '–' : `${(x * 100).toFixed(digits)}%`;
}
