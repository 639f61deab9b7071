import { DTYPE_INFO, DTYPES, dtypeFromOnnx, type DType } from './dtypes.ts';
import { MAX_ELEMENTS, type NamedTensor, tensorProblem } from './tensor.ts';

/**
 * ONNX TensorProto <-> NamedTensor, as in the ONNX backend test data
 * (`test_data_set_0/input_0.pb`).
 *
 * The wire format is read by hand rather than through protobufjs: protobufjs
 * turns int64 fields into `Long` objects in Node but into lossy doubles in a
 * browser bundle (it cannot `require('long')` there), and it reports truncation
 * as a bare RangeError. Reading the dozen TensorProto fields ourselves gives
 * exact int64 values everywhere and errors that say what is wrong.
 */

export class TensorProtoError extends Error {
  override name = 'TensorProtoError';
}

/** onnx.TensorProto.DataType names, including the ones added after onnx-proto's v1.10 schema. */
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
 * The TensorProto fields that carry a tensor. Both the byte decoder here and
 * the protobufjs adapter in shared/onnx/model.ts reduce to this, so the rules
 * for turning a TensorProto into a tensor live in one place.
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
// Protobuf wire reading

const WIRE_VARINT = 0;
const WIRE_I64 = 1;
const WIRE_LEN = 2;
const WIRE_I32 = 5;

/** A cursor over protobuf bytes whose every read is bounds-checked. */
class WireReader {
  pos = 0;
  private readonly view: DataView;

  constructor(private readonly buf: Uint8Array, private readonly what: string) {
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  }

  get done(): boolean { return this.pos >= this.buf.byteLength; }

  fail(why: string, at = this.pos): never {
    throw new TensorProtoError(`not a ${this.what}: ${why} (at byte ${at} of ${this.buf.byteLength})`);
  }

  /** Reads a varint as unsigned 64-bit halves; protobuf varints are at most 10 bytes. */
  private varintParts(): [lo: number, hi: number] {
    const start = this.pos;
    let lo = 0;
    let hi = 0;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.buf.byteLength) this.fail('truncated varint', start);
      const b = this.buf[this.pos++]!;
      if (i < 4) lo |= (b & 0x7f) << (7 * i);
      else if (i === 4) { lo |= (b & 0x0f) << 28; hi |= (b & 0x7f) >>> 4; }
      else hi |= (b & 0x7f) << (7 * i - 32);
      if ((b & 0x80) === 0) return [lo >>> 0, hi >>> 0];
    }
    return this.fail('varint longer than 10 bytes', start);
  }

  varint64(): bigint {
    const [lo, hi] = this.varintParts();
    return (BigInt(hi) << 32n) | BigInt(lo);
  }

  /** int32/enum fields: negative values arrive sign-extended to 64 bits; the low 32 bits are the value. */
  varint32(): number {
    return this.varintParts()[0] | 0;
  }

  /** A length or field tag: must fit a JS number and, for lengths, the remaining bytes. */
  varintSize(): number {
    const [lo, hi] = this.varintParts();
    if (hi > 0x1fffff) this.fail('varint too large');
    return hi * 2 ** 32 + lo;
  }

  bytes(n: number, field: string): Uint8Array {
    const left = this.buf.byteLength - this.pos;
    if (n > left) this.fail(`truncated: ${field} declares ${n} bytes but only ${left} remain`);
    const out = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }

  lengthDelimited(field: string): Uint8Array {
    return this.bytes(this.varintSize(), field);
  }

  float32(field: string): number {
    const b = this.bytes(4, field);
    return this.view.getFloat32(b.byteOffset - this.buf.byteOffset, true);
  }

  float64(field: string): number {
    const b = this.bytes(8, field);
    return this.view.getFloat64(b.byteOffset - this.buf.byteOffset, true);
  }

  skip(wireType: number, field: number): void {
    switch (wireType) {
      case WIRE_VARINT: this.varintParts(); break;
      case WIRE_I64: this.bytes(8, `field ${field}`); break;
      case WIRE_LEN: this.lengthDelimited(`field ${field}`); break;
      case WIRE_I32: this.bytes(4, `field ${field}`); break;
      default: this.fail(`invalid wire type ${wireType} for field ${field}`);
    }
  }
}

/** Reads a repeated scalar field in either packed (length-delimited) or unpacked form. */
function readRepeated<T>(
  r: WireReader, wireType: number, scalarWire: number, fieldName: string,
  readOne: (sub: WireReader) => T, out: T[],
): void {
  if (wireType === WIRE_LEN) {
    const body = r.lengthDelimited(fieldName);
    const sub = new WireReader(body, 'TensorProto');
    while (!sub.done) {
      try {
        out.push(readOne(sub));
      } catch (e) {
        if (e instanceof TensorProtoError) r.fail(`packed ${fieldName} is malformed`);
        throw e;
      }
    }
  } else if (wireType === scalarWire) {
    out.push(readOne(r));
  } else {
    r.fail(`${fieldName} has wire type ${wireType}`);
  }
}

function decodeFields(bytes: Uint8Array): TensorProtoFields {
  const r = new WireReader(bytes, 'TensorProto');
  const f: TensorProtoFields & {
    dims: bigint[]; floatData: number[]; int32Data: number[]; int64Data: bigint[]; doubleData: number[]; uint64Data: bigint[];
  } = {
    name: '', dataType: 0, dims: [], rawData: null, floatData: [], int32Data: [], int64Data: [],
    doubleData: [], uint64Data: [], stringDataCount: 0, hasSegment: false, externalDataCount: 0, dataLocation: 0,
  };
  const expect = (wireType: number, want: number, field: string): void => {
    if (wireType !== want) r.fail(`${field} has wire type ${wireType}, expected ${want}`);
  };
  const utf8 = new TextDecoder('utf-8', { fatal: true });

  while (!r.done) {
    const tagAt = r.pos;
    const tag = r.varintSize();
    const field = Math.floor(tag / 8);
    const wireType = tag % 8;
    if (field === 0) r.fail('field number 0', tagAt);
    switch (field) {
      case 1: readRepeated(r, wireType, WIRE_VARINT, 'dims', (s) => BigInt.asIntN(64, s.varint64()), f.dims); break;
      case 2: expect(wireType, WIRE_VARINT, 'data_type'); f.dataType = r.varint32(); break;
      case 3: expect(wireType, WIRE_LEN, 'segment'); r.lengthDelimited('segment'); f.hasSegment = true; break;
      case 4: readRepeated(r, wireType, WIRE_I32, 'float_data', (s) => s.float32('float_data'), f.floatData); break;
      case 5: readRepeated(r, wireType, WIRE_VARINT, 'int32_data', (s) => s.varint32(), f.int32Data); break;
      case 6: expect(wireType, WIRE_LEN, 'string_data'); r.lengthDelimited('string_data'); f.stringDataCount++; break;
      case 7: readRepeated(r, wireType, WIRE_VARINT, 'int64_data', (s) => BigInt.asIntN(64, s.varint64()), f.int64Data); break;
      case 8: {
        expect(wireType, WIRE_LEN, 'name');
        const b = r.lengthDelimited('name');
        try { f.name = utf8.decode(b); } catch { r.fail('name is not valid UTF-8'); }
        break;
      }
      case 9: expect(wireType, WIRE_LEN, 'raw_data'); f.rawData = r.lengthDelimited('raw_data'); break;
      case 10: readRepeated(r, wireType, WIRE_I64, 'double_data', (s) => s.float64('double_data'), f.doubleData); break;
      case 11: readRepeated(r, wireType, WIRE_VARINT, 'uint64_data', (s) => s.varint64(), f.uint64Data); break;
      case 12: expect(wireType, WIRE_LEN, 'doc_string'); r.lengthDelimited('doc_string'); break;
      case 13: expect(wireType, WIRE_LEN, 'external_data'); r.lengthDelimited('external_data'); f.externalDataCount++; break;
      case 14: expect(wireType, WIRE_VARINT, 'data_location'); f.dataLocation = r.varint32(); break;
      default: r.skip(wireType, field); // later schema versions add fields (e.g. metadata_props)
    }
  }
  // data_type is required in practice; its absence is the surest sign these bytes are something else
  if (f.dataType === 0) r.fail('no data_type field', 0);
  return f;
}

/** Decodes a serialized onnx.TensorProto. Throws TensorProtoError saying what is wrong. */
export function decodeTensorProto(bytes: Uint8Array): NamedTensor {
  if (!(bytes instanceof Uint8Array)) throw new TensorProtoError('not a TensorProto: expected bytes');
  if (bytes.byteLength === 0) throw new TensorProtoError('not a TensorProto: no bytes');
  return tensorFromProtoFields(decodeFields(bytes));
}

// ---------------------------------------------------------------------------
// Encoding

function pushVarint(out: number[], v: bigint): void {
  let x = BigInt.asUintN(64, v);
  while (x >= 0x80n) {
    out.push(Number(x & 0x7fn) | 0x80);
    x >>= 7n;
  }
  out.push(Number(x));
}

/**
 * Serializes a tensor as an onnx.TensorProto with raw_data, field by field in
 * the order ONNX's own serializer writes them (dims unpacked, as proto2 does),
 * so re-encoding an ONNX test file gives back the same bytes.
 */
export function encodeTensorProto(t: NamedTensor): Uint8Array {
  const problem = tensorProblem(t);
  if (problem) throw new TensorProtoError(`cannot encode ${t.name ? JSON.stringify(t.name) : 'tensor'}: ${problem}`);
  const head: number[] = [];
  for (const d of t.dims) { head.push(0x08); pushVarint(head, BigInt(d)); }
  head.push(0x10); pushVarint(head, BigInt(DTYPE_INFO[t.dtype].onnx));
  if (t.name) {
    const name = new TextEncoder().encode(t.name);
    head.push(0x42); pushVarint(head, BigInt(name.byteLength));
    for (const b of name) head.push(b);
  }
  // written even when empty, as onnx.numpy_helper does: an absent raw_data would read as "no data"
  head.push(0x4a); pushVarint(head, BigInt(t.data.byteLength));
  const out = new Uint8Array(head.length + t.data.byteLength);
  out.set(head, 0);
  out.set(t.data, head.length);
  return out;
}
