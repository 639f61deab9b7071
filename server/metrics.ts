/** Prometheus metrics at /metrics: what an operator graphs and alerts on. */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { CoordinatorEvents, TrustLoss } from './services/events.ts';
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
    spotChecks: new Counter({ name: 'tabgrid_spot_checks_total', help: 'Spot checks (known-answer copies): issued, and judged passed or failed', labelNames: ['event'], registers: [registry] }),
    copiesIssued: new Counter({ name: 'tabgrid_copies_issued_total', help: 'Ordinary copies issued, by replication: solo (a trusted host\'s copy standing alone) or replicated', labelNames: ['replication'], registers: [registry] }),
    trustEarned: new Counter({ name: 'tabgrid_hosts_trusted_total', help: 'Hosts that earned trust in a numeric class (their streak reached --trust-after)', registers: [registry] }),
    trustLost: new Counter({ name: 'tabgrid_hosts_lost_trust_total', help: 'Trusted hosts that lost trust, by reason: invalid result, spot check failed, operator trust revoked', labelNames: ['reason'], registers: [registry] }),
    tooFast: new Counter({ name: 'tabgrid_results_too_fast_total', help: 'Trusted hosts\' results judged as untrusted ones\' because they came back far faster (PACE_FACTOR) than their host\'s fastest checked result', registers: [registry] }),
    reopened: new Counter({
      name: 'tabgrid_shards_reopened_total', labelNames: ['reason'], registers: [registry],
      help: 'Shards re-opened for others to recompute, by reason: backtracking (a host caught lying had them accepted on its word alone), void (every host that agreed on the answer was caught since)',
    }),
    reversed: new Counter({ name: 'tabgrid_credit_reversed_total', help: 'Credit reversed by new ledger rows (GFLOP)', registers: [registry] }),
    reviews: new Counter({ name: 'tabgrid_reviews_total', help: 'Reviews of results a caught host had agreed on (settled by the root of trust): opened, root copies issued, confirmed, overturned', labelNames: ['event'], registers: [registry] }),
    reviewsSettled: new Counter({ name: 'tabgrid_reviews_settled_total', help: 'Reviews settled, by outcome (confirmed, overturned) and by whom: an operator\'s host (root) or the coordinator\'s own computation (coordinator)', labelNames: ['by', 'outcome'], registers: [registry] }),
    payouts: new Counter({ name: 'tabgrid_payouts_closed_total', help: 'Payout epochs closed', registers: [registry] }),
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
export function registerGridMetrics(m: Metrics, counts: () => Promise<GridCounts>, build: { version: string; store: string }, reviews?: () => Promise<Record<string, number>>): void {
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
  if (reviews) {
    new Gauge({
      name: 'tabgrid_reviews', help: 'Reviews by state; open ones wait for the root of trust (the coordinator\'s own computation or an operator host) and hold their shards\' credit pending; closed ones ended with their job (failed or cancelled) unsettled', labelNames: ['state'], registers: [m.registry],
      async collect() { for (const [state, n] of Object.entries(await reviews())) this.set({ state }, n); },
    });
  }
  new Gauge({ name: 'tabgrid_build_info', help: 'Version, Node.js and store of this coordinator (always 1)', labelNames: ['version', 'node', 'store'], registers: [m.registry] })
    .set({ version: build.version, node: process.version, store: build.store }, 1);
}

export type Metrics = ReturnType<typeof createMetrics>;

const LOSSES: readonly TrustLoss[] = ['invalid', 'spot_check_failed', 'operator_revoked'];

/** Counts what the trust machinery does (the services announce it as `trust` events, as they do it). */
export function countTrust(m: Metrics, events: CoordinatorEvents): void {
  // Every label value from the start, at 0: a rate over a series that appears only at its first event misses it.
  for (const event of ['issued', 'passed', 'failed']) m.spotChecks.inc({ event }, 0);
  for (const replication of ['solo', 'replicated']) m.copiesIssued.inc({ replication }, 0);
  for (const reason of LOSSES) m.trustLost.inc({ reason }, 0);
  for (const reason of ['backtracking', 'void']) m.reopened.inc({ reason }, 0);
  for (const event of ['opened', 'issued', 'confirmed', 'overturned']) m.reviews.inc({ event }, 0);
  for (const by of ['root', 'coordinator']) for (const outcome of ['confirmed', 'overturned']) m.reviewsSettled.inc({ by, outcome }, 0);
  events.on('trust', (n) => {
    switch (n.kind) {
      case 'spot-issued': m.spotChecks.inc({ event: 'issued' }); break;
      case 'spot-judged': m.spotChecks.inc({ event: n.passed ? 'passed' : 'failed' }); break;
      case 'copy-issued': m.copiesIssued.inc({ replication: n.solo ? 'solo' : 'replicated' }); break;
      case 'trust-earned': m.trustEarned.inc(); break;
      case 'too-fast': m.tooFast.inc(); break;
      case 'trust-lost': m.trustLost.inc({ reason: n.reason }); break;
      // A counter refuses a negative step (it throws, in the service that announced it): amounts are taken back, never given.
      case 'reopened': m.reopened.inc({ reason: n.reason }, Math.max(0, n.shards)); m.reversed.inc(Math.max(0, n.creditReversed)); break;
      case 'reversed': m.reversed.inc(Math.max(0, n.credit)); break;
      case 'payout': m.payouts.inc(); break;
      case 'review':
        m.reviews.inc({ event: n.event }, Math.max(0, n.count));
        if ('by' in n) m.reviewsSettled.inc({ by: n.by, outcome: n.event }, Math.max(0, n.count));
        break;
    }
  });
}
