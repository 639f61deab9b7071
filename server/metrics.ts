/** Prometheus metrics at /metrics: what an operator graphs and alerts on. */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

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
    resultLatency: new Histogram({ name: 'tabgrid_result_seconds', help: 'Time to validate and persist a result', buckets: [0.001, 0.005, 0.02, 0.1, 0.5, 2], registers: [registry] }),
  };
}

export type Metrics = ReturnType<typeof createMetrics>;
