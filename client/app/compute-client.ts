/**
 * The page's handle on the compute worker. It can replace the worker with a
 * fresh one: after a lost GPU device onnxruntime's WASM module may be wedged
 * in the run that was on the GPU (its runs are serialised), so falling back to
 * WASM means a new worker with a new runtime, not a flag flip. Calls into a
 * worker that is being replaced fail instead of hanging.
 */
import * as Comlink from 'comlink';
import type { Assignment } from '../../shared/protocol/events.ts';
import type { BlobCacheStats } from '../lib/blob-cache.ts';
import { transferablesOf } from '../lib/transfer.ts';
import { dropKeptWeights, keptWeightJobs } from '../lib/held-weights.ts';
import type { KeptWeights } from '../../shared/volunteer/volunteer.ts';
import type { BackendChange, ComputeApi, InitOptions, InitReport, ShardResult } from '../worker/compute-api.ts';

export class ComputeClient {
  private worker: Worker | null = null;
  private api: Comlink.Remote<ComputeApi> | null = null;
  private gone: ((e: Error) => void) | null = null;
  private goneP: Promise<never> = Promise.reject(new Error('the compute worker has not started'));
  private intensity = 1;

  constructor(private readonly onBackendChanged: (c: BackendChange) => void, private readonly onError: (m: string) => void) {
    this.goneP.catch(() => {});
  }

  /** (Re)starts the worker: probe, self-tests, backend choice. */
  async start(o: InitOptions): Promise<InitReport> {
    this.terminate('the compute worker was restarted');
    const worker = new Worker(new URL('../worker/compute.worker.ts', import.meta.url), { type: 'module', name: 'tabgrid-compute' });
    worker.addEventListener('error', (e) => this.onError(`the compute worker failed: ${e.message || 'could not load'}`));
    this.worker = worker;
    this.api = Comlink.wrap<ComputeApi>(worker);
    this.goneP = new Promise<never>((_, reject) => { this.gone = reject; });
    this.goneP.catch(() => {});
    const report = await this.guard(this.api.init(o, Comlink.proxy({ backendChanged: (c: BackendChange) => this.onBackendChanged(c) })));
    await this.api.setIntensity(this.intensity);
    return report;
  }

  run(a: Assignment): Promise<ShardResult> {
    if (!this.api) return Promise.reject(new Error('the compute worker is not running'));
    return this.guard(this.api.run(Comlink.transfer(a, transferablesOf(a.inputs))));
  }

  setIntensity(x: number): void {
    this.intensity = x;
    void this.api?.setIntensity(x);
  }

  async cacheStats(): Promise<BlobCacheStats | null> {
    return this.api ? this.guard(this.api.cacheStats()) : null;
  }

  /**
   * The weights kept for local-steps jobs: in IndexedDB, which the page reads and writes itself (so it works while
   * the worker is being replaced), and in the worker's memory, which is told to forget them.
   */
  readonly keptWeights: KeptWeights = {
    jobs: () => keptWeightJobs(),
    drop: async (jobIds) => {
      void this.api?.forgetJobs([...jobIds])?.catch(() => { /* a worker being replaced holds nothing worth freeing */ });
      await dropKeptWeights(jobIds);
    },
  };

  terminate(reason: string): void {
    this.gone?.(new Error(reason));
    this.gone = null;
    this.api?.[Comlink.releaseProxy]();
    this.worker?.terminate();
    this.worker = null;
    this.api = null;
  }

  private guard<T>(p: Promise<T>): Promise<T> {
    return Promise.race([p, this.goneP]);
  }
}
