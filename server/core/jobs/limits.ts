import type { JobLimits, Tolerance } from './types.ts';

/** Defaults after BOINC's (max_error_results = 3, max_total_results = 10) with leases sized for browser shards. */
export const DEFAULT_LIMITS: JobLimits = {
  replicas: 2,
  maxErrorCopies: 3,
  maxTotalCopies: 10,
  leaseMs: 120_000,
  ackWithinMs: 15_000,
};

export const DEFAULT_TOLERANCE: Tolerance = { rtol: 1e-3, atol: 1e-5 };

export const DEFAULT_SHARD_SIZE = 64;
