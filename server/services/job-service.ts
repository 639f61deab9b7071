/**
 * The project-facing half of the coordinator: projects and tokens, job
 * creation (model check, binding, planning, FLOP estimate), status, results,
 * cancellation and completion.
 */
import { deadlineFailure } from '../core/scheduler/transitions.ts';
import type { WaitReason } from '../core/scheduler/why-waiting.ts';
import type { Logger } from 'pino';
import type { Backend, JobSummary } from '../../shared/protocol/events.ts';
import { ModelError, type ModelSignature } from '../../shared/onnx/model.ts';
import { decodeTensors, encodeTensors } from '../../shared/tensor/codec.ts';
import { decodeNpy } from '../../shared/tensor/npy.ts';
import { decodeTensorProto } from '../../shared/tensor/tensorproto.ts';
import type { NamedTensor, Tensor } from '../../shared/tensor/tensor.ts';
import { type BlobStore, sha256 } from '../blobs/blob-store.ts';
import { creditPerRecord } from '../core/credit/credit.ts';
import { chooseBackends } from '../core/jobs/backends.ts';
import { kindOf } from '../core/jobs/kinds.ts';
import { BOUNDS, DEFAULT_LIMITS, DEFAULT_SHARD_SIZE, DEFAULT_TOLERANCE, intProblem } from '../core/jobs/limits.ts';
import { JobInputError, planJob, type ProvidedInput } from '../core/jobs/plan.ts';
import type { InferenceSpec, Job, JobLimits, Shard, Tolerance } from '../core/jobs/types.ts';
import type { KeyedJob, SubmissionKey } from '../core/jobs/submission.ts';
import { type ModelChecker, type ModelEstimate } from '../models/model-checker.ts';
import { newId } from '../store/ids.ts';
import type { EmbedSettings, Project, Store } from '../store/types.ts';
import type { CoordinatorEvents } from './events.ts';
import { storeBlob } from './store-blob.ts';

export class JobError extends Error {
  constructor(readonly code: 'bad_request' | 'unauthorized' | 'not_found' | 'forbidden' | 'conflict', message: string) {
    super(message);
  }
}

/** The store found a job of the project holding the submission's Idempotency-Key already: nothing was written. */
export class SubmissionTaken extends Error {
  constructor(readonly taken: KeyedJob) {
    super(`Idempotency-Key taken by job ${taken.jobId}`);
  }
}

export type InputFormat = 'npy' | 'pb' | 'tensors';

export interface InferenceRequest {
  model: string;
  inputs: { name?: string; blob: string; format: InputFormat }[];
  shardSize?: number;
  tolerance?: Partial<Tolerance>;
  limits?: Partial<JobLimits>;
  homogeneous?: boolean;
  backends?: Backend[];
  meta?: JobMeta;
}

/** A job's name, labels (tags) and priority as requested (issue 15). */
export interface JobMeta {
  name?: string | undefined;
  tags?: Record<string, string> | undefined;
  priority?: number | undefined;
}

/** The meta fields a Job carries: only those given. */
export function jobMeta(m: JobMeta | undefined): Pick<Job, 'name' | 'tags' | 'priority'> {
  return {
    ...(m?.name !== undefined ? { name: m.name } : {}),
    ...(m?.tags !== undefined && Object.keys(m.tags).length ? { tags: m.tags } : {}),
    ...(m?.priority ? { priority: m.priority } : {}),
  };
}

export const DEFAULT_EMBED: EmbedSettings = { allowedOrigins: [], defaultIntensity: 0.3, creditTo: 'visitor' };

export function decodeInputFile(bytes: Uint8Array, format: InputFormat): Tensor & { name?: string } {
  if (format === 'npy') return decodeNpy(bytes);
  if (format === 'pb') return decodeTensorProto(bytes);
  const list = decodeTensors(bytes);
  if (list.length !== 1) throw new JobInputError(`a tensors blob used as an input must hold exactly one tensor, it holds ${list.length}`);
  return list[0]!;
}

export function hashToken(token: string): string {
  return sha256(Buffer.from(token));
}

/** Input blobs whose decoded, checked and re-encoded form is remembered (a few hundred bytes each). */
const NORMALIZED_CACHE = 256;

export class JobService {
  private completing = new Set<string>();
  /**
   * Input blobs already decoded, checked and stored in the coordinator's own
   * codec, by blob and format: a project sending the same data again (another
   * model, shard size or replication) costs no decode, copy or hash of it.
   */
  private normalized = new Map<string, { dtype: Tensor['dtype']; dims: number[]; hash: string }>();
  /** Models (by content hash) onnxruntime-web has loaded: checking the next job on one does not load it again. */
  private loadable = new Set<string>();

  constructor(
    private readonly store: Store,
    private readonly blobs: BlobStore,
    private readonly events: CoordinatorEvents,
    private readonly log: Logger,
    private readonly checker: ModelChecker,
  ) {}

  async projectForToken(token: string): Promise<Project | null> {
    return this.store.projectByTokenHash(hashToken(token));
  }

  /** Refuses an embed whose page origin the project does not allow. */
  async checkEmbed(projectId: string, origin: string | undefined): Promise<Project> {
    const p = await this.store.getProject(projectId);
    if (!p) throw new JobError('not_found', `project ${projectId} does not exist`);
    if (p.embed.allowedOrigins.length && (!origin || !p.embed.allowedOrigins.includes(origin))) {
      throw new JobError('forbidden', `project ${p.name} does not allow embedding on ${origin ?? 'an unknown origin'} (allowed: ${p.embed.allowedOrigins.join(', ')})`);
    }
    return p;
  }

  /**
   * Refuses a blob this project did not upload: projects see and use only
   * their own, whoever else holds the same bytes (which are stored once).
   */
  async requireOwnBlob(project: Project, hash: string, what: string): Promise<void> {
    if (!(await this.ownsBlob(project, hash))) {
      throw new JobError('bad_request', `${what} ${hash} was not uploaded by this project`);
    }
  }

  /** Whether the project uploaded this blob and its bytes are still here. */
  async ownsBlob(project: Project, hash: string): Promise<boolean> {
    return await this.store.projectHasBlob(project.id, hash) && await this.blobs.has(hash);
  }

  /** Whether a blob is one volunteers must fetch (a model or weight set), so public; inputs and outputs stay with their project. */
  async isPublicBlob(hash: string): Promise<boolean> {
    const kind = await this.store.blobKind(hash);
    return kind === 'model' || kind === 'weights';
  }

  async project(id: string): Promise<Project | null> {
    return this.store.getProject(id);
  }

  async setEmbed(project: Project, embed: EmbedSettings): Promise<void> {
    await this.store.setEmbedSettings(project.id, embed);
  }

  /** The summaries of a project's latest jobs (at most 200). */
  async list(project: Project): Promise<JobSummary[]> {
    const jobs = await this.store.listJobs({ projectId: project.id, limit: 200 });
    return Promise.all(jobs.map((j) => this.summary(j)));
  }

  /** A project's running jobs (id and kind), for an embed to show. */
  async running(projectId: string, limit = 20): Promise<{ id: string; kind: Job['kind'] }[]> {
    return (await this.store.listJobs({ projectId, states: ['running'], limit })).map((j) => ({ id: j.id, kind: j.kind }));
  }

  /** The running jobs of every project (at most 50), with their project's name: the swarm's public view. */
  async runningEverywhere(): Promise<(JobSummary & { projectName: string })[]> {
    const running = await this.store.listJobs({ states: ['running'], limit: 50 });
    const projects = new Map((await this.store.listProjects()).map((p) => [p.id, p]));
    return Promise.all(running.map(async (j) => ({ ...(await this.summary(j)), projectName: projects.get(j.projectId)?.name ?? '?' })));
  }

  /**
   * The links an assignment carries for its copy's blobs: the hash links of
   * blob-links.ts for a public project's; for a private project's (issue 15),
   * capabilities bound to this copy, which open nothing once it is no longer
   * in flight.
   */
  async blobLinker(job: Job, copyId: string): Promise<(hash: string) => string> {
    const project = await this.store.getProject(job.projectId);
    if (project?.private) return (hash) => this.blobs.links.capabilityUrl(hash, copyId);
    return (hash) => this.blobs.links.url(hash);
  }

  /**
   * Refuses a blob capability (blob-links.ts) unless its signature holds and
   * the copy it was issued to is in flight, within its lease, on a job whose
   * project holds the blob. 404 for what was never a capability, 403 for one
   * whose copy has ended.
   */
  async requireCapability(hash: string, query: { copy?: unknown; until?: unknown; sig?: unknown }): Promise<void> {
    const now = Date.now();
    const copyId = this.blobs.links.capabilityCopy(hash, query, now);
    if (!copyId) throw new JobError('not_found', 'no blob at this link: its capability is missing, altered or expired');
    const copy = await this.store.getCopy(copyId);
    if (!copy) throw new JobError('not_found', 'no blob at this link: its capability names no copy');
    if ((copy.state !== 'assigned' && copy.state !== 'running') || copy.deadline <= now) {
      const state = copy.state === 'assigned' || copy.state === 'running' ? 'past its lease' : copy.state;
      throw new JobError('forbidden', `this capability's copy ${copyId} is ${state}: a private project's blob opens only while the copy it was issued with is in flight`);
    }
    const job = await this.store.getJob(copy.jobId);
    if (!job || !(await this.store.projectHasBlob(job.projectId, hash))) throw new JobError('not_found', 'no blob at this link: its copy\'s project holds no such blob');
  }

  /** Stores an upload as the project's own. */
  async upload(project: Project, bytes: Uint8Array): Promise<string> {
    return storeBlob({ blobs: this.blobs, store: this.store }, bytes, 'upload', { owner: project.id });
  }

  /** `submission`: the request's Idempotency-Key; SubmissionTaken when a job of the project holds it already. */
  async createInferenceJob(project: Project, req: InferenceRequest, submission?: SubmissionKey): Promise<Job> {
    await this.requireOwnBlob(project, req.model, 'model blob');
    const modelBytes = await this.blobs.get(req.model);
    // Off the event loop, within the checker's limits: a model can be made arbitrarily expensive to load or estimate.
    const modelFile = this.blobs.path(req.model);
    let signature: ModelSignature;
    try {
      signature = await this.checker.inspect(modelFile, { loadsAlready: this.loadable.has(req.model) });
      this.loadable.add(req.model);
      if (this.loadable.size > 4096) this.loadable.delete(this.loadable.values().next().value!);
    } catch (e) {
      throw this.refusal(req.model, e);
    }
    const provided: ProvidedInput[] = [];
    /** Inputs known already: their stored hash, by the (empty) data standing in for their bytes. */
    const known = new Map<Uint8Array, { key: string; hash: string }>();
    const sourceOf = new Map<Uint8Array, string>();
    for (const [i, input] of req.inputs.entries()) {
      await this.requireOwnBlob(project, input.blob, `input ${i}: blob`);
      const key = `${input.blob}|${input.format}`;
      const seen = this.normalized.get(key);
      if (seen && (await this.blobs.has(seen.hash))) {
        const stand = new Uint8Array(0);
        known.set(stand, { key, hash: seen.hash });
        provided.push({ name: input.name, tensor: { dtype: seen.dtype, dims: seen.dims, data: stand } });
        continue;
      }
      let t: Tensor & { name?: string };
      try {
        t = decodeInputFile(await this.blobs.get(input.blob), input.format);
      } catch (e) {
        throw new JobError('bad_request', `input ${input.name ?? i}: ${(e as Error).message}`);
      }
      sourceOf.set(t.data, key);
      provided.push({ name: input.name, tensor: { dtype: t.dtype, dims: t.dims, data: t.data } });
    }
    const limits: JobLimits = { ...DEFAULT_LIMITS, ...req.limits };
    const tolerance: Tolerance = { ...DEFAULT_TOLERANCE, ...req.tolerance };
    checkLimits(limits, tolerance);
    let plan;
    try {
      plan = planJob(signature, provided, req.shardSize ?? DEFAULT_SHARD_SIZE);
    } catch (e) {
      if (e instanceof JobInputError) throw new JobError('bad_request', e.message);
      throw e;
    }
    const shapes: Record<string, number[]> = {};
    for (const t of plan.inputs) shapes[t.name] = t.dims;
    let estimate: ModelEstimate;
    try {
      estimate = await this.checker.estimate(modelFile, shapes);
    } catch (e) {
      throw this.refusal(req.model, e);
    }
    const { flops } = estimate;
    const choice = chooseBackends(req.backends, estimate.hazards);
    if (!choice.ok) throw new JobError('bad_request', choice.error);
    const flopsPerRecord = flops.flops / plan.records;
    const inputs = [];
    for (const t of plan.inputs) {
      let hash = known.get(t.data)?.hash;
      if (!hash) {
        hash = await storeBlob({ blobs: this.blobs, store: this.store }, encodeTensors([t]), 'input', { recordedBytes: t.data.byteLength });
        const key = sourceOf.get(t.data);
        if (key) {
          this.normalized.set(key, { dtype: t.dtype, dims: [...t.dims], hash });
          if (this.normalized.size > NORMALIZED_CACHE) this.normalized.delete(this.normalized.keys().next().value!);
        }
      }
      inputs.push({ name: t.name, dtype: t.dtype, dims: t.dims, hash });
    }
    await this.store.recordBlob({ hash: req.model, bytes: modelBytes.byteLength, kind: 'model', createdAt: Date.now() });
    const spec: InferenceSpec = {
      kind: 'inference', modelHash: req.model, modelBytes: modelBytes.byteLength, inputs,
      batchedInputs: plan.batchedInputs, runUnit: plan.runUnit, records: plan.records, shardSize: plan.shardSize,
      outputs: plan.outputs, stackOutputs: plan.stackOutputs, tolerance, limits, homogeneous: req.homogeneous ?? false,
      ...(choice.backends ? { backends: choice.backends } : {}), ...(choice.notes.length ? { backendNotes: choice.notes } : {}),
      flopsPerRecord, creditPerRecord: creditPerRecord(flopsPerRecord),
    };
    const job: Job = {
      id: newId(), projectId: project.id, kind: 'inference', state: 'running', spec, progress: null,
      createdAt: Date.now(), finishedAt: null, error: null, resultHash: null, ...jobMeta(req.meta),
    };
    const shards: Shard[] = plan.shards.map((r, index) => ({
      id: newId(), jobId: job.id, index, start: r.start, end: r.end, state: 'open', wanted: limits.replicas,
      canonicalCopyId: null, errors: 0, issued: 0,
    }));
    const taken = await this.store.createJob(job, shards, submission);
    if (taken) throw new SubmissionTaken(taken);
    this.log.info({
      job: job.id, project: project.id, records: plan.records, shards: shards.length, replicas: limits.replicas,
      flopsPerRecord, unknownOps: flops.unknownOps, ...(choice.backends ? { backends: choice.backends } : {}),
    }, 'inference job created');
    if (choice.notes.length) this.log.warn({ job: job.id, backends: choice.backends, why: choice.notes }, 'job kept off WebGPU: its model is computed wrongly there');
    this.events.emit('work');
    this.events.emit('job', job.id, project.id);
    return job;
  }

  /** A model the checker refused, as the project is told it (a crash of the check itself stays internal). */
  private refusal(model: string, e: unknown): unknown {
    if (!(e instanceof ModelError)) return e;
    this.log.warn({ model, reason: e.message }, 'model refused');
    return new JobError('bad_request', `model: ${e.message}`);
  }

  async jobFor(project: Project, id: string): Promise<Job> {
    const job = await this.store.getJob(id);
    // A job of another project is reported as missing: ids are not an oracle.
    if (!job || job.projectId !== project.id) throw new JobError('not_found', `job ${id} does not exist`);
    return job;
  }

  private waitReason: (jobId: string) => Pick<WaitReason, 'code' | 'message'> | null = () => null;

  /** Where summaries learn why a running job waits (the WaitWatch). */
  explainWaitsWith(fn: (jobId: string) => Pick<WaitReason, 'code' | 'message'> | null): void {
    this.waitReason = fn;
  }

  async summary(job: Job): Promise<JobSummary> {
    const c = await this.store.jobCounts(job.id);
    const waiting = job.state === 'running' ? this.waitReason(job.id) : null;
    return {
      ...(waiting ? { waiting: { code: waiting.code, message: waiting.message } } : {}),
      id: job.id, projectId: job.projectId, kind: job.kind, state: job.state,
      ...(job.name !== undefined ? { name: job.name } : {}), ...(job.tags ? { tags: job.tags } : {}), ...(job.priority ? { priority: job.priority } : {}),
      shards: { total: c.shards.total, validated: c.shards.validated, failed: c.shards.failed },
      copies: c.copies, credit: c.credit, createdAt: job.createdAt, finishedAt: job.finishedAt, error: job.error,
      ...kindOf(job.spec).summary(job),
    };
  }

  async results(job: Job): Promise<NamedTensor[]> {
    const kind = kindOf(job.spec);
    if (kind.yields !== 'outputs') throw new JobError('bad_request', `job ${job.id} is ${kind.describe}`);
    if (job.state !== 'completed' || !job.resultHash) {
      throw new JobError('conflict', `job ${job.id} is ${job.state}${job.error ? `: ${job.error}` : ''}; results exist once it completes`);
    }
    return decodeTensors(await this.blobs.get(job.resultHash));
  }

  async cancel(job: Job): Promise<void> {
    if (!(await this.store.finishJob(job.id, 'cancelled', { finishedAt: Date.now(), error: 'cancelled by the project' }))) {
      throw new JobError('conflict', `job ${job.id} is already ${job.state}`);
    }
    this.log.info({ job: job.id }, 'job cancelled');
    this.events.emit('job', job.id, job.projectId);
  }

  /** Fails the running jobs whose deadline passed (the reconciler calls it). */
  async failOverdue(now = Date.now()): Promise<void> {
    for (const j of await this.store.listJobs({ states: ['running'], limit: 10_000 })) {
      const why = deadlineFailure(j, now);
      if (!why) continue;
      const c = await this.store.jobCounts(j.id);
      await this.fail(j.id, `${why}; ${c.shards.validated} of ${c.shards.total} shards validated`);
    }
  }

  async fail(jobId: string, error: string): Promise<void> {
    const job = await this.store.getJob(jobId);
    if (job && await this.store.finishJob(jobId, 'failed', { finishedAt: Date.now(), error })) {
      this.log.error({ job: jobId, error }, 'job failed');
      this.events.emit('job', jobId, job.projectId);
    }
  }

  /**
   * Completes the job once every shard is validated: `yieldResult` (the kind's)
   * turns the shards' canonical results into the stored blob the job yields.
   */
  async completeOnceValidated(jobId: string, yieldResult: (job: Job, parts: NamedTensor[][]) => Promise<string>): Promise<void> {
    if (this.completing.has(jobId)) return;
    this.completing.add(jobId);
    try {
      const job = await this.store.getJob(jobId);
      if (!job || job.state !== 'running') return;
      const left = await this.store.shardsLeft(jobId);
      if (left.open || left.failed) return;
      const counts = await this.store.jobCounts(jobId);
      const parts = (await this.store.canonicalResults(jobId)).map(decodeTensors);
      const hash = await yieldResult(job, parts);
      if (await this.store.finishJob(jobId, 'completed', { finishedAt: Date.now(), resultHash: hash })) {
        this.log.info({ job: jobId, shards: counts.shards.total, credit: counts.credit }, 'job completed: every shard validated');
        this.events.emit('job', jobId, job.projectId);
      }
    } finally {
      this.completing.delete(jobId);
    }
  }
}

function checkLimits(l: JobLimits, t: Tolerance): void {
  const int = (name: string, v: number, bound: readonly [number, number]) => {
    const problem = intProblem(name, v, bound);
    if (problem) throw new JobError('bad_request', problem);
  };
  int('replicas', l.replicas, BOUNDS.replicas);
  int('maxErrorCopies', l.maxErrorCopies, BOUNDS.maxErrorCopies);
  int('maxTotalCopies', l.maxTotalCopies, [l.replicas, BOUNDS.maxTotalCopies[1]]);
  int('leaseMs', l.leaseMs, [BOUNDS.leaseSeconds[0] * 1000, BOUNDS.leaseSeconds[1] * 1000]);
  int('ackWithinMs', l.ackWithinMs, BOUNDS.ackWithinMs);
  for (const [k, v] of Object.entries(t)) {
    if (!(typeof v === 'number' && Number.isFinite(v) && v >= 0 && v <= 1e6)) throw new JobError('bad_request', `${k} must be a finite number >= 0, got ${v}`);
  }
}
