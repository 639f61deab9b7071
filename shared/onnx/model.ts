import onnxProto from 'onnx-proto';
import type { onnx } from 'onnx-proto';
import { dtypeFromOnnx, type DType } from '../tensor/dtypes.ts';
import type { NamedTensor } from '../tensor/tensor.ts';
import { onnxTypeName, tensorFromProtoFields } from '../tensor/tensorproto.ts';

export { onnxTypeName };

const proto = onnxProto.onnx;

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

type Int64 = number | { low: number; high: number; unsigned?: boolean };

/** protobufjs hands int64 fields over as Long objects where `long` loads (Node) and as numbers elsewhere. */
export function int64ToBigInt(v: unknown): bigint {
  if (typeof v === 'number') {
    if (!Number.isSafeInteger(v)) throw new ModelError(`int64 value ${v} was read imprecisely`);
    return BigInt(v);
  }
  if (typeof v === 'bigint') return v;
  if (typeof v === 'object' && v !== null && 'low' in v && 'high' in v) {
    const { low, high } = v as Exclude<Int64, number>;
    return (BigInt(high >>> 0) << 32n) | BigInt(low >>> 0);
  }
  if (v === null || v === undefined) return 0n;
  throw new ModelError(`expected an int64, got ${typeof v}`);
}

export function int64ToNumber(v: unknown): number {
  const b = BigInt.asIntN(64, int64ToBigInt(v));
  if (b > BigInt(Number.MAX_SAFE_INTEGER) || b < BigInt(Number.MIN_SAFE_INTEGER)) {
    throw new ModelError(`int64 value ${b} does not fit a JS number`);
  }
  return Number(b);
}

/** Default-domain opset of a model, or null when it imports none. */
export function defaultOpset(model: onnx.IModelProto): number | null {
  for (const o of model.opsetImport ?? []) {
    if (!o.domain || o.domain === 'ai.onnx') return int64ToNumber(o.version);
  }
  return null;
}

const has = (o: object, k: string): boolean =>
  Object.prototype.hasOwnProperty.call(o, k) && (o as Record<string, unknown>)[k] != null;

/**
 * Decodes an .onnx file. The result shares memory with `bytes` (protobufjs
 * returns raw_data as subarrays), so keep `bytes` unchanged while it is used.
 */
export function parseModel(bytes: Uint8Array): onnx.ModelProto {
  if (!(bytes instanceof Uint8Array)) throw new ModelError('not an ONNX model: expected bytes');
  if (bytes.byteLength === 0) throw new ModelError('not an ONNX model: the file is empty');
  // a plain view keeps Node Buffers (and their Buffer-typed slices) out of the decoded message
  const plain = new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let m: onnx.ModelProto;
  try {
    m = proto.ModelProto.decode(plain);
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    // protobufjs reports reads past the end as "index out of range: a + b > len"
    if (/index out of range/.test(msg)) throw new ModelError(`truncated or not an ONNX model: ${msg}`);
    throw new ModelError(`not an ONNX model: ${msg}`);
  }
  if (!has(m, 'irVersion') || int64ToBigInt(m.irVersion) <= 0n) {
    throw new ModelError('not an ONNX model: no ir_version');
  }
  if (!has(m, 'graph')) throw new ModelError('not an ONNX model (or a truncated one): it has no graph');
  // serializers write opset_import after the graph, so a file cut between the two loses it
  if (m.opsetImport.length === 0) throw new ModelError('truncated or invalid ONNX model: no opset_import');
  const g = m.graph!;
  if (!g.output || g.output.length === 0) throw new ModelError('the model graph has no outputs');
  return m;
}

export function serializeModel(m: onnx.IModelProto): Uint8Array {
  const out = proto.ModelProto.encode(m).finish();
  return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
}

function valueInfo(v: onnx.IValueInfoProto): ValueInfo {
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

function collectOps(g: onnx.IGraphProto, into: Set<string>): void {
  for (const n of g.node ?? []) {
    const domain = n.domain ?? '';
    into.add(domain === '' || domain === 'ai.onnx' ? n.opType ?? '' : `${domain}::${n.opType}`);
    for (const a of n.attribute ?? []) {
      if (a.g) collectOps(a.g, into);
      for (const sub of a.graphs ?? []) collectOps(sub, into);
    }
  }
}

export function modelSignature(m: onnx.IModelProto): ModelSignature {
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

/** Reads a protobufjs TensorProto (an initializer, a Constant's value) with the same rules as decodeTensorProto. */
export function initializerTensor(t: onnx.ITensorProto): NamedTensor {
  const signed = (v: unknown): bigint => BigInt.asIntN(64, int64ToBigInt(v));
  const unsigned = (v: unknown): bigint => BigInt.asUintN(64, int64ToBigInt(v));
  return tensorFromProtoFields({
    name: t.name ?? '',
    dataType: t.dataType ?? 0,
    dims: (t.dims ?? []).map(signed),
    rawData: t.rawData ?? null,
    floatData: t.floatData ?? [],
    int32Data: t.int32Data ?? [],
    int64Data: (t.int64Data ?? []).map(signed),
    doubleData: t.doubleData ?? [],
    uint64Data: (t.uint64Data ?? []).map(unsigned),
    stringDataCount: t.stringData?.length ?? 0,
    hasSegment: !!t.segment,
    externalDataCount: t.externalData?.length ?? 0,
    dataLocation: t.dataLocation ?? 0,
  });
}
