/**
 * The autodiff's view of ONNX: models are decoded and encoded by the one ONNX
 * codec (shared/onnx/proto.ts) and tensors read by its one TensorProto rule
 * (shared/tensor/tensorproto.ts); here only the conversions to the IR's plain
 * values (typed attributes, tensors, value infos) live.
 */
import { dtypeFromOnnx, onnxDataType } from '../../../shared/tensor/dtypes.ts';
import type { DType } from '../../../shared/tensor/dtypes.ts';
import { copyBytes, elementCount } from '../../../shared/tensor/tensor.ts';
import type { Tensor } from '../../../shared/tensor/tensor.ts';
import { tensorFromProto as namedTensorFromProto } from '../../../shared/tensor/tensorproto.ts';
import { ModelError, parseModel, serializeModel } from '../../../shared/onnx/model.ts';
import {
  AttributeType as AT, type AttributeProto, type GraphProto, int64ToDouble, type ModelProto, type NodeProto,
  type TensorProto, type TypeProto, type ValueInfoProto,
} from '../../../shared/onnx/proto.ts';

export type { AttributeProto, GraphProto, ModelProto, NodeProto, TensorProto, ValueInfoProto };
export { copyBytes };

/** An int64 field (dims, attributes) as a number; absent is 0. */
export const num = int64ToDouble;

export function decodeModel(bytes: Uint8Array): ModelProto {
  try {
    return parseModel(bytes);
  } catch (e) {
    if (e instanceof ModelError) throw new Error(`not a valid ONNX model: ${e.message}`);
    throw e;
  }
}

export function encodeModel(model: ModelProto): Uint8Array {
  return serializeModel(model);
}

export { defaultOpset } from '../../../shared/onnx/model.ts';

function littleEndian(): boolean {
  return new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
}
if (!littleEndian()) throw new Error('tabgrid training needs a little-endian platform');

/** Converts an ONNX TensorProto (raw_data or typed fields) to a tabgrid Tensor. */
export function tensorFromProto(t: TensorProto): Tensor {
  const { dtype, dims, data } = namedTensorFromProto(t);
  return { dtype, dims, data };
}

export function tensorToProto(name: string, t: Tensor): TensorProto {
  return {
    name,
    dataType: onnxDataType(t.dtype),
    dims: [...t.dims],
    rawData: copyBytes(t.data),
  };
}

export function float32Values(t: Tensor): Float32Array {
  if (t.dtype !== 'float32') throw new Error(`expected float32, got ${t.dtype}`);
  return new Float32Array(copyBytes(t.data).buffer);
}

/** Integer values of an int64/int32 tensor as numbers (shapes, axes). */
export function intValues(t: Tensor): number[] {
  const copy = copyBytes(t.data).buffer;
  if (t.dtype === 'int64') return Array.from(new BigInt64Array(copy), Number);
  if (t.dtype === 'int32') return Array.from(new Int32Array(copy));
  throw new Error(`expected an integer tensor, got ${t.dtype}`);
}

export function float32Tensor(dims: number[], values: ArrayLike<number>): Tensor {
  const arr = Float32Array.from(values);
  if (arr.length !== elementCount(dims)) throw new Error(`${arr.length} values do not fill [${dims}]`);
  return { dtype: 'float32', dims: [...dims], data: new Uint8Array(arr.buffer) };
}

export function int64Tensor(dims: number[], values: ArrayLike<number>): Tensor {
  const arr = BigInt64Array.from(Array.from(values, (v) => BigInt(v)));
  if (arr.length !== elementCount(dims)) throw new Error(`${arr.length} values do not fill [${dims}]`);
  return { dtype: 'int64', dims: [...dims], data: new Uint8Array(arr.buffer) };
}

import type { Dim } from '../../../shared/onnx/dims.ts';

export type { Dim };

export function valueInfo(name: string, dtype: DType, dims: readonly Dim[] | null): ValueInfoProto {
  const tensorType: NonNullable<TypeProto['tensorType']> = { elemType: onnxDataType(dtype) };
  if (dims) {
    tensorType.shape = {
      dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })),
    };
  }
  return { name, type: { tensorType } };
}

/** Declared dtype and dims of a graph input/output (dims null when the shape is not declared). */
export function readValueInfo(v: ValueInfoProto): { dtype: DType | null; dims: Dim[] | null } {
  const tt = v.type?.tensorType;
  if (!tt) return { dtype: null, dims: null };
  const dtype = dtypeFromOnnx(tt.elemType ?? 0);
  if (!tt.shape) return { dtype, dims: null };
  let unnamed = 0;
  const dims = (tt.shape.dim ?? []).map((d): Dim => {
    if (d.dimValue !== undefined && d.dimValue !== null && !d.dimParam) return num(d.dimValue);
    if (d.dimParam) return d.dimParam;
    unnamed += 1;
    return `${v.name ?? 'value'}_dim${unnamed}`;
  });
  return { dtype, dims };
}

/** Typed attribute values as tabgrid's IR keeps them. */
export type AttrValue =
  | { kind: 'int'; value: number }
  | { kind: 'float'; value: number }
  | { kind: 'ints'; value: number[] }
  | { kind: 'floats'; value: number[] }
  | { kind: 'string'; value: string }
  | { kind: 'tensor'; value: Tensor };

export type Attrs = Record<string, AttrValue>;

export const attr = {
  int: (value: number): AttrValue => ({ kind: 'int', value }),
  float: (value: number): AttrValue => ({ kind: 'float', value }),
  ints: (value: number[]): AttrValue => ({ kind: 'ints', value }),
  floats: (value: number[]): AttrValue => ({ kind: 'floats', value }),
  string: (value: string): AttrValue => ({ kind: 'string', value }),
  tensor: (value: Tensor): AttrValue => ({ kind: 'tensor', value }),
};

/** Reads an AttributeProto; null for kinds tabgrid has no use for (graphs, sparse tensors...). */
export function readAttr(a: AttributeProto): AttrValue | null {
  switch (a.type) {
    case AT.INT: return attr.int(num(a.i));
    case AT.FLOAT: return attr.float(a.f ?? 0);
    case AT.INTS: return attr.ints((a.ints ?? []).map(num));
    case AT.FLOATS: return attr.floats([...(a.floats ?? [])]);
    case AT.STRING: return attr.string(new TextDecoder().decode(a.s ?? new Uint8Array()));
    case AT.TENSOR: return a.t ? attr.tensor(tensorFromProto(a.t)) : null;
    default: return null;
  }
}

export function writeAttr(name: string, v: AttrValue): AttributeProto {
  switch (v.kind) {
    case 'int': return { name, type: AT.INT, i: v.value };
    case 'float': return { name, type: AT.FLOAT, f: v.value };
    case 'ints': return { name, type: AT.INTS, ints: [...v.value] };
    case 'floats': return { name, type: AT.FLOATS, floats: [...v.value] };
    case 'string': return { name, type: AT.STRING, s: new TextEncoder().encode(v.value) };
    case 'tensor': return { name, type: AT.TENSOR, t: tensorToProto('', v.value) };
  }
}
