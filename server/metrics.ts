/** Prometheus metrics at /metrics: what an operator graphs and alerts on. */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { GridCounts } from './store/types.ts';

export function createMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  return {
    registry,
    volunteers: new Gauge({ name: 'tabgrid_volunteers_connected', help: 'Connected volunteers by backend', labelNames: ['backend'], registers: [registry] }),
    assigned: new Counter({ name: 'tabgrid_copies_assigned_total', help: 'Copies handed to volunteers', registers: [registry] }),
    results: new Counter({ name: 'tabgrid_results_total', help: 'Result uploads by status', labelNames: ['status'], registers: [registry] }),
    judged: new Counter({ name: 'tabgrid_copies_judged_total', help: 'Copies judged by the validator', labelNames: ['outcome'], registers: [registry] }),
    credit: new Counter({ name: 'tabgrid_credit_granted_total', help: 'Credit granted (GFLOP of validated work)', registers: [registry] }),
    refused: new Counter({ name: 'tabgrid_requests_refused_total', help: 'Socket events and HTTP requests refused, by reason code', labelNames: ['code'], registers: [registry] }),
    uploadsInFlight: new Gauge({ name: 'tabgrid_upload_bytes_in_flight', help: 'Bytes of socket uploads received and not yet handled', registers: [registry] }),
    uploadsInFlightPeak: new Gauge({ name: 'tabgrid_upload_bytes_in_flight_peak', help: 'Most bytes of socket uploads ever in flight at once (never above the budget)', registers: [registry] }),
    resultLatency: new Histogram({ name: 'tabgrid_result_seconds', help: 'Time to validate and persist a result', buckets: [0.001, 0.005, 0.02, 0.1, 0.5, 2], registers: [registry] }),
    http: new Histogram({
      name: 'tabgrid_http_request_duration_seconds', help: 'HTTP requests by method, route (as registered) and status code',
      labelNames: ['method', 'route', 'status'], buckets: [0.001, 0.005, 0.02, 0.1, 0.5, 2, 10], registers: [registry],
    }),
  };
}

/**
 * What the store holds, read when Prometheus scrapes (so a scrape costs three
 * grouped counts, and nothing is counted between scrapes), and build info.
 */
export function registerGridMetrics(m: Metrics, counts: () => Promise<GridCounts>, build: { version: string; store: string }): void {
  let pending: Promise<GridCounts> | null = null;
  // The three gauges of one scrape share one read.
  const read = () => (pending ??= counts().finally(() => { setTimeout(() => { pending = null; }, 0); }));
  new Gauge({
    name: 'tabgrid_jobs', help: 'Jobs by state', labelNames: ['state'], registers: [m.registry],
    async collect() { for (const [state, n] of Object.entries((await read()).jobs)) this.set({ state }, n); },
  });
  new Gauge({
    name: 'tabgrid_shards', help: 'Shards of running jobs by state', labelNames: ['state'], registers: [m.registry],
    async collect() { for (const [state, n] of Object.entries((await read()).shards)) this.set({ state }, n); },
  });
  new Gauge({
    name: 'tabgrid_queue_depth', help: 'Copies that open shards of running jobs want and no volunteer holds yet', registers: [m.registry],
    async collect() { this.set((await read()).queue); },
  });
  new Gauge({ name: 'tabgrid_build_info', help: 'Version, Node.js and store of this coordinator (always 1)', labelNames: ['version', 'node', 'store'], registers: [m.registry] })
    .set({ version: build.version, node: process.version, store: build.store }, 1);
}

export type Metrics = ReturnType<typeof createMetrics>;
