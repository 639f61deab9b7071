import { dtypeFromOnnx, type DType } from '../tensor/dtypes.ts';
import { onnxTypeName, tensorFromProto } from '../tensor/tensorproto.ts';
import {
  decodeModelProto, encodeModelProto, type GraphProto, type Int64, int64ToBigInt as toBigInt, type ModelProto,
  type ValueInfoProto, WireError,
} from './proto.ts';

export { onnxTypeName };
export type { ModelProto };

/** Why a model cannot be used: bytes that are not ONNX, or a graph tabgrid cannot run. */
export class ModelError extends Error {
  override name = 'ModelError';
}

export interface ValueInfo {
  name: string;
  /** null when the element type is one tabgrid cannot carry, or the value is not a tensor. */
  dtype: DType | null;
  /** onnx.TensorProto.DataType; 0 for non-tensor values (sequences, maps). */
  elemType: number;
  /** A number per known dim, a string for a symbolic dim_param, null for an unknown dim; null when the rank is unknown. */
  dims: Array<number | string | null> | null;
}

export interface ModelSignature {
  /** Graph inputs that are not initializers, in graph order: what a caller must feed. */
  inputs: ValueInfo[];
  outputs: ValueInfo[];
  initializers: string[];
  /** Opset version per domain; '' is the default ai.onnx domain. */
  opsets: Record<string, number>;
  /** Distinct operator types, sorted, including those in subgraphs; 'domain::Op' outside ai.onnx. */
  ops: string[];
  irVersion: number;
}

/** A signed int64 field as a bigint; a number that is not an exact integer is refused. */
export function int64ToBigInt(v: Int64 | null | undefined): bigint {
  try {
    return toBigInt(v);
  } catch (e) {
    throw new ModelError((e as Error).message);
  }
}

export function int64ToNumber(v: Int64 | null | undefined): number {
  const b = int64ToBigInt(v);
  if (b > BigInt(Number.MAX_SAFE_INTEGER) || b < BigInt(Number.MIN_SAFE_INTEGER)) {
    throw new ModelError(`int64 value ${b} does not fit a JS number`);
  }
  return Number(b);
}

/** Default-domain opset of a model, or null when it imports none. */
export function defaultOpset(model: ModelProto): number | null {
  for (const o of model.opsetImport ?? []) {
    if (!o.domain || o.domain === 'ai.onnx') return int64ToNumber(o.version);
  }
  return null;
}

const has = (o: object, k: string): boolean =>
  Object.prototype.hasOwnProperty.call(o, k) && (o as Record<string, unknown>)[k] != null;

/**
 * Decodes an .onnx file. The result shares memory with `bytes` (raw_data
 * fields are views into it), so keep `bytes` unchanged while it is used.
 */
export function parseModel(bytes: Uint8Array): ModelProto {
  if (!(bytes instanceof Uint8Array)) throw new ModelError('not an ONNX model: expected bytes');
  if (bytes.byteLength === 0) throw new ModelError('not an ONNX model: the file is empty');
  // a plain view keeps Node Buffers (and their Buffer-typed slices) out of the decoded message
  const plain = new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let m: ModelProto;
  try {
    m = decodeModelProto(plain);
  } catch (e) {
    if (!(e instanceof WireError)) throw e;
    // a read past the end: the file was cut short, or was never ONNX
    if (e.truncated) throw new ModelError(`truncated or not an ONNX model: index out of range: ${e.message}`);
    throw new ModelError(`not an ONNX model: ${e.message}`);
  }
  if (!has(m, 'irVersion') || int64ToBigInt(m.irVersion) <= 0n) {
    throw new ModelError('not an ONNX model: no ir_version');
  }
  if (!has(m, 'graph')) throw new ModelError('not an ONNX model (or a truncated one): it has no graph');
  // serializers write opset_import after the graph, so a file cut between the two loses it
  if ((m.opsetImport ?? []).length === 0) throw new ModelError('truncated or invalid ONNX model: no opset_import');
  const g = m.graph!;
  if (!g.output || g.output.length === 0) throw new ModelError('the model graph has no outputs');
  return m;
}

export function serializeModel(m: ModelProto): Uint8Array {
  return encodeModelProto(m);
}

function valueInfo(v: ValueInfoProto): ValueInfo {
  const name = v.name ?? '';
  const tt = v.type && has(v.type, 'tensorType') ? v.type.tensorType! : null;
  if (!tt) return { name, dtype: null, elemType: 0, dims: null };
  const elemType = tt.elemType ?? 0;
  let dims: ValueInfo['dims'] = null;
  if (tt.shape && has(tt, 'shape')) {
    dims = (tt.shape.dim ?? []).map((d) => {
      if (has(d, 'dimParam') && d.dimParam !== '') return d.dimParam!;
      if (has(d, 'dimValue')) {
        const n = int64ToNumber(d.dimValue);
        return n >= 0 ? n : null;
      }
      return null;
    });
  }
  return { name, dtype: dtypeFromOnnx(elemType), elemType, dims };
}

function collectOps(g: GraphProto, into: Set<string>): void {
  for (const n of g.node ?? []) {
    const domain = n.domain ?? '';
    into.add(domain === '' || domain === 'ai.onnx' ? n.opType ?? '' : `${domain}::${n.opType}`);
    for (const a of n.attribute ?? []) {
      if (a.g) collectOps(a.g, into);
      for (const sub of a.graphs ?? []) collectOps(sub, into);
    }
  }
}

export function modelSignature(m: ModelProto): ModelSignature {
  const g = m.graph;
  if (!g) throw new ModelError('the model has no graph');
  const initializers = (g.initializer ?? []).map((t) => t.name ?? '');
  const isInit = new Set(initializers);
  const opsets: Record<string, number> = {};
  for (const o of m.opsetImport ?? []) {
    const domain = o.domain === 'ai.onnx' ? '' : o.domain ?? '';
    opsets[domain] = int64ToNumber(o.version);
  }
  const ops = new Set<string>();
  collectOps(g, ops);
  return {
    inputs: (g.input ?? []).filter((v) => !isInit.has(v.name ?? '')).map(valueInfo),
    outputs: (g.output ?? []).map(valueInfo),
    initializers,
    opsets,
    ops: [...ops].sort(),
    irVersion: int64ToNumber(m.irVersion),
  };
}

/** Reads a TensorProto (an initializer, a Constant's value) with the same rules as decodeTensorProto. */
export const initializerTensor = tensorFromProto;
