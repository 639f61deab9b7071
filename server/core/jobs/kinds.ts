/**
 * What differs between job kinds, stated once per kind: which volunteers may
 * compute a copy, how many of a round one volunteer may hold, when a result
 * comes too late to use, how two results of one shard are compared, and what
 * a finished job yields. The scheduler, the validator, the services and the
 * stores ask the kind instead of branching on it; a new kind is one more
 * entry here (and its service beside the others in server/services/kinds.ts).
 */
import type { Backend, JobKind, JobSummary } from '../../../shared/protocol/events.ts';
import type { NamedTensor } from '../../../shared/tensor/tensor.ts';
import { LOCAL_OUTPUTS } from '../../../shared/training/local-steps.ts';
import { shapedResultBytes } from '../limits/result-allowance.ts';
import { outputsDisagreement } from '../validation/compare.ts';
import { gradientDisagreement } from '../validation/gradients.ts';
import { localResultProblem, localUpdateDisagreement, readLocalResult } from '../validation/updates.ts';
import { backendAllows } from './backends.ts';
import type { InferenceSpec, Job, JobSpec, Shard, TrainSpec } from './types.ts';

export interface KindRules<S extends JobSpec = JobSpec> {
  readonly kind: JobKind;
  /** Whether a volunteer of this numeric class may compute the job's copies. */
  runsOn(spec: S, numericClass: string): boolean;
  /** The backends the job is restricted to, or null when every one may compute it. */
  backends(spec: S): Backend[] | null;
  /** The shard indexes [from, to) whose copies count with shard `index` against one volunteer's cap; null when uncapped. */
  capWindow(spec: S, index: number): { from: number; to: number; cap: number } | null;
  /** Why a result for this shard is no longer wanted though its copy is still live (its round closed), or null. */
  tooLate(job: Job, shard: Shard): string | null;
  /** Why two results of one shard disagree, or null when they agree. */
  disagreement(spec: S, a: NamedTensor[], b: NamedTensor[]): string | null;
  /** Why one well-shaped result is unusable whatever its replicas say (refused at upload), or null. */
  resultProblem(spec: S, outputs: NamedTensor[]): string | null;
  /** The bytes of a well-formed result of a shard of `records` records, or null when the graph leaves a dim free. */
  resultBytes(spec: S, records: number): number | null;
  /** The shard indexes [from, to) of the round numbered `round`, whose results a closed round no longer needs. */
  roundShards(spec: S, round: number): { from: number; to: number };
  /** What a completed job yields: assembled outputs, or a trained model (and where a client asking for the other should look). */
  readonly yields: 'outputs' | 'model';
  /** "a training job; fetch /model and /history": the job as its kind, for a client that asked for what it does not yield. */
  readonly describe: string;
  /** What the reply to a job's submission tells beyond its summary (the plan the coordinator made). */
  created(job: Job & { spec: S }): Record<string, unknown>;
  /** What a job's status (GET /jobs/:id) tells beyond its summary. */
  details(job: Job & { spec: S }): Record<string, unknown>;
  /** What every summary of the job (status, lists, dashboards) tells beyond the fields all jobs have. */
  summary(job: Job & { spec: S }): Pick<JobSummary, 'backends' | 'backendNotes' | 'train'>;
}

const roundOf = (spec: TrainSpec, index: number) => Math.floor(index / spec.shardsPerRound);
/**
 * How the job trains: synchronous rounds, or H local steps with the change sent up in a format, and the format full
 * weights go down in (synchronous rounds, and local-steps jobs made before compressed downstream, send fp32); and
 * the volunteers' inner lr over the run (constant for synchronous rounds and for jobs made before schedules).
 */
const trainingMode = (spec: TrainSpec) => ({
  localSteps: spec.localSteps?.steps ?? 1,
  updateFormat: spec.localSteps?.updateFormat ?? 'fp32',
  weightsFormat: spec.localSteps?.downstream?.weightsFormat ?? 'fp32',
  lrSchedule: spec.localSteps?.lrSchedule?.kind ?? 'constant',
});
export const parameterCount = (spec: Pick<TrainSpec, 'params'>) => spec.params.reduce((n, p) => n + p.dims.reduce((a, b) => a * b, 1), 0);

export const INFERENCE: KindRules<InferenceSpec> = {
  kind: 'inference',
  runsOn: (spec, numericClass) => backendAllows(spec.backends, numericClass),
  backends: (spec) => spec.backends ?? null,
  capWindow: () => null,
  tooLate: () => null,
  disagreement: (spec, a, b) => outputsDisagreement(a, b, spec.tolerance),
  resultProblem: () => null,
  resultBytes: (spec, records) => shapedResultBytes(spec.outputs, records, spec.stackOutputs),
  // One round: the whole job.
  roundShards: () => ({ from: 0, to: Number.MAX_SAFE_INTEGER }),
  yields: 'outputs',
  describe: 'an inference job; its results are /outputs',
  created: ({ spec: s }) => ({
    records: s.records, shardSize: s.shardSize, replicas: s.limits.replicas, flopsPerRecord: s.flopsPerRecord,
    creditPerShard: s.creditPerRecord * s.shardSize, outputs: s.outputs,
  }),
  details: ({ spec: s }) => ({ records: s.records, outputs: s.outputs }),
  summary: ({ spec: s }) => (s.backends ? { backends: s.backends, backendNotes: s.backendNotes ?? [] } : {}),
};

export const TRAIN: KindRules<TrainSpec> = {
  kind: 'train',
  // Train-step graphs hold only operators both backends compute (webgpu-allowlist.ts).
  runsOn: () => true,
  backends: () => null,
  capWindow: (spec, index) => {
    if (spec.maxShardsPerVolunteer <= 0) return null;
    const round = roundOf(spec, index);
    return { from: round * spec.shardsPerRound, to: (round + 1) * spec.shardsPerRound, cap: spec.maxShardsPerVolunteer };
  },
  tooLate: (job, shard) => (job.progress && roundOf(job.spec as TrainSpec, shard.index) < job.progress.round ? 'arrived after its training round closed' : null),
  disagreement: (spec, a, b) => (spec.localSteps
    ? localUpdateDisagreement(spec.localSteps, spec.gradTolerance.maxRelL2, parameterCount(spec), a, b)
    : gradientDisagreement(spec.gradTolerance, a, b)),
  // A local-steps change is applied as sent (no replica may check it when replicas is 1): non-finite values are refused.
  resultProblem: (spec, outputs) => (spec.localSteps
    ? localResultProblem(readLocalResult(outputs, spec.localSteps.updateFormat, spec.localSteps.blockSize), parameterCount(spec), spec.localSteps)
    : null),
  // A gradient per parameter, or one change per parameter and a loss per local step.
  resultBytes: (spec) => shapedResultBytes(spec.outputs, 0, false, (o) => (spec.localSteps && o.name === LOCAL_OUTPUTS.losses ? spec.localSteps.steps : null)),
  roundShards: (spec, round) => ({ from: round * spec.shardsPerRound, to: (round + 1) * spec.shardsPerRound }),
  yields: 'model',
  describe: 'a training job; fetch /model and /history',
  created: (job) => ({ rounds: job.progress!.totalRounds, flopsPerRecord: job.spec.flopsPerRecord, ...trainingMode(job.spec) }),
  details: (job) => ({ records: job.spec.trainSet.records, heldOut: job.spec.evalSet?.records ?? 0, ...trainingMode(job.spec), history: job.progress?.history ?? [] }),
  summary: ({ progress }) => (progress ? {
    train: {
      round: progress.round,
      rounds: progress.totalRounds,
      loss: progress.history.at(-1)?.loss ?? null,
      accuracy: progress.history.findLast((h) => h.accuracy !== null)?.accuracy ?? null,
    },
  } : {}),
};

const KINDS: { [K in JobKind]: KindRules } = { inference: INFERENCE as KindRules, train: TRAIN as KindRules };

/** The rules of the spec's kind, typed for any spec (each kind's functions only ever see their own). */
export function kindOf(spec: JobSpec): KindRules {
  return KINDS[spec.kind];
}
