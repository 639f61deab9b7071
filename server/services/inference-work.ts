/**
 * Inference jobs as a kind (see kinds.ts): a copy carries its shard's records
 * of each batched input (the other inputs whole); the job completes, its
 * outputs assembled, once every shard validates (JobService.maybeComplete).
 */
import type { WireTensor } from '../../shared/protocol/events.ts';
import { decodeTensors } from '../../shared/tensor/codec.ts';
import { type NamedTensor, viewRecords } from '../../shared/tensor/tensor.ts';
import type { BlobStore } from '../blobs/blob-store.ts';
import type { InferenceSpec, Job, Shard } from '../core/jobs/types.ts';
import type { JobService } from './job-service.ts';
import type { KindPayload, KindWork } from './kinds.ts';

export class InferenceWork implements KindWork {
  private inputCache = new Map<string, Promise<NamedTensor>>();

  constructor(private readonly blobs: BlobStore, private readonly jobs: JobService) {}

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
    return this.jobs.maybeComplete(jobId);
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
