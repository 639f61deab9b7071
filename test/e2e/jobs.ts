/** Submitting inference jobs over the coordinator's HTTP API and reading them back, for the browser e2e tests. */
import type { ApiClient, JobStatus } from '../../cli/api-client.ts';
import { decodeNpy, encodeNpy } from '../../shared/tensor/npy.ts';
import { type Tensor, tensorFromTyped } from '../../shared/tensor/tensor.ts';
import { mlpModel, randomInput } from '../helpers/onnx-builder.ts';
import { startWorker } from '../helpers/worker-process.ts';
export { waitForJob } from '../helpers/wait.ts';

/**
 * An honest partner volunteer (`tabgrid worker --node 1`, its own process so its compute never stalls the
 * test's polling): at replicas 2 it checks a tab's results, since a lone untrusted result at replicas 1 is
 * accepted unchecked and earns no credit (README, Trust).
 */
export function startPartner(server: string): { stop(): Promise<void> } {
  return startWorker(server);
}

export interface SubmittedJob {
  id: string;
  model: Uint8Array;
  x: Tensor;
  shards: number;
}

export async function submitMlpJob(api: ApiClient, o: {
  records: number; shardSize: number; width?: number; layers?: number; seed?: number; inputSeed?: number;
  replicas?: number; rtol?: number; atol?: number;
  /** The job's name and labels (key=value tags). */
  name?: string; tags?: Record<string, string>;
  /** The copies' lease (the coordinator's default when absent). */
  leaseSeconds?: number;
}): Promise<SubmittedJob> {
  const width = o.width ?? 32;
  const model = mlpModel({ width, layers: o.layers ?? 3, seed: o.seed ?? 1 });
  const x = tensorFromTyped('float32', [o.records, width], randomInput(o.records, width, o.inputSeed ?? o.records));
  const modelHash = await api.uploadBlob(model);
  const inputHash = await api.uploadBlob(encodeNpy(x));
  const job = await api.createJob({
    model: modelHash,
    inputs: [{ name: 'x', blob: inputHash, format: 'npy' }],
    shardSize: o.shardSize,
    replicas: o.replicas ?? 1,
    // WebGPU and WASM round differently: copies from both must still agree.
    rtol: o.rtol ?? 1e-3,
    atol: o.atol ?? 1e-4,
    ...(o.name ? { name: o.name } : {}),
    ...(o.tags ? { tags: o.tags } : {}),
    ...(o.leaseSeconds ? { leaseSeconds: o.leaseSeconds } : {}),
  });
  return { id: job.id, model, x, shards: job.shards.total };
}


export async function jobOutput(api: ApiClient, id: string, index = 0): Promise<Tensor> {
  return decodeNpy(await api.output(id, index, 'npy'));
}

export async function cancelJob(api: ApiClient, id: string): Promise<void> {
  await api.cancel(id);
}

export interface AccountBody {
  account: string;
  balance: number;
  entries: { copyId: string; account: string; amount: number; jobId: string }[];
}

export async function account(server: string, acct: string): Promise<AccountBody> {
  const res = await fetch(`${server}/api/v1/accounts/${encodeURIComponent(acct)}`);
  if (!res.ok) throw new Error(`account ${acct}: HTTP ${res.status}`);
  return res.json() as Promise<AccountBody>;
}

/** Largest |a-b| over two float32 tensors of the same shape. */
export function maxAbsDiff(a: Tensor, b: Tensor): number {
  if (a.dims.join(',') !== b.dims.join(',')) throw new Error(`shape [${a.dims}] vs [${b.dims}]`);
  const x = new Float32Array(a.data.slice().buffer);
  const y = new Float32Array(b.data.slice().buffer);
  let m = 0;
  for (let i = 0; i < x.length; i++) m = Math.max(m, Math.abs(x[i]! - y[i]!));
  return m;
}
