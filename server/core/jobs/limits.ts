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

/** What a job request may ask for: part of the HTTP contract (shared/http/bounds.ts), checked again by the services. */
export { BOUNDS } from '../../../shared/http/bounds.ts';

/** Why `v` is not an integer in [min, max], named `name`, or null. */
export function intProblem(name: string, v: number, [min, max]: readonly [number, number]): string | null {
  return Number.isInteger(v) && v >= min && v <= max ? null : `${name} must be an integer in ${min}..${max}, got ${v}`;
}
