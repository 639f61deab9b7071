/**
 * The ONNX protobuf messages (onnx.proto, IR version 10), decoded into and
 * encoded from plain objects over the hand-written wire codec in wire.ts.
 * This is the only ONNX decoder and encoder in tabgrid: models, initializers,
 * test-data TensorProtos, generated train-step graphs and the self-test model
 * all go through it.
 *
 * Field names are the camelCase of onnx.proto's (as protobufjs and
 * @bufbuild/protobuf name them), so objects built for either encode here too.
 * int64 fields decode as bigint (uint64 unsigned, the others signed) and
 * encode from a number, a bigint or a `{low, high}` Long. Fields the tables
 * below leave out (training_info, functions, sparse initializers, metadata,
 * ...) are not dropped: their bytes are kept in `unknownFields` and written
 * back unchanged, so decoding and re-encoding a model loses nothing.
 *
 * To read a new field, add one line to its message's table (and its type).
 */
import { WIRE_I32, WIRE_I64, WIRE_LEN, WIRE_VARINT, WireError, WireReader, WireWriter } from './wire.ts';

export { WireError };

/** An int64 as callers may give it; decoded ones are always bigint. */
export type Int64 = number | bigint | { low: number; high: number; unsigned?: boolean };
type Opt<T> = T | null | undefined;

interface Message {
  /** Fields outside the tables below, kept as their raw tag + value bytes. */
  unknownFields?: Opt<Uint8Array[]>;
}

export interface StringStringEntryProto extends Message { key?: Opt<string>; value?: Opt<string> }
export interface OperatorSetIdProto extends Message { domain?: Opt<string>; version?: Opt<Int64> }

export interface TensorProto extends Message {
  dims?: Opt<Int64[]>;
  dataType?: Opt<number>;
  segment?: Opt<{ begin?: Opt<Int64>; end?: Opt<Int64> } & Message>;
  floatData?: Opt<number[]>;
  int32Data?: Opt<number[]>;
  stringData?: Opt<Uint8Array[]>;
  int64Data?: Opt<Int64[]>;
  name?: Opt<string>;
  docString?: Opt<string>;
  rawData?: Opt<Uint8Array>;
  externalData?: Opt<StringStringEntryProto[]>;
  dataLocation?: Opt<number>;
  doubleData?: Opt<number[]>;
  uint64Data?: Opt<Int64[]>;
}

export interface DimensionProto extends Message { dimValue?: Opt<Int64>; dimParam?: Opt<string>; denotation?: Opt<string> }
export interface TensorShapeProto extends Message { dim?: Opt<DimensionProto[]> }
export interface TypeProto extends Message {
  tensorType?: Opt<{ elemType?: Opt<number>; shape?: Opt<TensorShapeProto> } & Message>;
  sequenceType?: Opt<{ elemType?: Opt<TypeProto> } & Message>;
  mapType?: Opt<{ keyType?: Opt<number>; valueType?: Opt<TypeProto> } & Message>;
  optionalType?: Opt<{ elemType?: Opt<TypeProto> } & Message>;
  sparseTensorType?: Opt<{ elemType?: Opt<number>; shape?: Opt<TensorShapeProto> } & Message>;
  denotation?: Opt<string>;
}
export interface ValueInfoProto extends Message { name?: Opt<string>; type?: Opt<TypeProto>; docString?: Opt<string> }

/** onnx.AttributeProto.AttributeType */
export const AttributeType = {
  UNDEFINED: 0, FLOAT: 1, INT: 2, STRING: 3, TENSOR: 4, GRAPH: 5, FLOATS: 6, INTS: 7, STRINGS: 8, TENSORS: 9,
  GRAPHS: 10, SPARSE_TENSOR: 11, SPARSE_TENSORS: 12, TYPE_PROTO: 13, TYPE_PROTOS: 14,
} as const;

/** onnx.TensorProto.DataLocation */
export const DataLocation = { DEFAULT: 0, EXTERNAL: 1 } as const;

export interface AttributeProto extends Message {
  name?: Opt<string>;
  refAttrName?: Opt<string>;
  docString?: Opt<string>;
  type?: Opt<number>;
  f?: Opt<number>;
  i?: Opt<Int64>;
  s?: Opt<Uint8Array>;
  t?: Opt<TensorProto>;
  g?: Opt<GraphProto>;
  floats?: Opt<number[]>;
  ints?: Opt<Int64[]>;
  strings?: Opt<Uint8Array[]>;
  tensors?: Opt<TensorProto[]>;
  graphs?: Opt<GraphProto[]>;
}

export interface NodeProto extends Message {
  input?: Opt<string[]>;
  output?: Opt<string[]>;
  name?: Opt<string>;
  opType?: Opt<string>;
  domain?: Opt<string>;
  overload?: Opt<string>;
  attribute?: Opt<AttributeProto[]>;
  docString?: Opt<string>;
}

export interface GraphProto extends Message {
  node?: Opt<NodeProto[]>;
  name?: Opt<string>;
  initializer?: Opt<TensorProto[]>;
  docString?: Opt<string>;
  input?: Opt<ValueInfoProto[]>;
  output?: Opt<ValueInfoProto[]>;
  valueInfo?: Opt<ValueInfoProto[]>;
}

export interface ModelProto extends Message {
  irVersion?: Opt<Int64>;
  opsetImport?: Opt<OperatorSetIdProto[]>;
  producerName?: Opt<string>;
  producerVersion?: Opt<string>;
  domain?: Opt<string>;
  modelVersion?: Opt<Int64>;
  docString?: Opt<string>;
  graph?: Opt<GraphProto>;
  metadataProps?: Opt<StringStringEntryProto[]>;
}

// ---------------------------------------------------------------------------
// The tables: field number, camelCase name, kind, repeated

type Kind = 'string' | 'bytes' | 'int32' | 'int64' | 'uint64' | 'float' | 'double' | Schema;
/** `kind` is a message's table thunk until first use, so tables may refer to each other (GraphProto <-> AttributeProto). */
interface Field { no: number; name: string; wireName: string; kind: Kind | (() => Schema); repeated: boolean }
interface Schema { message: string; fields: Field[]; byNo: Map<number, Field> }

function schema(message: string, spec: Array<[no: number, name: string, kind: Kind | (() => Schema), repeated?: 'repeated']>): () => Schema {
  let built: Schema | null = null;
  return () => {
    if (built) return built;
    const fields: Field[] = spec.map(([no, name, kind, rep]) => ({
      no, name, wireName: name.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`), kind, repeated: rep === 'repeated',
    }));
    built = { message, fields: [...fields].sort((a, b) => a.no - b.no), byNo: new Map(fields.map((f) => [f.no, f])) };
    return built;
  };
}

const STRING_ENTRY = schema('StringStringEntryProto', [[1, 'key', 'string'], [2, 'value', 'string']]);
const OPSET = schema('OperatorSetIdProto', [[1, 'domain', 'string'], [2, 'version', 'int64']]);
const SEGMENT = schema('TensorProto.Segment', [[1, 'begin', 'int64'], [2, 'end', 'int64']]);
const TENSOR = schema('TensorProto', [
  [1, 'dims', 'int64', 'repeated'], [2, 'dataType', 'int32'], [3, 'segment', SEGMENT],
  [4, 'floatData', 'float', 'repeated'], [5, 'int32Data', 'int32', 'repeated'], [6, 'stringData', 'bytes', 'repeated'],
  [7, 'int64Data', 'int64', 'repeated'], [8, 'name', 'string'], [12, 'docString', 'string'], [9, 'rawData', 'bytes'],
  [13, 'externalData', STRING_ENTRY, 'repeated'], [14, 'dataLocation', 'int32'],
  [10, 'doubleData', 'double', 'repeated'], [11, 'uint64Data', 'uint64', 'repeated'],
]);
const DIMENSION = schema('TensorShapeProto.Dimension', [[1, 'dimValue', 'int64'], [2, 'dimParam', 'string'], [3, 'denotation', 'string']]);
const SHAPE = schema('TensorShapeProto', [[1, 'dim', DIMENSION, 'repeated']]);
const TYPE: () => Schema = schema('TypeProto', [
  [1, 'tensorType', () => TENSOR_TYPE()], [4, 'sequenceType', () => SEQUENCE_TYPE()], [5, 'mapType', () => MAP_TYPE()],
  [9, 'optionalType', () => OPTIONAL_TYPE()], [8, 'sparseTensorType', () => SPARSE_TENSOR_TYPE()], [6, 'denotation', 'string'],
]);
const TENSOR_TYPE = schema('TypeProto.Tensor', [[1, 'elemType', 'int32'], [2, 'shape', SHAPE]]);
const SPARSE_TENSOR_TYPE = schema('TypeProto.SparseTensor', [[1, 'elemType', 'int32'], [2, 'shape', SHAPE]]);
const SEQUENCE_TYPE = schema('TypeProto.Sequence', [[1, 'elemType', TYPE]]);
const OPTIONAL_TYPE = schema('TypeProto.Optional', [[1, 'elemType', TYPE]]);
const MAP_TYPE = schema('TypeProto.Map', [[1, 'keyType', 'int32'], [2, 'valueType', TYPE]]);
const VALUE_INFO = schema('ValueInfoProto', [[1, 'name', 'string'], [2, 'type', TYPE], [3, 'docString', 'string']]);
const ATTRIBUTE: () => Schema = schema('AttributeProto', [
  [1, 'name', 'string'], [21, 'refAttrName', 'string'], [13, 'docString', 'string'], [20, 'type', 'int32'],
  [2, 'f', 'float'], [3, 'i', 'int64'], [4, 's', 'bytes'], [5, 't', TENSOR], [6, 'g', () => GRAPH()],
  [7, 'floats', 'float', 'repeated'], [8, 'ints', 'int64', 'repeated'], [9, 'strings', 'bytes', 'repeated'],
  [10, 'tensors', TENSOR, 'repeated'], [11, 'graphs', () => GRAPH(), 'repeated'],
]);
const NODE = schema('NodeProto', [
  [1, 'input', 'string', 'repeated'], [2, 'output', 'string', 'repeated'], [3, 'name', 'string'], [4, 'opType', 'string'],
  [7, 'domain', 'string'], [8, 'overload', 'string'], [5, 'attribute', ATTRIBUTE, 'repeated'], [6, 'docString', 'string'],
]);
const GRAPH: () => Schema = schema('GraphProto', [
  [1, 'node', NODE, 'repeated'], [2, 'name', 'string'], [5, 'initializer', TENSOR, 'repeated'], [10, 'docString', 'string'],
  [11, 'input', VALUE_INFO, 'repeated'], [12, 'output', VALUE_INFO, 'repeated'], [13, 'valueInfo', VALUE_INFO, 'repeated'],
]);
const MODEL = schema('ModelProto', [
  [1, 'irVersion', 'int64'], [8, 'opsetImport', OPSET, 'repeated'], [2, 'producerName', 'string'],
  [3, 'producerVersion', 'string'], [4, 'domain', 'string'], [5, 'modelVersion', 'int64'], [6, 'docString', 'string'],
  [7, 'graph', GRAPH], [14, 'metadataProps', STRING_ENTRY, 'repeated'],
]);

function kindOf(f: Field): Kind {
  if (typeof f.kind === 'function') f.kind = f.kind();
  return f.kind;
}

// ---------------------------------------------------------------------------
// int64

/** Any accepted int64 form as a bigint (64-bit two's complement, sign not applied). */
export function int64Bits(v: Int64): bigint {
  if (typeof v === 'bigint') return v;
  if (typeof v === 'number') {
    if (!Number.isSafeInteger(v)) throw new RangeError(`int64 value ${v} is not an exact integer`);
    return BigInt(v);
  }
  if (typeof v === 'object' && v !== null && 'low' in v && 'high' in v) {
    return (BigInt(v.high >>> 0) << 32n) | BigInt(v.low >>> 0);
  }
  throw new RangeError(`expected an int64, got ${typeof v}`);
}

/** A signed int64 field as a bigint; absent is 0. */
export function int64ToBigInt(v: Opt<Int64>): bigint {
  return v === null || v === undefined ? 0n : BigInt.asIntN(64, int64Bits(v));
}

/** A signed int64 field as a number, refusing values a number cannot hold exactly; absent is 0. */
export function int64ToNumber(v: Opt<Int64>): number {
  const b = int64ToBigInt(v);
  if (b > BigInt(Number.MAX_SAFE_INTEGER) || b < BigInt(Number.MIN_SAFE_INTEGER)) {
    throw new RangeError(`int64 value ${b} does not fit a JS number`);
  }
  return Number(b);
}

/**
 * A signed int64 field as the nearest double; absent is 0. For attributes
 * and dims read as plain numbers, where the int64 extremes ONNX uses as "to
 * the end" sentinels may round harmlessly.
 */
export function int64ToDouble(v: Opt<Int64>): number {
  return typeof v === 'number' ? v : Number(int64ToBigInt(v));
}

// ---------------------------------------------------------------------------
// decoding

const MAX_DEPTH = 64;

interface DecodeOptions { strictUtf8: boolean }

function readScalar(r: WireReader, kind: Exclude<Kind, Schema>, f: Field, utf8: TextDecoder): unknown {
  switch (kind) {
    case 'int32': return r.varint32();
    case 'int64': return BigInt.asIntN(64, r.varint64());
    case 'uint64': return r.varint64();
    case 'float': return r.float32(f.wireName);
    case 'double': return r.float64(f.wireName);
    case 'bytes': return r.lengthDelimited(f.wireName);
    case 'string': {
      const b = r.lengthDelimited(f.wireName);
      try { return utf8.decode(b); } catch { return r.fail(`${f.wireName} is not valid UTF-8`); }
    }
  }
}

const SCALAR_WIRE: Record<Exclude<Kind, Schema>, number> = {
  int32: WIRE_VARINT, int64: WIRE_VARINT, uint64: WIRE_VARINT, float: WIRE_I32, double: WIRE_I64, bytes: WIRE_LEN, string: WIRE_LEN,
};

function decodeInto(r: WireReader, s: Schema, depth: number, o: DecodeOptions, utf8: TextDecoder): Record<string, unknown> {
  if (depth > MAX_DEPTH) r.fail(`messages nested more than ${MAX_DEPTH} deep`);
  const out: Record<string, unknown> = {};
  for (const f of s.fields) if (f.repeated) out[f.name] = [];
  while (!r.done) {
    const tagAt = r.pos;
    const tag = r.varintSize();
    const no = Math.floor(tag / 8);
    const wireType = tag % 8;
    if (no === 0) r.fail('field number 0', tagAt);
    const f = s.byNo.get(no);
    if (!f) {
      r.skip(wireType, no); // fields a later schema adds, or that tabgrid does not read: kept verbatim
      ((out.unknownFields ??= []) as Uint8Array[]).push(r.buf.subarray(tagAt, r.pos));
      continue;
    }
    const kind = kindOf(f);
    if (typeof kind === 'object') {
      if (wireType !== WIRE_LEN) r.fail(`${f.wireName} has wire type ${wireType}, expected ${WIRE_LEN}`);
      const [start, end] = r.span(f.wireName);
      const sub = decodeInto(r.sub(start, end), kind, depth + 1, o, utf8);
      if (f.repeated) (out[f.name] as unknown[]).push(sub);
      else out[f.name] = sub;
      continue;
    }
    const want = SCALAR_WIRE[kind];
    if (f.repeated && wireType === WIRE_LEN && want !== WIRE_LEN) {
      // packed repeated scalars
      const [start, end] = r.span(f.wireName);
      const sub = r.sub(start, end);
      const list = out[f.name] as unknown[];
      try {
        while (!sub.done) list.push(readScalar(sub, kind, f, utf8));
      } catch (e) {
        if (e instanceof WireError) r.fail(`packed ${f.wireName} is malformed`, start);
        throw e;
      }
      continue;
    }
    if (wireType !== want) r.fail(f.repeated ? `${f.wireName} has wire type ${wireType}` : `${f.wireName} has wire type ${wireType}, expected ${want}`, tagAt);
    const v = readScalar(r, kind, f, utf8);
    if (f.repeated) (out[f.name] as unknown[]).push(v);
    else out[f.name] = v;
  }
  return out;
}

function decode<T>(s: () => Schema, bytes: Uint8Array, o: Partial<DecodeOptions>): T {
  const opts = { strictUtf8: o.strictUtf8 ?? false };
  const utf8 = new TextDecoder('utf-8', { fatal: opts.strictUtf8 });
  return decodeInto(new WireReader(bytes), s(), 0, opts, utf8) as T;
}

/**
 * Decodes an onnx.ModelProto. Throws WireError for malformed bytes; checks
 * nothing about what the fields mean (see parseModel in model.ts). The result
 * shares memory with `bytes` (raw_data and unknown fields are views).
 */
export function decodeModelProto(bytes: Uint8Array): ModelProto {
  return decode(MODEL, bytes, {});
}

/** Decodes an onnx.TensorProto; strings must be valid UTF-8. Throws WireError. */
export function decodeTensorProtoMessage(bytes: Uint8Array): TensorProto {
  return decode(TENSOR, bytes, { strictUtf8: true });
}

// ---------------------------------------------------------------------------
// encoding

const own = (o: object, k: string): unknown =>
  Object.prototype.hasOwnProperty.call(o, k) ? (o as Record<string, unknown>)[k] : undefined;

function writeScalar(w: WireWriter, kind: Exclude<Kind, Schema>, no: number, v: unknown, where: string): void {
  switch (kind) {
    case 'int32': w.tag(no, WIRE_VARINT).varint(Number(v) | 0); break;
    case 'int64': case 'uint64': w.tag(no, WIRE_VARINT).varint(int64Bits(v as Int64)); break;
    case 'float': w.float32(no, Number(v)); break;
    case 'double': w.float64(no, Number(v)); break;
    case 'string':
      if (typeof v !== 'string') throw new TypeError(`${where} must be a string`);
      w.string(no, v);
      break;
    case 'bytes':
      if (!(v instanceof Uint8Array)) throw new TypeError(`${where} must be a Uint8Array`);
      w.bytes(no, v);
      break;
  }
}

/**
 * Fields in field-number order, repeated numbers unpacked: the form ONNX's
 * own (proto2) serializer writes. Only own properties count, so protobufjs
 * objects, whose prototypes carry defaults, encode as what was set.
 */
function encodeInto(w: WireWriter, s: Schema, m: object): void {
  for (const f of s.fields) {
    const v = own(m, f.name);
    if (v === null || v === undefined) continue;
    const kind = kindOf(f);
    const where = `${s.message}.${f.wireName}`;
    const items = f.repeated ? (v as readonly unknown[]) : [v];
    if (f.repeated && !Array.isArray(v) && !ArrayBuffer.isView(v)) throw new TypeError(`${where} must be a list`);
    for (let i = 0; i < items.length; i++) {
      const item = items[i];
      if (typeof kind === 'object') {
        w.message(f.no, () => encodeInto(w, kind, item as object));
      } else {
        writeScalar(w, kind, f.no, item, where);
      }
    }
  }
  const unknown = own(m, 'unknownFields');
  if (Array.isArray(unknown)) for (const b of unknown) w.raw(b as Uint8Array);
}

function encode(s: () => Schema, m: object): Uint8Array {
  const w = new WireWriter();
  encodeInto(w, s(), m);
  return w.finish();
}

export function encodeModelProto(m: ModelProto): Uint8Array {
  return encode(MODEL, m);
}

export function encodeTensorProtoMessage(t: TensorProto): Uint8Array {
  return encode(TENSOR, t);
}
