/**
 * Credit comes from the server's own estimate of the work (FLOPs of the graph
 * per record × records), never from what a volunteer claims, and only after
 * validation. Every valid copy of a shard earns the same amount.
 * Unit: 1 credit = 1 GFLOP of validated work.
 */
export const MAX_CREDIT_PER_COPY = 1e6;

export function creditPerRecord(flopsPerRecord: number): number {
  return Math.max(1e-6, flopsPerRecord / 1e9);
}

export function copyCredit(perRecord: number, records: number): number {
  const raw = perRecord * records;
  return Math.min(MAX_CREDIT_PER_COPY, Math.round(raw * 1e6) / 1e6);
}
