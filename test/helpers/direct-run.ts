/** The reference: a model run straight through onnxruntime-web (WASM) in this process. */
import { ort } from '../../server/models/ort-node.ts';
import { type NamedTensor, type Tensor, tensorFromTyped, typedView } from '../../shared/tensor/tensor.ts';
import { decodeNpy } from '../../shared/tensor/npy.ts';
import type { SpawnedCoordinator } from './coordinator.ts';
import { fromOrtTensor, toOrtTensor } from '../../shared/worker-core/ort-tensors.ts';

export async function runDirect(model: Uint8Array, feeds: Record<string, Tensor>): Promise<NamedTensor[]> {
  const s = await ort.InferenceSession.create(model, { executionProviders: ['wasm'], logSeverityLevel: 3 });
  try {
    const f: Record<string, ort.Tensor> = {};
    for (const [k, t] of Object.entries(feeds)) f[k] = toOrtTensor(ort, t);
    const out = await s.run(f);
    return s.outputNames.map((n) => fromOrtTensor(n, out[n]!));
  } finally {
    await s.release();
  }
}

/** A job's first output, as the project downloads it, against the model run straight through onnxruntime here (inputs x: [records, 8]). */
export async function outputMatchesDirect(model: Uint8Array, c: SpawnedCoordinator, id: string, x: Float32Array, records: number): Promise<boolean> {
  const got = typedView(decodeNpy(new Uint8Array(await c.api.output(id, 0, 'npy'))) as never) as Float32Array;
  const [want] = await runDirect(model, { x: tensorFromTyped('float32', [records, 8], x) });
  const w = typedView(want! as never) as Float32Array;
  return got.length === w.length && got.every((v, i) => Math.abs(v - w[i]!) <= 1e-4 + 1e-3 * Math.abs(w[i]!));
}
