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

/**
 * What a job request may ask for, stated once: the HTTP schemas
 * (server/http/schemas.ts) take their bounds from here, and the services
 * check the values they end up with (request, options and defaults merged)
 * against the same numbers. [min, max], inclusive.
 */
export const BOUNDS = {
  replicas: [1, 9],
  maxErrorCopies: [0, 100],
  maxTotalCopies: [1, 100],
  leaseSeconds: [1, 86_400],
  ackWithinMs: [500, 600_000],
  shardSize: [1, 1_000_000],
  batch: [1, 1_000_000],
  epochs: [1, 10_000],
  shardsPerRound: [1, 1024],
  roundDeadlineSeconds: [1, 86_400],
  maxShardsPerVolunteer: [0, 1024],
  /** A job's deadline: at most 30 days. */
  deadlineSeconds: [1, 30 * 86_400],
} as const satisfies Record<string, readonly [number, number]>;

/** Why `v` is not an integer in [min, max], named `name`, or null. */
export function intProblem(name: string, v: number, [min, max]: readonly [number, number]): string | null {
  return Number.isInteger(v) && v >= min && v <= max ? null : `${name} must be an integer in ${min}..${max}, got ${v}`;
}
