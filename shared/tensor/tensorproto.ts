import { DTYPE_INFO, DTYPES, dtypeFromOnnx, type DType } from './dtypes.ts';
import { MAX_ELEMENTS, type NamedTensor, tensorProblem } from './tensor.ts';
import {
  decodeTensorProtoMessage, encodeTensorProtoMessage, type Int64, int64Bits, type TensorProto, WireError,
} from '../onnx/proto.ts';

/**
 * ONNX TensorProto <-> NamedTensor, as in the ONNX backend test data
 * (`test_data_set_0/input_0.pb`) and in models' initializers. The bytes are
 * decoded and encoded by shared/onnx/proto.ts (the one ONNX codec); the rules
 * for turning the fields into a tensor, and every refusal, live here.
 */

export class TensorProtoError extends Error {
  override name = 'TensorProtoError';
}

/** onnx.TensorProto.DataType names, up to IR version 11. */
const ONNX_TYPE_NAMES: readonly string[] = [
  'UNDEFINED', 'FLOAT', 'UINT8', 'INT8', 'UINT16', 'INT16', 'INT32', 'INT64', 'STRING', 'BOOL',
  'FLOAT16', 'DOUBLE', 'UINT32', 'UINT64', 'COMPLEX64', 'COMPLEX128', 'BFLOAT16',
  'FLOAT8E4M3FN', 'FLOAT8E4M3FNUZ', 'FLOAT8E5M2', 'FLOAT8E5M2FNUZ', 'UINT4', 'INT4', 'FLOAT4E2M1', 'FLOAT8E8M0',
];

/** A readable name for an onnx.TensorProto.DataType code, e.g. `STRING (8)`. */
export function onnxTypeName(elemType: number): string {
  const name = ONNX_TYPE_NAMES[elemType];
  return name === undefined ? `unknown type ${elemType}` : `${name} (${elemType})`;
}

/**
 * The TensorProto fields that carry a tensor, normalised (int64 as bigint,
 * absent lists empty): what tensorFromProto checks and converts.
 */
export interface TensorProtoFields {
  name: string;
  dataType: number;
  dims: readonly bigint[];
  rawData: Uint8Array | null;
  floatData: ArrayLike<number>;
  /** Raw 32-bit values as the wire carries them (sign-extended int32). */
  int32Data: ArrayLike<number>;
  int64Data: ArrayLike<bigint>;
  doubleData: ArrayLike<number>;
  /** Unsigned 64-bit values. */
  uint64Data: ArrayLike<bigint>;
  stringDataCount: number;
  hasSegment: boolean;
  externalDataCount: number;
  dataLocation: number;
}

const DATA_LOCATION_EXTERNAL = 1;

type TypedField = 'floatData' | 'int32Data' | 'int64Data' | 'doubleData' | 'uint64Data';

const FIELD_NAMES: Record<TypedField, string> = {
  floatData: 'float_data', int32Data: 'int32_data', int64Data: 'int64_data',
  doubleData: 'double_data', uint64Data: 'uint64_data',
};

/** Which repeated field the ONNX spec puts each dtype's values in when raw_data is not used. */
const TYPED_FIELD: Record<DType, TypedField> = {
  float32: 'floatData', float64: 'doubleData', float16: 'int32Data',
  int8: 'int32Data', int16: 'int32Data', int32: 'int32Data', int64: 'int64Data',
  uint8: 'int32Data', uint16: 'int32Data', uint32: 'uint64Data', uint64: 'uint64Data', bool: 'int32Data',
};

/** Turns TensorProto fields into a tensor with its own, aligned copy of the bytes. */
export function tensorFromProtoFields(f: TensorProtoFields): NamedTensor {
  const label = f.name ? `tensor ${JSON.stringify(f.name)}` : 'tensor';
  const fail = (why: string): never => { throw new TensorProtoError(`${label}: ${why}`); };

  if (f.hasSegment) fail('segmented tensors (TensorProto.segment) are not supported');
  if (f.dataLocation === DATA_LOCATION_EXTERNAL || f.externalDataCount > 0) {
    fail('its data is stored in an external file (data_location EXTERNAL); load the model with its data embedded');
  }
  const dtype = dtypeFromOnnx(f.dataType);
  if (dtype === null) {
    fail(`unsupported data type ${onnxTypeName(f.dataType)}; tabgrid carries ${DTYPES.join(', ')}`);
  }
  const dt = dtype as DType;

  const dims: number[] = [];
  let count = 1;
  for (const d of f.dims) {
    if (d < 0n || d > BigInt(Number.MAX_SAFE_INTEGER)) fail(`invalid dimension ${d} in dims [${f.dims.join(',')}]`);
    dims.push(Number(d));
    count *= Number(d);
  }
  if (count > MAX_ELEMENTS) fail(`${count} elements is more than the ${MAX_ELEMENTS} allowed`);
  const size = DTYPE_INFO[dt].bytes;
  const want = count * size;
  const shape = `${dt}[${dims.join(',')}]`;

  const present = (Object.keys(FIELD_NAMES) as TypedField[]).filter((k) => f[k].length > 0);
  const presentNames = present.map((k) => FIELD_NAMES[k]);
  if (f.stringDataCount > 0) presentNames.push('string_data');
  const hasRaw = f.rawData !== null && f.rawData.byteLength > 0;

  if (hasRaw) {
    if (presentNames.length > 0) fail(`carries both raw_data and ${presentNames.join(', ')}`);
    const raw = f.rawData!;
    if (raw.byteLength !== want) fail(`raw_data holds ${raw.byteLength} bytes but ${shape} needs ${want}`);
    return { name: f.name, dtype: dt, dims, data: raw.slice() };
  }

  const field = TYPED_FIELD[dt];
  const wrong = presentNames.filter((k) => k !== FIELD_NAMES[field]);
  if (wrong.length > 0) {
    fail(`a ${dt} tensor keeps its values in ${FIELD_NAMES[field]}, but this one has ${wrong.join(', ')}`);
  }
  const values = f[field];
  if (values.length !== count) {
    if (values.length === 0) fail(`holds no data but ${shape} has ${count} elements`);
    fail(`${FIELD_NAMES[field]} holds ${values.length} values but ${shape} has ${count} elements`);
  }

  const data = new Uint8Array(want);
  const view = new DataView(data.buffer);
  const intRange = (v: number, lo: number, hi: number, i: number): number => {
    if (v < lo || v > hi) fail(`int32_data[${i}] = ${v} does not fit ${dt}`);
    return v;
  };
  for (let i = 0; i < count; i++) {
    switch (dt) {
      case 'float32': view.setFloat32(i * 4, (values as ArrayLike<number>)[i]!, true); break;
      case 'float64': view.setFloat64(i * 8, (values as ArrayLike<number>)[i]!, true); break;
      case 'int32': view.setInt32(i * 4, (values as ArrayLike<number>)[i]!, true); break;
      // float16 travels as its 16 bits in the low half of an int32
      case 'float16': view.setUint16(i * 2, intRange((values as ArrayLike<number>)[i]!, 0, 0xffff, i), true); break;
      case 'int16': view.setInt16(i * 2, intRange((values as ArrayLike<number>)[i]!, -0x8000, 0x7fff, i), true); break;
      case 'uint16': view.setUint16(i * 2, intRange((values as ArrayLike<number>)[i]!, 0, 0xffff, i), true); break;
      case 'int8': view.setInt8(i, intRange((values as ArrayLike<number>)[i]!, -0x80, 0x7f, i)); break;
      case 'uint8': view.setUint8(i, intRange((values as ArrayLike<number>)[i]!, 0, 0xff, i)); break;
      case 'bool': view.setUint8(i, intRange((values as ArrayLike<number>)[i]!, 0, 1, i)); break;
      case 'int64': view.setBigInt64(i * 8, (values as ArrayLike<bigint>)[i]!, true); break;
      case 'uint64': view.setBigUint64(i * 8, (values as ArrayLike<bigint>)[i]!, true); break;
      case 'uint32': {
        const v = (values as ArrayLike<bigint>)[i]!;
        if (v > 0xffffffffn) fail(`uint64_data[${i}] = ${v} does not fit uint32`);
        view.setUint32(i * 4, Number(v), true);
        break;
      }
    }
  }
  return { name: f.name, dtype: dt, dims, data };
}

// ---------------------------------------------------------------------------
// TensorProto messages (decoded by shared/onnx/proto.ts)

/**
 * A decoded onnx.TensorProto (an initializer, a Constant's value, a test-data
 * file) as a tensor with its own, aligned copy of the bytes. int64 fields may
 * be bigints, numbers or protobufjs Longs.
 */
export function tensorFromProto(t: TensorProto): NamedTensor {
  const signed = (v: Int64): bigint => BigInt.asIntN(64, int64Bits(v));
  const unsigned = (v: Int64): bigint => BigInt.asUintN(64, int64Bits(v));
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

/** Decodes a serialized onnx.TensorProto. Throws TensorProtoError saying what is wrong. */
export function decodeTensorProto(bytes: Uint8Array): NamedTensor {
  if (!(bytes instanceof Uint8Array)) throw new TensorProtoError('not a TensorProto: expected bytes');
  if (bytes.byteLength === 0) throw new TensorProtoError('not a TensorProto: no bytes');
  let t: TensorProto;
  try {
    t = decodeTensorProtoMessage(bytes);
  } catch (e) {
    if (e instanceof WireError) throw new TensorProtoError(`not a TensorProto: ${e.message}`);
    throw e;
  }
  // data_type is required in practice; its absence is the surest sign these bytes are something else
  if ((t.dataType ?? 0) === 0) throw new TensorProtoError(`not a TensorProto: no data_type field (at byte 0 of ${bytes.byteLength})`);
  return tensorFromProto(t);
}

// ---------------------------------------------------------------------------
// Encoding

/**
 * Serializes a tensor as an onnx.TensorProto with raw_data, field by field in
 * the order ONNX's own serializer writes them (dims unpacked, as proto2 does),
 * so re-encoding an ONNX test file gives back the same bytes.
 */
export function encodeTensorProto(t: NamedTensor): Uint8Array {
  const problem = tensorProblem(t);
  if (problem) throw new TensorProtoError(`cannot encode ${t.name ? JSON.stringify(t.name) : 'tensor'}: ${problem}`);
  // written even when empty, as onnx.numpy_helper does: an absent raw_data would read as "no data"
  return encodeTensorProtoMessage({
    dims: [...t.dims], dataType: DTYPE_INFO[t.dtype].onnx, ...(t.name ? { name: t.name } : {}), rawData: t.data,
  });
}
