/** Plain-data shapes of jobs, shards and copies, as the core reasons about them. */
import type { BroadcastState, Downstream } from '../training/broadcast.ts';
import type { DType } from '../../../shared/tensor/dtypes.ts';
import type { Backend, JobKind, JobState } from '../../../shared/protocol/events.ts';
import type { OptimizerConfig } from '../../../shared/training/optimizer.ts';
import type { UpdateFormat } from '../../../shared/training/update-codec.ts';
import type { LrSchedule } from '../../../shared/training/lr-schedule.ts';

export interface Tolerance {
  rtol: number;
  atol: number;
}

/** BOINC-style per-job limits; defaults in `limits.ts`. */
export interface JobLimits {
  /** Successful results that must agree before a shard is validated (min_quorum). */
  replicas: number;
  /** Errors and timeouts tolerated per shard before the job fails (max_error_results). */
  maxErrorCopies: number;
  /** Copies ever issued per shard (max_total_results). */
  maxTotalCopies: number;
  leaseMs: number;
  ackWithinMs: number;
  /** The job fails if not finished this long after it was created; absent: no deadline. */
  deadlineMs?: number;
}

export interface OutputSpec {
  name: string;
  dtype: DType;
  /** Expected dims; null where the graph leaves a dim free. Axis 0 of batched outputs is checked against the shard's records. */
  dims: (number | null)[] | null;
}

export interface InputSpec {
  name: string;
  dtype: DType;
  dims: number[];
  /** Blob holding the whole input tensor (encoded tensor list of one). */
  hash: string;
}

export interface InferenceSpec {
  kind: 'inference';
  modelHash: string;
  modelBytes: number;
  inputs: InputSpec[];
  batchedInputs: string[];
  runUnit: number;
  records: number;
  shardSize: number;
  outputs: OutputSpec[];
  /** Whether outputs carry the records on axis 0 (so shards are stacked back). */
  stackOutputs: boolean;
  tolerance: Tolerance;
  limits: JobLimits;
  /** All copies of a shard must come from one numeric class (backend/vendor/runtime). */
  homogeneous: boolean;
  /** Backends that may compute this job; absent: any. */
  backends?: Backend[];
  /** Why some backend may not (a model it computes wrongly). */
  backendNotes?: string[];
  flopsPerRecord: number;
  /** Credit granted per validated record: GFLOP of the graph per record. */
  creditPerRecord: number;
}

export type AggregateRule = 'mean' | 'trimmed-mean' | 'median';

export interface GradientTolerance {
  /** Largest ||a−b|| / max(||a||, ||b||) between replicas' flattened gradients. */
  maxRelL2: number;
  /** Smallest cosine similarity between replicas' gradients. */
  minCosine: number;
}

/** Local-steps training (DiLoCo): H inner steps per shard, an outer Nesterov step on the averaged change. */
export interface LocalStepsSpec {
  /** Inner steps per shard (H); a round trains on `batch` × H records. */
  steps: number;
  /** The volunteers' inner optimizer (fresh per shard). The job's `optimizer` is then the outer one. */
  inner: OptimizerConfig;
  updateFormat: UpdateFormat;
  blockSize: number;
  /**
   * The inner lr over the run (shared/training/lr-schedule.ts): round r's shards start at inner step r·steps.
   * Absent in jobs made before schedules: the inner optimizer's lr throughout.
   */
  lrSchedule?: LrSchedule;
  /** Largest per-step loss difference between replicas: |a−b| ≤ atol + rtol·max(|a|, |b|). */
  lossTolerance: { rtol: number; atol: number };
  /**
   * How weights go down (server/core/training/broadcast.ts): full weights for a volunteer with no usable
   * version, else the rounds' deltas. Absent in jobs made before compressed downstream: full fp32 weights every round.
   */
  downstream?: Downstream;
}

export interface TrainSpec {
  kind: 'train';
  /** The generated train-step graph volunteers run. */
  modelHash: string;
  modelBytes: number;
  forwardHash: string;
  params: { name: string; dims: number[] }[];
  dataInput: string;
  labelsInput: string;
  /** What volunteers return, in order: [loss, ...grads], or with local steps [losses, change(, scales)]. */
  outputs: OutputSpec[];
  /** The train-step graph's own outputs (a local-steps volunteer runs them H times); absent in jobs made before local steps. */
  stepOutputs?: { loss: string; grads: string[] };
  stackOutputs: false;
  /** Training split (records never in `evalSet`). */
  trainSet: { dataHash: string; labelsHash: string; records: number };
  evalSet: { dataHash: string; labelsHash: string; records: number } | null;
  loss: 'cross-entropy' | 'mse';
  /** The coordinator's optimizer: over averaged gradients (sync) or, with local steps, the outer one over averaged changes. */
  optimizer: OptimizerConfig;
  /** Absent: synchronous rounds (one gradient per shard). */
  localSteps?: LocalStepsSpec;
  aggregate: AggregateRule;
  trim: number;
  batch: number;
  epochs: number;
  shardsPerRound: number;
  seed: number;
  /** Fraction of a round's shards that must be validated to close it after its deadline. */
  minFraction: number;
  roundDeadlineMs: number;
  /** Shards of one round a single volunteer may hold; 0 = no cap. */
  maxShardsPerVolunteer: number;
  /** Stop early once held-out accuracy reaches this. */
  targetAccuracy: number | null;
  gradTolerance: GradientTolerance;
  tolerance: Tolerance;
  limits: JobLimits;
  homogeneous: boolean;
  flopsPerRecord: number;
  creditPerRecord: number;
}

export type JobSpec = InferenceSpec | TrainSpec;

export interface RoundRecord {
  round: number;
  epoch: number;
  /** Mean training loss over the round's validated shards, weighted by records. */
  loss: number;
  /** Held-out accuracy and loss, measured at epoch ends. */
  accuracy: number | null;
  evalLoss: number | null;
  shards: number;
  aggregateMs: number;
  at: number;
}

/** A training job's checkpoint: everything needed to resume after a restart. */
export interface TrainProgress {
  round: number;
  totalRounds: number;
  weightsHash: string;
  optimizerHash: string;
  optimizerStep: number;
  roundStartedAt: number;
  history: RoundRecord[];
  /** Local-steps jobs with a downstream: the weights volunteers train from (may differ from weightsHash, the master weights, by rounding). */
  broadcast?: BroadcastState;
}

export interface Job {
  id: string;
  projectId: string;
  kind: JobKind;
  state: JobState;
  spec: JobSpec;
  progress: TrainProgress | null;
  createdAt: number;
  finishedAt: number | null;
  error: string | null;
  /** Blob of the assembled outputs once completed. */
  resultHash: string | null;
  /**
   * What the project calls it, and its labels: key=value tags (issue 15). Named
   * `tags`, since a training job's `labels` are its targets.
   */
  name?: string;
  tags?: Record<string, string>;
  /** Within its project, shards of a higher priority go first (default 0). */
  priority?: number;
}

export type ShardState = 'open' | 'validated' | 'failed' | 'cancelled';

export interface Shard {
  id: string;
  jobId: string;
  index: number;
  start: number;
  end: number;
  state: ShardState;
  /** Successful results needed before the validator runs; grows by one on each failed consensus. */
  wanted: number;
  canonicalCopyId: string | null;
  errors: number;
  issued: number;
}

export type CopyState = 'assigned' | 'running' | 'returned' | 'expired' | 'error' | 'cancelled';
export type CopyOutcome = 'pending' | 'valid' | 'invalid';

export interface Copy {
  id: string;
  shardId: string;
  jobId: string;
  volunteerId: string;
  account: string;
  wallet: string | null;
  address: string;
  numericClass: string;
  state: CopyState;
  outcome: CopyOutcome;
  assignedAt: number;
  deadline: number;
  returnedAt: number | null;
  reason: string | null;
  credit: number;
  /** Drawn to stand alone when issued: its shard wants no other copy while it lives (core/trust/replication.ts). */
  solo?: boolean;
  /** Accepted on no trusted or independent word (core/trust/judge.ts): the project got it, no credit was given. */
  unchecked?: boolean;
  /**
   * Issued as a spot check (a known-answer copy, core/trust/spot-check.ts). Server-side only: the
   * assignment is built from named fields (WorkService.assignment), none of them this one, so the volunteer
   * cannot tell; it makes the spot-check counters count exactly these copies.
   */
  spot?: boolean;
  /**
   * Issued to a root host for a review (core/trust/review.ts decideReviewCopy). Server-side only, as `spot`: it
   * comes back either settling its review or, the review settled meanwhile, recorded without a trust change.
   */
  review?: boolean;
}
