/**
 * The shard executor: one implementation of "run this assignment" shared by the
 * browser Web Worker and `tabgrid worker --node`. It caches sessions by model
 * hash (a volunteer downloads and compiles each model once) and feed blobs
 * (training weights) by hash. For local-steps jobs it keeps the last version of
 * each job's weights it trained from, so the next round needs only the deltas
 * since (shared/training/weights-delta.ts); with a keeper (a tab's IndexedDB)
 * they outlive it, so a reloaded tab needs only the deltas too.
 */
import type * as Ort from 'onnxruntime-web';
import type { Assignment, Backend, BlobRef, WeightsOffer } from '../protocol/events.ts';
import { decodeTensors } from '../tensor/codec.ts';
import { runLocalSteps } from '../training/local-steps.ts';
import { applyChain, decodeFullWeights, type HeldWeights, inflateDelta, inflatedDeltaLimit, planWeights, weightsFeeds, weightsHash } from '../training/weights-delta.ts';
import { concatRecords, type NamedTensor, sliceRecords, type Tensor } from '../tensor/tensor.ts';
import { fromOrtTensor, type OrtModule, toOrtTensor } from './ort-tensors.ts';

export interface ExecutorOptions {
  ort: OrtModule;
  backend: Backend;
  /** Returns the blob's bytes, verified against its hash (from a cache or the coordinator). */
  loadBlob(ref: BlobRef): Promise<Uint8Array>;
  /** Sessions kept compiled at once; each holds the model's weights in memory. */
  maxSessions?: number;
  /** Told when held weights could not be brought up to date by deltas (and full weights were fetched instead). */
  warn?(message: string): void;
  /**
   * Where the weights each local-steps job last trained from outlive this executor (a browser tab's IndexedDB):
   * a reloaded tab then takes the round's delta rather than the full weights.
   */
  keep?: HeldWeightsKeeper;
}

/** Keeps a job's held weights beyond the executor's memory; its failures only cost a full-weights fetch. */
export interface HeldWeightsKeeper {
  get(jobId: string): Promise<HeldWeights | null>;
  /** Resolves once stored: a copy computed from these weights is delivered only after, so a reload finds them. */
  put(jobId: string, w: HeldWeights): Promise<void>;
}

export interface ShardOutput {
  outputs: NamedTensor[];
  computeMs: number;
}

const now = () => (typeof performance !== 'undefined' ? performance.now() : Date.now());

export class ShardExecutor {
  private sessions = new Map<string, Promise<Ort.InferenceSession>>();
  private feedCache = new Map<string, Promise<NamedTensor[]>>();
  /** Error feedback of compressed local-steps updates, per job: what rounding dropped, sent with the next shard. */
  private residuals = new Map<string, Float32Array>();
  /** Per local-steps job, the version of the weights last trained from (the base of the next round's deltas). */
  private held = new Map<string, HeldWeights>();

  constructor(private readonly opts: ExecutorOptions) {}

  get backend(): Backend {
    return this.opts.backend;
  }

  /** Compiles (or reuses) the session for a model; exposed so callers can warm up. */
  session(model: BlobRef): Promise<Ort.InferenceSession> {
    let s = this.sessions.get(model.hash);
    if (!s) {
      s = this.opts.loadBlob(model).then((bytes) => this.opts.ort.InferenceSession.create(bytes, {
        executionProviders: [this.opts.backend],
        graphOptimizationLevel: 'all',
        logSeverityLevel: 3,
      }));
      s.catch(() => this.sessions.delete(model.hash));
      this.sessions.set(model.hash, s);
      this.evict(this.sessions, this.opts.maxSessions ?? 2, (old) => old.then((x) => x.release()).catch(() => {}));
    } else {
      // Map order is recency order: re-insert on use.
      this.sessions.delete(model.hash);
      this.sessions.set(model.hash, s);
    }
    return s;
  }

  /** `abort`: stop at the next run of the session (a chunk of records, an inner step), rejecting with its reason. */
  async run(a: Assignment, abort?: AbortSignal): Promise<ShardOutput> {
    abort?.throwIfAborted();
    const session = await this.session(a.model);
    const feeds: Record<string, Tensor> = {};
    for (const ref of a.feedBlobs) {
      for (const t of await this.feedBlob(ref)) feeds[t.name] = t;
    }
    if (a.weights) for (const t of weightsFeeds(await this.weightsFor(a.jobId, a.weights))) feeds[t.name] = t;
    for (const t of a.inputs) feeds[t.name] = t;

    const t0 = now();
    if (a.localSteps) {
      const r = await runLocalSteps(a.localSteps, feeds, (f, names) => this.runOnce(session, f, names, abort), this.residuals.get(a.jobId) ?? null);
      this.residuals.delete(a.jobId);
      this.residuals.set(a.jobId, r.residual);
      this.evict(this.residuals, 4);
      return { outputs: r.outputs, computeMs: now() - t0 };
    }
    const records = a.batchedInputs.length ? feeds[a.batchedInputs[0]!]?.dims[0] ?? 0 : 0;
    let outputs: NamedTensor[];
    if (a.runUnit > 0 && records > a.runUnit) {
      const parts: NamedTensor[][] = [];
      for (let start = 0; start < records; start += a.runUnit) {
        const chunk = { ...feeds };
        for (const name of a.batchedInputs) chunk[name] = sliceRecords(feeds[name]!, start, Math.min(records, start + a.runUnit));
        parts.push(await this.runOnce(session, chunk, a.outputs, abort));
      }
      outputs = a.outputs.map((name, i) => ({ name, ...concatRecords(parts.map((p) => p[i]!)) }));
    } else {
      outputs = await this.runOnce(session, feeds, a.outputs, abort);
    }
    return { outputs, computeMs: now() - t0 };
  }

  /** The local-steps jobs whose weights this executor holds in memory. */
  heldJobs(): string[] {
    return [...this.held.keys()];
  }

  /** Forgets what it holds for these jobs (their weights, their error feedback): they ended. */
  forget(jobIds: readonly string[]): void {
    for (const id of jobIds) {
      this.held.delete(id);
      this.residuals.delete(id);
    }
  }

  async dispose(): Promise<void> {
    const all = [...this.sessions.values()];
    this.sessions.clear();
    this.feedCache.clear();
    this.residuals.clear();
    this.held.clear();
    await Promise.all(all.map((s) => s.then((x) => x.release()).catch(() => {})));
  }

  private async runOnce(session: Ort.InferenceSession, feeds: Record<string, Tensor>, outputNames: string[], abort?: AbortSignal): Promise<NamedTensor[]> {
    abort?.throwIfAborted();
    const ortFeeds: Record<string, Ort.Tensor> = {};
    for (const [name, t] of Object.entries(feeds)) ortFeeds[name] = toOrtTensor(this.opts.ort, t);
    const result = await session.run(ortFeeds, outputNames);
    const out = outputNames.map((name) => {
      const ot = result[name];
      if (!ot) throw new Error(`session produced no output ${name}`);
      return fromOrtTensor(name, ot);
    });
    for (const ot of Object.values(result)) ot.dispose();
    return out;
  }

  /**
   * The offered version of a job's weights: the one held, the held one moved
   * by the deltas since (each checked against the version the coordinator
   * names), or the full weights when nothing held reaches it.
   */
  private async weightsFor(jobId: string, offer: WeightsOffer): Promise<HeldWeights> {
    const held = this.held.get(jobId) ?? await this.kept(jobId);
    // A full-weights blob that is not the version named is refused outright (planWeights throws).
    const chain = planWeights(held?.hash ?? null, offer);
    let w: HeldWeights | null = null;
    try {
      if (held && chain) {
        const limit = inflatedDeltaLimit(held.flat.length);
        const blobs = await Promise.all(chain.map(async (l) => inflateDelta(await this.opts.loadBlob(l.blob), limit)));
        w = applyChain(held, chain, blobs, offer.deltaBlockSize);
      }
    } catch (e) {
      this.opts.warn?.(`job ${jobId}: weights deltas refused, fetching the full weights: ${(e as Error).message}`);
    }
    // loadBlob checks the bytes against the hash, which names the version: no other check is needed.
    w ??= { ...decodeFullWeights(await this.opts.loadBlob(offer.full)), hash: offer.hash };
    this.held.delete(jobId);
    this.held.set(jobId, w);
    this.evict(this.held, 4);
    if (w !== held) await this.opts.keep?.put(jobId, w).catch((e: Error) => this.opts.warn?.(`job ${jobId}: could not keep the weights for a reload: ${e.message}`));
    return w;
  }

  private async kept(jobId: string): Promise<HeldWeights | null> {
    try {
      const w = (await this.opts.keep?.get(jobId)) ?? null;
      // Stored outside this process: trusted only if they still are the version they are named by.
      if (w && weightsHash(w) !== w.hash) throw new Error(`they hash to ${weightsHash(w).slice(0, 12)}, not ${w.hash.slice(0, 12)}`);
      return w;
    } catch (e) {
      this.opts.warn?.(`job ${jobId}: could not read the weights kept: ${(e as Error).message}`);
      return null;
    }
  }

  private feedBlob(ref: BlobRef): Promise<NamedTensor[]> {
    let f = this.feedCache.get(ref.hash);
    if (!f) {
      f = this.opts.loadBlob(ref).then(decodeTensors);
      f.catch(() => this.feedCache.delete(ref.hash));
      this.feedCache.set(ref.hash, f);
      this.evict(this.feedCache, 4);
    }
    return f;
  }

  private evict<V>(m: Map<string, V>, max: number, dispose?: (v: V) => void): void {
    while (m.size > max) {
      const [k, old] = m.entries().next().value as [string, V];
      m.delete(k);
      dispose?.(old);
    }
  }
}
