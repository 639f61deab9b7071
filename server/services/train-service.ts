/**
 * Training jobs: synchronous data-parallel rounds over generated train-step
 * graphs. Each round the coordinator publishes the weights (a content-addressed
 * blob volunteers cache), splits the round's global batch into shards,
 * collects cross-checked gradients, aggregates them robustly and steps the
 * optimizer itself. Every round is checkpointed in the store, so a restarted
 * coordinator resumes from the last closed round.
 */
import type { Logger } from 'pino';
import type { InferOutput } from 'valibot';
import { ModelError } from '../../shared/onnx/model.ts';
import type { WireTensor } from '../../shared/protocol/events.ts';
import { decodeTensors, encodeTensors } from '../../shared/tensor/codec.ts';
import { describe, gatherRecords, type NamedTensor, type Tensor, typedView } from '../../shared/tensor/tensor.ts';
import type { BlobStore } from '../blobs/blob-store.ts';
import { creditPerRecord } from '../core/credit/credit.ts';
import { BOUNDS, DEFAULT_LIMITS, DEFAULT_TOLERANCE, intProblem } from '../core/jobs/limits.ts';
import type { Job, JobLimits, RoundRecord, Shard, TrainProgress, TrainSpec } from '../core/jobs/types.ts';
import { epochOrder, holdOut, roundBatch, roundDecision, roundsPerEpoch, splitRange, totalRounds } from '../core/training/schedule.ts';
import type { ModelChecker, TrainStepCheck } from '../models/model-checker.ts';
import { ort } from '../models/ort-node.ts';
import { newId } from '../store/ids.ts';
import type { Project, Store } from '../store/types.ts';
import { aggregate, type AggregationRule } from '../training/aggregate.ts';
import { forwardWithWeights, IGNORE_INDEX, batchProblem } from '../training/autodiff/index.ts';
import { decodeGradients, decodeOptimizer, decodeWeights, encodeOptimizer, encodeWeights, paramTensors, unflattenGradients } from '../training/checkpoint-codec.ts';
import { initOptimizerState, type OptimizerConfig, optimizerStep, type OptimizerState } from '../training/optimizer.ts';
import { tensorsToParams } from '../training/params.ts';
import { evaluateModel } from '../training/evaluate.ts';
import { LOCAL_OUTPUTS, type LocalStepsPlan } from '../../shared/training/local-steps.ts';
import { blockCount, decodeUpdate, DEFAULT_BLOCK_SIZE } from '../../shared/training/update-codec.ts';
import { outerOptimizer, outerStep } from '../core/training/outer-step.ts';
import { DEFAULT_INNER_SCHEDULE, innerSchedule, shardSchedule } from '../core/training/inner-lr.ts';
import { type BroadcastStep, type Downstream, firstBroadcast, nextBroadcast, offerOf } from '../core/training/broadcast.ts';
import { decodeFullWeights, DEFAULT_DELTA_CHAIN, DELTA_BLOCK_SIZE } from '../../shared/training/weights-delta.ts';
import type { Params } from '../../shared/training/optimizer.ts';
import { readLocalResult } from '../core/validation/updates.ts';
import type { LocalStepsSpec } from '../core/jobs/types.ts';
import type { CoordinatorEvents } from './events.ts';
import { decodeInputFile, type InputFormat, JobError, jobMeta, type JobService, SubmissionTaken } from './job-service.ts';
import type { SubmissionKey } from '../core/jobs/submission.ts';
import type { CreateTrainJobSchema } from '../../shared/http/requests.ts';
import { KeyedLock } from './keyed-lock.ts';
import type { KindPayload, KindWork } from './kinds.ts';
import { storeBlob } from './store-blob.ts';

/** A training job request as the API validated it (CreateTrainJobSchema), without its `kind`. */
export type TrainRequest = Omit<InferOutput<typeof CreateTrainJobSchema>, 'kind'>;

export const TRAIN_DEFAULTS = {
  batch: 64, epochs: 1, shardsPerRound: 4, evalFraction: 0.1, seed: 0, minFraction: 0.75,
  roundDeadlineSeconds: 60, maxRelL2: 0.05, minCosine: 0.99, lrSgd: 0.05, lrAdam: 1e-3,
  localSteps: 1, updateFormat: 'fp32' as const, weightsFormat: 'fp32' as const,
};

/** The parameters as one flat array, in the job's parameter order (the order of updates and deltas). */
function flatParams(params: Params, specs: readonly { name: string }[]): Float32Array {
  const out = new Float32Array(specs.reduce((n, p) => n + params[p.name]!.length, 0));
  let off = 0;
  for (const p of specs) { out.set(params[p.name]!, off); off += params[p.name]!.length; }
  return out;
}

/**
 * Replica tolerances of local-steps shards (beyond the codec's rounding, which
 * server/core/validation/updates.ts adds from the scales sent). Measured: one
 * shard of 32 inner AdamW steps on WebGPU (SwiftShader) and on WASM differ by
 * relative L2 3.0e-7 in the parameter change and 2.2e-7 in the per-step losses
 * (test/e2e/local-steps-browser.test.ts; README, "Local-steps training").
 * 1e-3 leaves three orders of magnitude for GPUs that round differently, and
 * stays 50x below a change scaled by 1.05 (sign flips are off by 2).
 */
export const LOCAL_TOLERANCE = { maxRelL2: 1e-3, loss: { rtol: 1e-3, atol: 1e-4 } };

/** Refuses int64 labels outside the forward model's classes (its first output's last dim), when that is known. */
function checkClassLabels(classes: number | null, labels: Tensor): void {
  if (labels.dtype !== 'int64' || classes === null) return;
  const v = typedView(labels as Tensor & { dtype: 'int64' });
  for (let i = 0; i < v.length; i++) {
    if ((v[i]! < 0n || v[i]! >= BigInt(classes)) && v[i] !== BigInt(IGNORE_INDEX)) {
      throw new JobError('bad_request', `labels must be class indices in 0..${classes - 1} for a model with ${classes} outputs; label ${i} is ${v[i]}`);
    }
  }
}

export class TrainService implements KindWork {
  private lock = new KeyedLock();
  private orders = new Map<string, Uint32Array>();

  constructor(
    private readonly store: Store,
    private readonly blobs: BlobStore,
    private readonly jobs: JobService,
    private readonly events: CoordinatorEvents,
    private readonly log: Logger,
    private readonly checker: ModelChecker,
  ) {}

  /** `submission`: the request's Idempotency-Key; SubmissionTaken when a job of the project holds it already. */
  async createTrainJob(project: Project, req: TrainRequest, submission?: SubmissionKey): Promise<Job> {
    for (const [what, hash] of [['model', req.model], ['data', req.data.blob], ['labels', req.labels.blob]] as const) {
      await this.jobs.requireOwnBlob(project, hash, `${what} blob`);
    }
    const forward = await this.blobs.get(req.model);
    const decode = async (what: string, ref: { blob: string; format: InputFormat }) => {
      try {
        return decodeInputFile(await this.blobs.get(ref.blob), ref.format);
      } catch (e) {
        throw new JobError('bad_request', `${what}: ${(e as Error).message}`);
      }
    };
    const data = await decode('data', req.data);
    const labels = await decode('labels', req.labels);
    const records = data.dims[0] ?? 0;
    if (labels.dims[0] !== records) {
      throw new JobError('bad_request', `labels do not match the data: ${describe(labels)} labels for ${describe(data)} data (axis 0 must agree)`);
    }
    const o = { ...TRAIN_DEFAULTS, ...Object.fromEntries(Object.entries(req).filter(([, v]) => v !== undefined)) } as TrainRequest & typeof TRAIN_DEFAULTS;
    for (const name of ['batch', 'epochs', 'shardsPerRound', 'localSteps'] as const) {
      const problem = intProblem(name, o[name], BOUNDS[name]);
      if (problem) throw new JobError('bad_request', problem);
    }
    if (!(o.evalFraction >= 0 && o.evalFraction < 1)) throw new JobError('bad_request', `evalFraction must be in [0, 1), got ${o.evalFraction}`);
    if (!(o.minFraction > 0 && o.minFraction <= 1)) throw new JobError('bad_request', `minFraction must be in (0, 1], got ${o.minFraction}`);
    const perShard = Math.max(1, Math.ceil(o.batch / o.shardsPerRound));

    // Off the event loop, within the model check's limits: building a train step (parsing, shape
    // inference, autodiff) and estimating it cost time and memory that grow with the model sent.
    let built: TrainStepCheck;
    try {
      built = await this.checker.trainStep(this.blobs.path(req.model), req.loss, {
        data: [perShard, ...data.dims.slice(1)], labels: [perShard, ...labels.dims.slice(1)],
      });
    } catch (e) {
      if (e instanceof ModelError) {
        this.log.warn({ model: req.model, reason: e.message }, 'model refused');
        throw new JobError('bad_request', `model: ${e.message}`);
      }
      throw e;
    }
    const { step } = built;
    const problem = batchProblem(step, gatherRecords(data, [0]), gatherRecords(labels, [0]));
    if (problem) throw new JobError('bad_request', problem);
    if (req.loss === 'cross-entropy') checkClassLabels(built.classes, labels);
    if (built.shardFlops === null) throw new JobError('bad_request', `model: its train step cannot be estimated on a batch of ${describe(gatherRecords(data, [0]))}`);

    const split = holdOut(records, o.evalFraction, o.seed);
    if (split.train.length < 1) throw new JobError('bad_request', `no training records left after holding out ${o.evalFraction} of ${records}`);
    // The job's blobs are its project's: a private project's open only with a copy's capability (blob-links.ts).
    const put = (bytes: Uint8Array, kind: string) => storeBlob({ blobs: this.blobs, store: this.store }, bytes, kind, { owner: project.id });
    const trainSet = {
      dataHash: await put(encodeTensors([{ name: step.inputs.data, ...gatherRecords(data, split.train) }]), 'input'),
      labelsHash: await put(encodeTensors([{ name: step.inputs.labels, ...gatherRecords(labels, split.train) }]), 'input'),
      records: split.train.length,
    };
    const evalSet = split.eval.length ? {
      dataHash: await put(encodeTensors([{ name: step.inputs.data, ...gatherRecords(data, split.eval) }]), 'input'),
      labelsHash: await put(encodeTensors([{ name: step.inputs.labels, ...gatherRecords(labels, split.eval) }]), 'input'),
      records: split.eval.length,
    } : null;
    const stepHash = await put(step.model, 'model');
    const forwardHash = await put(forward, 'forward');
    let params = tensorsToParams(step.initialParams);
    const optimizer: OptimizerConfig = o.optimizer === 'adam'
      ? { kind: 'adam', lr: o.lr ?? o.lrAdam }
      : { kind: 'sgd', lr: o.lr ?? o.lrSgd, ...(o.momentum !== undefined ? { momentum: o.momentum } : {}) };
    // Local steps (H > 1, or a compressed change): the volunteers step the job's optimizer, the coordinator an outer one.
    // Weights go down as full weights (weightsFormat) to a volunteer with no usable version, else as the
    // rounds' deltas in the update format (none with fp32 changes: then full weights every round).
    const downstream: Downstream = {
      weightsFormat: o.weightsFormat, deltaFormat: o.updateFormat === 'fp32' ? null : o.updateFormat, blockSize: DELTA_BLOCK_SIZE, keep: DEFAULT_DELTA_CHAIN,
    };
    const isLocal = o.localSteps > 1 || o.updateFormat !== 'fp32';
    // The inner lr over the whole run (DiLoCo: warm-up, then cosine decay), counted in one volunteer's inner steps.
    const rounds = totalRounds({ records: split.train.length, batch: o.batch * o.localSteps, shardsPerRound: o.shardsPerRound, epochs: o.epochs, seed: o.seed });
    const local: LocalStepsSpec | undefined = isLocal
      ? {
        steps: o.localSteps, inner: { ...optimizer, ...(o.weightDecay !== undefined ? { weightDecay: o.weightDecay } : {}) }, updateFormat: o.updateFormat, blockSize: DEFAULT_BLOCK_SIZE,
        lossTolerance: LOCAL_TOLERANCE.loss, downstream,
        lrSchedule: innerSchedule(o.lrSchedule ?? DEFAULT_INNER_SCHEDULE.kind, o.lrWarmup ?? DEFAULT_INNER_SCHEDULE.warmup, rounds, o.localSteps),
      }
      : undefined;
    if (!local && ((o.lrSchedule !== undefined && o.lrSchedule !== 'constant') || o.lrWarmup !== undefined)) {
      throw new JobError('bad_request', 'lrSchedule and lrWarmup apply to local-steps training (synchronous rounds keep a constant lr): set localSteps above 1 (or a compressed updateFormat)');
    }
    if (!local && (o.outerLr !== undefined || o.outerMomentum !== undefined)) {
      throw new JobError('bad_request', 'outerLr and outerMomentum apply to local-steps training: set localSteps above 1 (or a compressed updateFormat)');
    }
    if (!local && req.weightsFormat !== undefined) {
      throw new JobError('bad_request', 'weightsFormat applies to local-steps training (synchronous rounds feed fp32 weights to the train step): set localSteps above 1 (or a compressed updateFormat)');
    }
    const coordinatorOptimizer: OptimizerConfig = local ? outerOptimizer({ lr: o.outerLr, momentum: o.outerMomentum }) : optimizer;
    let state: OptimizerState;
    try {
      if (local) initOptimizerState(local.inner, params);
      state = initOptimizerState(coordinatorOptimizer, params);
    } catch (e) {
      throw new JobError('bad_request', (e as Error).message);
    }
    // The broadcast weights start as the initial weights in the weights format; the master weights start from them.
    let first: BroadcastStep | null = null;
    if (local) {
      first = firstBroadcast(step.params, flatParams(params, step.params), downstream);
      params = unflattenGradients(first.weights.flat, step.params);
      await put(first.full, 'weights');
    }
    const weightsHash = await put(encodeWeights(params, step.params), 'weights');
    const optimizerHash = await put(encodeOptimizer(state), 'optimizer');

    const parameterCount = step.params.reduce((n, p) => n + p.dims.reduce((a, b) => a * b, 1), 0);
    const flopsPerRecord = built.shardFlops / perShard;
    const limits: JobLimits = {
      ...DEFAULT_LIMITS,
      ...(o.replicas !== undefined ? { replicas: o.replicas } : {}),
      ...(o.leaseSeconds !== undefined ? { leaseMs: o.leaseSeconds * 1000 } : {}),
      ...(o.deadlineSeconds !== undefined ? { deadlineMs: o.deadlineSeconds * 1000 } : {}),
    };
    const spec: TrainSpec = {
      kind: 'train', modelHash: stepHash, modelBytes: step.model.byteLength, forwardHash,
      params: step.params.map((p) => ({ name: p.name, dims: p.dims })),
      dataInput: step.inputs.data, labelsInput: step.inputs.labels,
      outputs: local ? [
        { name: LOCAL_OUTPUTS.losses, dtype: 'float32', dims: [null] },
        { name: LOCAL_OUTPUTS.update, dtype: local.updateFormat === 'fp32' ? 'float32' : local.updateFormat === 'fp16' ? 'float16' : 'int8', dims: [parameterCount] },
        ...(local.updateFormat === 'fp32' ? [] : [{ name: LOCAL_OUTPUTS.scales, dtype: 'float32' as const, dims: [blockCount(parameterCount, local.blockSize)] }]),
      ] : [
        { name: step.outputs.loss, dtype: 'float32', dims: [] },
        ...step.params.map((p, i) => ({ name: step.outputs.grads[i]!, dtype: 'float32' as const, dims: p.dims })),
      ],
      stepOutputs: { loss: step.outputs.loss, grads: step.outputs.grads },
      stackOutputs: false, trainSet, evalSet, loss: req.loss, optimizer: coordinatorOptimizer, ...(local ? { localSteps: local } : {}),
      aggregate: o.aggregate ?? 'mean', trim: o.trim ?? 0.2, batch: o.batch, epochs: o.epochs, shardsPerRound: o.shardsPerRound,
      seed: o.seed, minFraction: o.minFraction,
      // Robust rules assume no one holds many of a round's shards; the mean gains nothing from a cap.
      maxShardsPerVolunteer: o.maxShardsPerVolunteer ?? ((o.aggregate ?? 'mean') === 'mean' ? 0 : 1), roundDeadlineMs: o.roundDeadlineSeconds * 1000, targetAccuracy: o.targetAccuracy ?? null,
      gradTolerance: { maxRelL2: req.maxRelL2 ?? (local ? LOCAL_TOLERANCE.maxRelL2 : o.maxRelL2), minCosine: o.minCosine }, tolerance: DEFAULT_TOLERANCE, limits,
      homogeneous: false, flopsPerRecord, creditPerRecord: creditPerRecord(flopsPerRecord),
    };
    const schedule = this.schedule(spec);
    const now = Date.now();
    const job: Job = {
      id: newId(), projectId: project.id, kind: 'train', state: 'running', spec,
      progress: {
        round: 0, totalRounds: totalRounds(schedule), weightsHash, optimizerHash, optimizerStep: 0, roundStartedAt: now, history: [],
        ...(first ? { broadcast: first.state } : {}),
      },
      createdAt: now, finishedAt: null, error: null, resultHash: null, ...jobMeta(req),
    };
    const taken = await this.store.createJob(job, this.roundShards(spec, 0), submission);
    if (taken) throw new SubmissionTaken(taken);
    this.log.info({
      job: job.id, project: project.id, records, train: trainSet.records, held_out: evalSet?.records ?? 0, params: step.params.length,
      rounds: job.progress!.totalRounds, shardsPerRound: spec.shardsPerRound, aggregate: spec.aggregate, flopsPerRecord,
      localSteps: local?.steps ?? 1, updateFormat: local?.updateFormat ?? 'fp32',
      ...(local ? { lrSchedule: local.lrSchedule, weightsFormat: downstream.weightsFormat, deltaFormat: downstream.deltaFormat ?? 'none (full weights every round)' } : {}),
    }, 'training job created');
    this.events.emit('work');
    this.events.emit('job', job.id, project.id);
    return job;
  }

  /** With local steps a round trains on H global batches: each shard's H micro-batches. */
  private schedule(spec: TrainSpec) {
    return { records: spec.trainSet.records, batch: spec.batch * (spec.localSteps?.steps ?? 1), shardsPerRound: spec.shardsPerRound, epochs: spec.epochs, seed: spec.seed };
  }

  private roundShards(spec: TrainSpec, round: number): Shard[] {
    const b = roundBatch(this.schedule(spec), round);
    return splitRange(b.start, b.end, spec.shardsPerRound).map((r, k) => ({
      id: newId(), jobId: '', index: round * spec.shardsPerRound + k, start: r.start, end: r.end, state: 'open',
      wanted: spec.limits.replicas, canonicalCopyId: null, errors: 0, issued: 0,
    }));
  }

  /** The shard's micro-batch: its slice of the epoch's shuffled order, gathered from the training set. */
  async shardInputs(job: Job, shard: Shard): Promise<WireTensor[]> {
    const spec = job.spec as TrainSpec;
    const round = Math.floor(shard.index / spec.shardsPerRound);
    const { epoch } = roundBatch(this.schedule(spec), round);
    const key = `${job.id}:${epoch}`;
    let order = this.orders.get(key);
    if (!order) {
      order = epochOrder(spec.seed, epoch, spec.trainSet.records);
      this.orders.set(key, order);
      if (this.orders.size > 16) this.orders.delete(this.orders.keys().next().value!);
    }
    const rows = order.subarray(shard.start, shard.end);
    const [data] = decodeTensors(await this.blobs.get(spec.trainSet.dataHash));
    const [labels] = decodeTensors(await this.blobs.get(spec.trainSet.labelsHash));
    const d = gatherRecords(data!, rows);
    const l = gatherRecords(labels!, rows);
    return [{ name: spec.dataInput, ...d }, { name: spec.labelsInput, ...l }];
  }

  weightsRef(job: Job) {
    const hash = job.progress!.weightsHash;
    return { hash, url: this.blobs.links.url(hash), bytes: 0 };
  }

  /**
   * A copy carries the round's weights (a blob volunteers cache) and its shard's micro-batch; with local
   * steps, the version of the weights to train from (full, or the deltas from a version the volunteer holds).
   */
  async payload(job: Job, shard: Shard): Promise<KindPayload> {
    const spec = job.spec as TrainSpec;
    const b = job.progress!.broadcast;
    if (spec.localSteps?.downstream && b) {
      return {
        feedBlobs: [], weights: offerOf(b, spec.localSteps.downstream, (hash, bytes) => ({ hash, url: this.blobs.links.url(hash), bytes })),
        inputs: await this.shardInputs(job, shard), batchedInputs: [spec.dataInput, spec.labelsInput], runUnit: 0,
        localSteps: this.localPlan(spec, spec.localSteps, shard),
      };
    }
    return {
      feedBlobs: [this.weightsRef(job)], inputs: await this.shardInputs(job, shard), batchedInputs: [spec.dataInput, spec.labelsInput], runUnit: 0,
      ...(spec.localSteps ? { localSteps: this.localPlan(spec, spec.localSteps, shard) } : {}),
    };
  }

  /** The shard's inner steps; with a schedule, the inner lr from its round's first step (every replica of it alike). */
  private localPlan(spec: TrainSpec, ls: LocalStepsSpec, shard: Shard): LocalStepsPlan {
    return {
      steps: ls.steps, optimizer: ls.inner, params: spec.params.map((p) => p.name), loss: spec.stepOutputs!.loss, grads: spec.stepOutputs!.grads,
      batched: [spec.dataInput, spec.labelsInput], updateFormat: ls.updateFormat, blockSize: ls.blockSize,
      ...(ls.lrSchedule && ls.lrSchedule.kind !== 'constant' ? { lrSchedule: shardSchedule(ls.lrSchedule, Math.floor(shard.index / spec.shardsPerRound), ls.steps) } : {}),
    };
  }

  progress(jobId: string): Promise<void> {
    return this.maybeAdvance(jobId);
  }

  /** Called after a shard validates and by the reconciler tick: closes the round when it can. */
  maybeAdvance(jobId: string, now = Date.now()): Promise<void> {
    return this.lock.run(jobId, () => this.advance(jobId, now));
  }

  async tick(now = Date.now()): Promise<void> {
    for (const j of await this.store.listJobs({ states: ['running'], limit: 1000 })) {
      if (j.kind === 'train') await this.maybeAdvance(j.id, now);
    }
  }

  private async advance(jobId: string, now: number): Promise<void> {
    const job = await this.store.getJob(jobId);
    if (!job || job.state !== 'running' || job.kind !== 'train' || !job.progress) return;
    const spec = job.spec as TrainSpec;
    const p = job.progress;
    const k = spec.shardsPerRound;
    const shards = await this.store.shardsOf(jobId, { from: p.round * k, to: (p.round + 1) * k });
    const validated = shards.filter((s) => s.state === 'validated');
    const decision = roundDecision({
      shards: shards.length, validated: validated.length, failed: shards.filter((s) => s.state === 'failed').length,
      minFraction: spec.minFraction, deadlinePassed: now > p.roundStartedAt + spec.roundDeadlineMs,
    });
    if (decision === 'wait') return;
    if (decision === 'fail') {
      await this.jobs.fail(jobId, `round ${p.round}: too many shards failed to reach ${spec.minFraction} of the round`);
      return;
    }
    const t0 = performance.now();
    const results = await this.store.canonicalResultsOf(validated.map((s) => s.id));
    const grads: Float32Array[] = [];
    const weights: number[] = [];
    let lossSum = 0;
    for (const s of validated) {
      const n = s.end - s.start;
      weights.push(n);
      if (spec.localSteps) {
        // The volunteers' parameter changes, decoded: aggregated like gradients, then the outer step.
        const r = readLocalResult(decodeTensors(results.get(s.id)!), spec.localSteps.updateFormat, spec.localSteps.blockSize);
        lossSum += (r.losses.reduce((a, b) => a + b, 0) / r.losses.length) * n;
        grads.push(decodeUpdate(r.update));
        continue;
      }
      const { loss, gradient } = decodeGradients(results.get(s.id)!);
      lossSum += loss * n;
      grads.push(gradient);
    }
    const records = weights.reduce((a, b) => a + b, 0);
    let update: Float32Array;
    try {
      update = aggregate(grads, weights, spec.aggregate, spec.trim);
    } catch (e) {
      await this.jobs.fail(jobId, `round ${p.round}: cannot aggregate ${spec.localSteps ? 'parameter changes' : 'gradients'}: ${(e as Error).message}`);
      return;
    }
    const gradParams = unflattenGradients(update, spec.params);
    const current = decodeWeights(await this.blobs.get(p.weightsHash));
    const state = decodeOptimizer(await this.blobs.get(p.optimizerHash), spec.params, spec.optimizer, p.optimizerStep);
    const stepped = spec.localSteps ? outerStep(state, current, gradParams) : optimizerStep(state, current, gradParams);
    const aggregateMs = performance.now() - t0;
    const put = (bytes: Uint8Array, kind: string) => storeBlob({ blobs: this.blobs, store: this.store }, bytes, kind, { owner: job.projectId });
    const trained = paramTensors(stepped.params, spec.params);
    const weightsHash = await put(encodeTensors(trained), 'weights');
    const optimizerHash = await put(encodeOptimizer(stepped.state), 'optimizer');
    // The weights volunteers train from next: one compressed delta toward the master weights.
    let broadcast: BroadcastStep | null = null;
    if (spec.localSteps?.downstream && p.broadcast) {
      try {
        broadcast = nextBroadcast(p.broadcast, decodeFullWeights(await this.blobs.get(p.broadcast.hash)), flatParams(stepped.params, spec.params), spec.localSteps.downstream);
      } catch (e) {
        await this.jobs.fail(jobId, `round ${p.round}: cannot send the new weights: ${(e as Error).message}`);
        return;
      }
      await put(broadcast.full, 'weights');
      if (broadcast.delta) await put(broadcast.delta, 'weights');
    }

    const schedule = this.schedule(spec);
    const epoch = roundBatch(schedule, p.round).epoch;
    const last = p.round + 1 >= p.totalRounds;
    const epochEnd = (p.round + 1) % roundsPerEpoch(schedule) === 0;
    let evaluation: { accuracy: number | null; loss: number } | null = null;
    if ((epochEnd || last) && spec.evalSet) evaluation = await this.evaluate(spec, trained);
    const record: RoundRecord = {
      round: p.round, epoch, loss: lossSum / records, accuracy: evaluation?.accuracy ?? null, evalLoss: evaluation?.loss ?? null,
      shards: validated.length, aggregateMs, at: Date.now(),
    };
    const reached = spec.targetAccuracy !== null && record.accuracy !== null && record.accuracy >= spec.targetAccuracy;
    const done = last || reached;
    const next: TrainProgress = {
      ...p, round: p.round + 1, weightsHash, optimizerHash, optimizerStep: stepped.state.step, roundStartedAt: Date.now(),
      history: [...p.history, record], ...(broadcast ? { broadcast: broadcast.state } : {}),
    };
    const nextShards = done ? [] : this.roundShards(spec, p.round + 1).map((s) => ({ ...s, jobId }));
    if (!(await this.store.advanceRound(jobId, p.round, next, nextShards))) return;
    await this.dropUnreferenced([p.weightsHash, p.optimizerHash, ...(broadcast?.dropped ?? [])]);
    this.log.info({
      job: jobId, round: p.round, epoch, loss: record.loss, accuracy: record.accuracy, shards: validated.length,
      dropped: shards.length - validated.length, aggregate: spec.aggregate, aggregateMs: Math.round(aggregateMs * 10) / 10,
    }, 'training round closed');
    if (done) {
      const forward = await this.blobs.get(spec.forwardHash);
      const model = forwardWithWeights(forward, Object.fromEntries(trained.map((t) => [t.name, t])));
      const resultHash = await put(model, 'output');
      if (await this.store.finishJob(jobId, 'completed', { finishedAt: Date.now(), resultHash })) {
        this.log.info({ job: jobId, rounds: next.round, accuracy: record.accuracy, reachedTarget: reached }, 'training job completed');
      }
    } else {
      this.events.emit('work');
    }
    this.events.emit('job', jobId, job.projectId);
  }

  /**
   * The checkpoint now points at new blobs; the old ones would cost megabytes
   * per round. Content addressing means two identical jobs can share a blob,
   * so one is deleted only when no running job's checkpoint still names it.
   */
  private async dropUnreferenced(hashes: string[]): Promise<void> {
    const inUse = new Set<string>();
    for (const j of await this.store.listJobs({ states: ['running'], limit: 10_000 })) {
      if (!j.progress) continue;
      inUse.add(j.progress.weightsHash).add(j.progress.optimizerHash);
      if (j.progress.broadcast) for (const h of [j.progress.broadcast.hash, ...j.progress.broadcast.deltas.map((d) => d.hash)]) inUse.add(h);
    }
    for (const h of hashes) if (!inUse.has(h)) await this.blobs.remove(h);
  }

  /** Held-out loss and accuracy of the current weights, run by the coordinator itself. */
  private async evaluate(spec: TrainSpec, params: NamedTensor[]): Promise<{ accuracy: number | null; loss: number }> {
    const forward = forwardWithWeights(await this.blobs.get(spec.forwardHash), Object.fromEntries(params.map((t) => [t.name, t])));
    const [data] = decodeTensors(await this.blobs.get(spec.evalSet!.dataHash));
    const [labels] = decodeTensors(await this.blobs.get(spec.evalSet!.labelsHash));
    return evaluateModel(ort, forward, data!, labels!, spec.loss);
  }

  async history(job: Job): Promise<RoundRecord[]> {
    return job.progress?.history ?? [];
  }
}
