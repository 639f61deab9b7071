/** The reference: a model run straight through onnxruntime-web (WASM) in this process. */
import { ort } from '../../server/models/ort-node.ts';
import type { NamedTensor, Tensor } from '../../shared/tensor/tensor.ts';
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
