/**
 * Throughput over time for the contributor's chart: shards finished per
 * minute and the share of time spent computing, each sampled over a sliding
 * one-minute window so the lines are smooth instead of spiking per shard.
 */

const WINDOW_MS = 60_000;

export class ThroughputSeries {
  /** uPlot's columnar data: seconds since epoch, shards/min, busy %. */
  readonly x: number[] = [];
  readonly shardsPerMin: number[] = [];
  readonly busyPct: number[] = [];
  private done: { at: number; ms: number }[] = [];

  constructor(private readonly maxPoints = 600) {}

  record(computeMs: number, at = Date.now()) {
    this.done.push({ at, ms: computeMs });
  }

  sample(now = Date.now(), since = now - WINDOW_MS) {
    const from = Math.max(since, now - WINDOW_MS);
    this.done = this.done.filter((d) => d.at > now - WINDOW_MS);
    const span = Math.max(1000, now - from);
    const inWindow = this.done.filter((d) => d.at >= from);
    const busy = inWindow.reduce((s, d) => s + d.ms, 0);
    this.x.push(now / 1000);
    this.shardsPerMin.push((inWindow.length * 60_000) / span);
    this.busyPct.push(Math.min(100, (busy / span) * 100));
    if (this.x.length > this.maxPoints) {
      this.x.shift();
      this.shardsPerMin.shift();
      this.busyPct.shift();
    }
  }

  data(): [number[], number[], number[]] {
    return [this.x.slice(), this.shardsPerMin.slice(), this.busyPct.slice()];
  }
}
