/** Coordinator settings, from `tabgrid serve` flags or `startCoordinator()` options. */
import { DEFAULT_CREDIT_HOLD_MS } from './core/credit/hold.ts';
import type { DistinctRule } from './core/scheduler/eligibility.ts';
import { type AddressRules, DEFAULT_ADDRESS_RULES, type ProxyTrust } from './core/trust/address.ts';
import { DEFAULT_MODEL_CHECK_LIMITS, type ModelCheckLimits } from './models/model-checker.ts';
import { type AnswerLimits, DEFAULT_ANSWER_LIMITS } from './models/answer-runner.ts';
import { DEFAULT_TRUST, type TrustPolicy } from './core/trust/policy.ts';
import { SPOT_PAIR_WAIT_MS } from './core/trust/spot-check.ts';

export interface CoordinatorConfig {
  port: number;
  host: string;
  dataDir: string;
  /**
   * PostgreSQL URL: store everything there instead of `<dataDir>/tabgrid.sqlite`,
   * so several coordinators can share one database.
   */
  postgresUrl?: string;
  /** Copies of one shard never share these (besides the volunteer itself). */
  distinctCopies: Set<DistinctRule>;
  /** Largest socket.io message (a result upload), bytes. */
  maxResultBytes: number;
  /**
   * Bytes of socket uploads in flight (received, not yet handled) on all connections together;
   * a connection that would exceed it is dropped. At least one result upload (2 x maxResultBytes + 1 MiB).
   */
  uploadBudgetBytes: number;
  /**
   * Bytes a connection may send at once while it holds no copy (before hello, or
   * after it: anyone may say hello). Holding one, it may send that copy's result.
   */
  unhelloedUploadBytes: number;
  /** Largest HTTP upload (a model or an input), bytes. */
  maxUploadBytes: number;
  /** Copies one volunteer may hold at once. */
  maxInFlightPerVolunteer: number;
  heartbeatMs: number;
  /** How long a disconnected volunteer's copies wait for it to come back (a reload) before reissue. */
  disconnectGraceMs: number;
  reconcileEveryMs: number;
  /** Built contributor app to serve at `/`, if present. */
  clientDir: string;
  /** Public URL of this coordinator, for links printed to users. */
  publicUrl?: string;
  /**
   * Whose X-Forwarded-For entries to believe for client addresses (`--trust-proxy`):
   * none, the one proxy directly in front, or a list of trusted proxies.
   */
  trustProxy: ProxyTrust;
  /** Network prefixes the distinct-copies address rule groups clients by (`--address-groups`). */
  addressGroups: Pick<AddressRules, 'v4Prefix' | 'v6Prefix'>;
  logLevel: string;
  /** Create the MNIST training demo in the local project on start (npm start). */
  demo: boolean;
  demoReplicas: number;
  /** How long embed consent lasts, at most 30 days. */
  consentMaxHours: number;
  /** How long a credit stays pending (reversible, unpaid) before it is payable (`--credit-hold`). */
  creditHoldMs: number;
  /** Limits of one submitted model's check (load, shape inference, FLOP estimate), run on a worker thread. */
  modelCheck: ModelCheckLimits;
  /** Fraction of work requests answered with a known-answer copy (`--spot-checks`; 0: none). */
  spotCheckFraction: number;
  /**
   * How long a known answer's first copy waits for a second host's spot check (`--spot-pair-seconds`;
   * core/trust/spot-check.ts pairedKnownAnswer); 0: known answers go out singly (no pairs).
   */
  spotPairWaitMs: number;
  /**
   * The rest of the trust policy (`--trust-after`, `--min-replicate-probability`, `--class-quorum`, `--copies`);
   * startCoordinator refuses a bad value (trustPolicy), naming it and its range.
   */
  trust: Omit<TrustPolicy, 'spotCheckFraction'>;
  /** The coordinator's own computations of shards (known answers before any shard validates): one thread, these limits. */
  knownAnswers: AnswerLimits;
  /**
   * The coordinator's own computation (the same thread, while idle) settles open reviews no operator host is working
   * on (`--own-reviews on|off`; services/reviews.ts); off: only the operator's hosts settle reviews.
   */
  ownReviews: boolean;
}

export const DEFAULT_CONFIG: Omit<CoordinatorConfig, 'dataDir' | 'clientDir'> = {
  port: 8080,
  host: '0.0.0.0',
  distinctCopies: new Set(['wallet', 'address']),
  maxResultBytes: 16 * 1024 * 1024,
  maxUploadBytes: 512 * 1024 * 1024,
  uploadBudgetBytes: 256 * 1024 * 1024,
  unhelloedUploadBytes: 64 * 1024,
  maxInFlightPerVolunteer: 2,
  heartbeatMs: 10_000,
  disconnectGraceMs: 20_000,
  reconcileEveryMs: 1000,
  trustProxy: false,
  addressGroups: { v4Prefix: DEFAULT_ADDRESS_RULES.v4Prefix, v6Prefix: DEFAULT_ADDRESS_RULES.v6Prefix },
  logLevel: 'info',
  consentMaxHours: 24,
  creditHoldMs: DEFAULT_CREDIT_HOLD_MS,
  modelCheck: DEFAULT_MODEL_CHECK_LIMITS,
  spotCheckFraction: DEFAULT_TRUST.spotCheckFraction,
  spotPairWaitMs: SPOT_PAIR_WAIT_MS,
  trust: {
    trustAfter: DEFAULT_TRUST.trustAfter, minReplicateProbability: DEFAULT_TRUST.minReplicateProbability, classQuorum: DEFAULT_TRUST.classQuorum,
    oneCopyAtATime: DEFAULT_TRUST.oneCopyAtATime,
    pace: DEFAULT_TRUST.pace,
  },
  knownAnswers: DEFAULT_ANSWER_LIMITS,
  ownReviews: true,
  demo: false,
  demoReplicas: 1,
};

/** Largest socket.io message: above the result limit, so an oversize result gets a precise refusal, not a dropped socket. */
export function socketMessageBytes(c: Pick<CoordinatorConfig, 'maxResultBytes'>): number {
  return c.maxResultBytes * 2 + 1024 * 1024;
}

/** Why these upload limits cannot work, or null: the budget must hold at least one whole result upload. */
export function uploadBudgetProblem(c: Pick<CoordinatorConfig, 'maxResultBytes' | 'uploadBudgetBytes' | 'unhelloedUploadBytes'>): string | null {
  const one = socketMessageBytes(c);
  if (!(c.uploadBudgetBytes >= one)) return `the upload budget (${c.uploadBudgetBytes} bytes) must hold at least one result upload: ${one} bytes (2 x the result limit + 1 MiB)`;
  if (!(c.unhelloedUploadBytes >= 1024)) return `a connection must be allowed at least 1024 bytes before hello; got ${c.unhelloedUploadBytes}`;
  return null;
}
