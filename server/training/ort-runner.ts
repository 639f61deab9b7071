/**
 * Runs an ONNX model with onnxruntime-web on tabgrid Tensors. The ort module
 * is passed in, so callers choose the build (`onnxruntime-web`,
 * `onnxruntime-web/webgpu`, ...) and its environment settings.
 */
import type * as OrtTypes from 'onnxruntime-web';
import type { Tensor } from '../../shared/tensor/tensor.ts';
import { typedView } from '../../shared/tensor/tensor.ts';
import type { DType } from '../../shared/tensor/dtypes.ts';

export type OrtModule = Pick<typeof OrtTypes, 'InferenceSession' | 'Tensor'>;

export interface TensorRunner {
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  run(feeds: Record<string, Tensor>, outputs?: readonly string[]): Promise<Record<string, Tensor>>;
  release(): Promise<void>;
}

const ORT_TYPES: Partial<Record<DType, OrtTypes.Tensor.Type>> = {
  float32: 'float32', float16: 'float16', float64: 'float64', int8: 'int8', int16: 'int16', int32: 'int32',
  int64: 'int64', uint8: 'uint8', uint16: 'uint16', uint32: 'uint32', uint64: 'uint64', bool: 'bool',
};

export async function createOrtRunner(
  ort: OrtModule, model: Uint8Array, options: OrtTypes.InferenceSession.SessionOptions = { executionProviders: ['wasm'] },
): Promise<TensorRunner> {
  const session = await ort.InferenceSession.create(model, options);
  return {
    inputNames: session.inputNames,
    outputNames: session.outputNames,
    async run(feeds, outputs) {
      const ortFeeds: Record<string, OrtTypes.Tensor> = {};
      for (const [name, t] of Object.entries(feeds)) {
        const type = ORT_TYPES[t.dtype];
        if (!type) throw new Error(`cannot feed ${t.dtype} tensor ${name} to onnxruntime`);
        ortFeeds[name] = new ort.Tensor(type, typedView(t) as never, t.dims);
      }
      const result = outputs ? await session.run(ortFeeds, [...outputs]) : await session.run(ortFeeds);
      const out: Record<string, Tensor> = {};
      for (const [name, v] of Object.entries(result)) {
        const data = v.data as ArrayBufferView;
        out[name] = {
          dtype: v.type as DType,
          dims: [...v.dims],
          data: new Uint8Array(data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength)),
        };
      }
      return out;
    },
    release: () => session.release(),
  };
}
