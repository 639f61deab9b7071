/**
 * Runs an ONNX model with onnxruntime-web on tabgrid Tensors. The ort module
 * is passed in, so callers choose the build (`onnxruntime-web`,
 * `onnxruntime-web/webgpu`, ...) and its environment settings. Tensors cross
 * to and from onnxruntime through shared/worker-core/ort-tensors.ts, the one
 * conversion volunteers use too.
 */
import type * as OrtTypes from 'onnxruntime-web';
import type { Tensor } from '../../shared/tensor/tensor.ts';
import { fromOrtTensor, toOrtTensor } from '../../shared/worker-core/ort-tensors.ts';

export type OrtModule = Pick<typeof OrtTypes, 'InferenceSession' | 'Tensor'>;

export interface TensorRunner {
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  run(feeds: Record<string, Tensor>, outputs?: readonly string[]): Promise<Record<string, Tensor>>;
  release(): Promise<void>;
}

export async function createOrtRunner(
  ort: OrtModule, model: Uint8Array, options: OrtTypes.InferenceSession.SessionOptions = { executionProviders: ['wasm'] },
): Promise<TensorRunner> {
  const session = await ort.InferenceSession.create(model, options);
  return {
    inputNames: session.inputNames,
    outputNames: session.outputNames,
    async run(feeds, outputs) {
      const ortFeeds: Record<string, OrtTypes.Tensor> = {};
      for (const [name, t] of Object.entries(feeds)) ortFeeds[name] = toOrtTensor(ort, t);
      const result = outputs ? await session.run(ortFeeds, [...outputs]) : await session.run(ortFeeds);
      const out: Record<string, Tensor> = {};
      for (const [name, v] of Object.entries(result)) {
        const { dtype, dims, data } = fromOrtTensor(name, v);
        out[name] = { dtype, dims, data };
      }
      return out;
    },
    release: () => session.release(),
  };
}
