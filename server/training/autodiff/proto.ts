/**
 * Thin helpers over onnx-proto (protobufjs static code): decoding models,
 * converting TensorProto <-> tabgrid Tensor, and attribute/value-info
 * construction. Everything else in autodiff works on plain data.
 */
import onnxProto from 'onnx-proto';
import type { onnx as OnnxTypes } from 'onnx-proto';
import { dtypeFromOnnx, onnxDataType, bytesPerElement } from '../../../shared/tensor/dtypes.ts';
import type { DType } from '../../../shared/tensor/dtypes.ts';
import { elementCount } from '../../../shared/tensor/tensor.ts';
import type { Tensor } from '../../../shared/tensor/tensor.ts';

export const { onnx } = onnxProto;
export type ModelProto = OnnxTypes.IModelProto;
export type GraphProto = OnnxTypes.IGraphProto;
export type NodeProto = OnnxTypes.INodeProto;
export type TensorProto = OnnxTypes.ITensorProto;
export type AttributeProto = OnnxTypes.IAttributeProto;
export type ValueInfoProto = OnnxTypes.IValueInfoProto;

/** protobufjs decodes int64 fields as Long objects (or numbers); dims and attributes always fit a double. */
export function num(x: unknown): number {
  if (typeof x === 'number') return x;
  if (typeof x === 'bigint') return Number(x);
  if (x && typeof (x as { toNumber?: unknown }).toNumber === 'function') return (x as { toNumber(): number }).toNumber();
  if (x === null || x === undefined) return 0;
  return Number(x);
}

export function decodeModel(bytes: Uint8Array): ModelProto {
  try {
    return onnx.ModelProto.decode(bytes);
  } catch (e) {
    throw new Error(`not a valid ONNX model: ${(e as Error).message}`);
  }
}

export function encodeModel(model: ModelProto): Uint8Array {
  return onnx.ModelProto.encode(onnx.ModelProto.fromObject(model)).finish();
}

export { defaultOpset } from '../../../shared/onnx/model.ts';

/**
 * A fresh, exactly-sized copy. Not `.slice()`: protobufjs hands out Node
 * Buffers, whose slice() is a view into a shared pool.
 */
export function copyBytes(src: Uint8Array): Uint8Array {
  const out = new Uint8Array(src.byteLength);
  out.set(src);
  return out;
}

function littleEndian(): boolean {
  return new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
}
if (!littleEndian()) throw new Error('tabgrid training needs a little-endian platform');

/** Converts an ONNX TensorProto (raw_data or typed fields) to a tabgrid Tensor. */
export function tensorFromProto(t: TensorProto): Tensor {
  const code = t.dataType ?? 0;
  const dtype = dtypeFromOnnx(code);
  if (!dtype) throw new Error(`tensor ${t.name ?? ''} has unsupported ONNX data type ${code}`);
  if (t.dataLocation === onnx.TensorProto.DataLocation.EXTERNAL || (t.externalData?.length ?? 0) > 0) {
    throw new Error(`tensor ${t.name ?? ''} uses external data, which tabgrid cannot read`);
  }
  const dims = (t.dims ?? []).map(num);
  const n = elementCount(dims);
  const size = bytesPerElement(dtype);
  if (t.rawData && t.rawData.length > 0) {
    if (t.rawData.length !== n * size) {
      throw new Error(`tensor ${t.name ?? ''}: raw data has ${t.rawData.length} bytes, expected ${n * size}`);
    }
    return { dtype, dims, data: copyBytes(t.rawData) };
  }
  const out = new Uint8Array(n * size);
  const view = new DataView(out.buffer);
  const fail = (): never => { throw new Error(`tensor ${t.name ?? ''}: expected ${n} values of ${dtype}`); };
  switch (dtype) {
    case 'float32': {
      const v = t.floatData ?? [];
      if (v.length !== n) fail();
      v.forEach((x, i) => view.setFloat32(i * 4, x, true));
      break;
    }
    case 'float64': {
      const v = t.doubleData ?? [];
      if (v.length !== n) fail();
      v.forEach((x, i) => view.setFloat64(i * 8, x, true));
      break;
    }
    case 'int64': {
      const v = t.int64Data ?? [];
      if (v.length !== n) fail();
      v.forEach((x, i) => view.setBigInt64(i * 8, BigInt(num(x)), true));
      break;
    }
    case 'uint64': {
      const v = t.uint64Data ?? [];
      if (v.length !== n) fail();
      v.forEach((x, i) => view.setBigUint64(i * 8, BigInt(num(x)), true));
      break;
    }
    default: {
      // int32_data carries every integer type of 32 bits or less, and float16 bits.
      const v = t.int32Data ?? [];
      if (v.length !== n) fail();
      v.forEach((x, i) => {
        if (size === 1) view.setUint8(i, x & 0xff);
        else if (size === 2) view.setUint16(i * 2, x & 0xffff, true);
        else view.setInt32(i * 4, x, true);
      });
    }
  }
  return { dtype, dims, data: out };
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

/** A dim of a value's declared shape: a number, or a symbolic name. */
export type Dim = number | string;

export function valueInfo(name: string, dtype: DType, dims: readonly Dim[] | null): ValueInfoProto {
  const tensorType: OnnxTypes.TypeProto.ITensor = { elemType: onnxDataType(dtype) };
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
    const which = (d as { value?: string }).value;
    if (which === 'dimValue' || (which === undefined && d.dimValue !== undefined && d.dimValue !== null && !d.dimParam)) {
      return num(d.dimValue);
    }
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

const AT = onnx.AttributeProto.AttributeType;

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
