/**
 * Inference jobs as a kind (see kinds.ts): a copy carries its shard's records
 * of each batched input (the other inputs whole); the job completes, its
 * outputs assembled from the shards' canonical results and stored, once every
 * shard validates (JobService.completeOnceValidated).
 */
import type { WireTensor } from '../../shared/protocol/events.ts';
import { decodeTensors, encodeTensorParts } from '../../shared/tensor/codec.ts';
import { type NamedTensor, viewRecords } from '../../shared/tensor/tensor.ts';
import type { BlobStore } from '../blobs/blob-store.ts';
import { assembleOutputs } from '../core/jobs/assemble.ts';
import type { InferenceSpec, Job, Shard } from '../core/jobs/types.ts';
import type { Store } from '../store/types.ts';
import type { JobService } from './job-service.ts';
import type { KindPayload, KindWork } from './kinds.ts';
import { storeBlob } from './store-blob.ts';

export class InferenceWork implements KindWork {
  private inputCache = new Map<string, Promise<NamedTensor>>();

  constructor(private readonly blobs: BlobStore, private readonly store: Store, private readonly jobs: JobService) {}

  async payload(job: Job, shard: Shard): Promise<KindPayload> {
    const spec = job.spec as InferenceSpec;
    const inputs: WireTensor[] = [];
    for (const input of spec.inputs) {
      const whole = await this.inputTensor(input.hash);
      // A view into the cached input: socket.io sends its bytes; nothing keeps or changes it.
      const t = spec.batchedInputs.includes(input.name) ? viewRecords(whole, shard.start, shard.end) : whole;
      inputs.push({ name: input.name, dtype: t.dtype, dims: t.dims, data: t.data });
    }
    return { feedBlobs: [], inputs, batchedInputs: spec.batchedInputs, runUnit: spec.runUnit };
  }

  progress(jobId: string): Promise<void> {
    return this.jobs.completeOnceValidated(jobId, (job, parts) => {
      const spec = job.spec as InferenceSpec;
      const outputs = assembleOutputs(spec.outputs.map((o) => o.name), parts, spec.stackOutputs);
      const bytes = outputs.reduce((n, o) => n + o.parts.reduce((m, p) => m + p.byteLength, 0), 0);
      return storeBlob({ blobs: this.blobs, store: this.store }, encodeTensorParts(outputs), 'output', { recordedBytes: bytes });
    });
  }

  private inputTensor(hash: string): Promise<NamedTensor> {
    let t = this.inputCache.get(hash);
    if (!t) {
      t = this.blobs.get(hash).then((b) => decodeTensors(b)[0]!);
      t.catch(() => this.inputCache.delete(hash));
      this.inputCache.set(hash, t);
      if (this.inputCache.size > 64) this.inputCache.delete(this.inputCache.keys().next().value!);
    }
    return t;
  }
}
