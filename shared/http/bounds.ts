/**
 * What a job request may ask for, stated once: the HTTP schemas
 * (shared/http/requests.ts) take their bounds from here, and the services
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
  localSteps: [1, 1000],
  /** A job's deadline: at most 30 days. */
  deadlineSeconds: [1, 30 * 86_400],
} as const satisfies Record<string, readonly [number, number]>;
