/**
 * Conversions between tabgrid's byte tensors and onnxruntime-web tensors: the
 * one place they cross, for volunteers (executor.ts), the coordinator's
 * training runs (server/training/ort-runner.ts) and evaluation alike.
 */
import type * as Ort from 'onnxruntime-web';
import { isDType } from '../tensor/dtypes.ts';
import { type NamedTensor, type Tensor, typedView } from '../tensor/tensor.ts';

export type OrtModule = typeof Ort;

export function toOrtTensor(ort: Pick<OrtModule, 'Tensor'>, t: Tensor): Ort.Tensor {
  // onnxruntime-web takes Uint16Array bit patterns for float16 and Uint8Array for bool.
  return new ort.Tensor(t.dtype, typedView(t) as never, t.dims);
}

export function fromOrtTensor(name: string, ot: Ort.Tensor): NamedTensor {
  if (!isDType(ot.type)) throw new Error(`output ${name} has type ${ot.type}, which tabgrid cannot carry`);
  const src = ot.data as ArrayBufferView;
  const data = new Uint8Array(src.buffer, src.byteOffset, src.byteLength).slice();
  return { name, dtype: ot.type, dims: ot.dims.map(Number), data };
}
