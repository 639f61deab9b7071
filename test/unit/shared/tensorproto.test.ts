import path from 'node:path';
import fs from 'node:fs';
import onnxProto from 'onnx-proto';
import type { onnx } from 'onnx-proto';
import { describe, expect, it } from 'vitest';
import { DTYPE_INFO, DTYPES, type DType } from '../../../shared/tensor/dtypes.ts';
import { elementCount, type NamedTensor, typedView } from '../../../shared/tensor/tensor.ts';
import { decodeTensorProto, encodeTensorProto, onnxTypeName } from '../../../shared/tensor/tensorproto.ts';
import { byteDiff, sampleTensor } from './helpers.ts';
import { onnxTestsDir, protobufFiles } from './shared-data.ts';

const proto = onnxProto.onnx;

function readFile(p: string): Uint8Array {
  const b = fs.readFileSync(p);
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
}

/** Splits a bigint into the {low, high} form protobufjs writes as a 64-bit integer. */
const long = (v: bigint): { low: number; high: number; unsigned: boolean } => {
  const u = BigInt.asUintN(64, v);
  return { low: Number(u & 0xffffffffn) | 0, high: Number(u >> 32n) | 0, unsigned: false };
};

describe('decodeTensorProto on the ONNX conformance data', () => {
  const files = protobufFiles('pytorch-converted', 'simple');
  const rel = (p: string): string => path.relative(onnxTestsDir(), p);

  it('finds the test data', () => {
    expect(files.length).toBeGreaterThan(200);
  });

  it('decodes every numeric tensor with bytes matching its dims, as protobufjs reads it', () => {
    let decoded = 0;
    let strings = 0;
    for (const file of files) {
      const bytes = readFile(file);
      const ref = proto.TensorProto.decode(bytes);
      if (ref.dataType === proto.TensorProto.DataType.STRING) {
        expect(() => decodeTensorProto(bytes), rel(file)).toThrow(/unsupported data type STRING \(8\)/);
        strings++;
        continue;
      }
      const t = decodeTensorProto(bytes);
      expect(t.data.byteLength, rel(file)).toBe(elementCount(t.dims) * DTYPE_INFO[t.dtype].bytes);
      expect(t.dims, rel(file)).toEqual(ref.dims.map(Number));
      expect(DTYPE_INFO[t.dtype].onnx, rel(file)).toBe(ref.dataType);
      expect(t.name, rel(file)).toBe(ref.name);
      expect(byteDiff(t.data, ref.rawData), rel(file)).toBeNull();
      decoded++;
    }
    expect(strings).toBe(12);
    expect(decoded).toBe(files.length - strings);
  });

  it('re-encodes every decoded file to the identical bytes', () => {
    for (const file of files) {
      const bytes = readFile(file);
      if (proto.TensorProto.decode(bytes).dataType === 8) continue;
      expect(byteDiff(encodeTensorProto(decodeTensorProto(bytes)), bytes), rel(file)).toBeNull();
    }
  });

  it('reads known values: test_Conv2d input_0 is float32 [2,3,7,5]', () => {
    const t = decodeTensorProto(readFile(path.join(onnxTestsDir(), 'pytorch-converted/test_Conv2d/test_data_set_0/input_0.pb')));
    expect(t).toMatchObject({ name: '', dtype: 'float32', dims: [2, 3, 7, 5] });
    // first value, read from the file's bytes 0x1f6c7bbf at offset 13
    expect(typedView(t as NamedTensor & { dtype: 'float32' })[0]).toBeCloseTo(-0.98212, 4);
  });

  it('reads int64 tensors (test_Embedding indices) and 0-element tensors', () => {
    const idx = decodeTensorProto(readFile(path.join(onnxTestsDir(), 'pytorch-converted/test_Embedding/test_data_set_0/input_0.pb')));
    expect(idx.dtype).toBe('int64');
    const empty = decodeTensorProto(readFile(path.join(onnxTestsDir(), 'simple/test_sequence_model8/test_data_set_0/input_0.pb')));
    expect(empty).toMatchObject({ name: 'X', dtype: 'float32', dims: [0] });
    expect(empty.data.byteLength).toBe(0);
  });
});

describe('encodeTensorProto / decodeTensorProto round trip', () => {
  for (const dtype of DTYPES) {
    it(`is exact for ${dtype}, and protobufjs reads the encoding the same way`, () => {
      for (const dims of [[3, 5], [], [0], [2, 0, 4], [1, 1, 1, 7]]) {
        const t = sampleTensor(dtype, dims, dims.length ? `x.${dtype}` : '');
        const bytes = encodeTensorProto(t);
        const back = decodeTensorProto(bytes);
        expect(back).toEqual(t);
        const ref = proto.TensorProto.decode(bytes);
        expect(ref.dims.map(Number)).toEqual(dims);
        expect(ref.dataType).toBe(DTYPE_INFO[dtype].onnx);
        expect(ref.name).toBe(t.name);
        expect(new Uint8Array(ref.rawData)).toEqual(t.data);
      }
    });
  }

  it('gives the decoded tensor its own aligned copy of the bytes', () => {
    const t = sampleTensor('float64', [4]);
    const bytes = encodeTensorProto(t);
    const back = decodeTensorProto(bytes);
    expect(back.data.byteOffset % 8).toBe(0);
    bytes.fill(0);
    expect(back.data).toEqual(t.data);
  });

  it('keeps a UTF-8 name', () => {
    const t = { ...sampleTensor('int8', [2]), name: 'poids/échelle→ü' };
    expect(decodeTensorProto(encodeTensorProto(t)).name).toBe('poids/échelle→ü');
  });
});

describe('decodeTensorProto typed fields', () => {
  const encode = (p: Record<string, unknown>): Uint8Array => proto.TensorProto.encode(p as onnx.ITensorProto).finish();

  const cases: Array<{ dtype: DType; field: string; wire: unknown[]; want: ArrayLike<number | bigint> }> = [
    { dtype: 'float32', field: 'floatData', wire: [1.5, -0, 3.4028234663852886e38, 1e-45], want: new Float32Array([1.5, -0, 3.4028234663852886e38, 1e-45]) },
    { dtype: 'float64', field: 'doubleData', wire: [Math.PI, -1e300, 5e-324], want: new Float64Array([Math.PI, -1e300, 5e-324]) },
    { dtype: 'int32', field: 'int32Data', wire: [-2147483648, 0, 2147483647], want: new Int32Array([-2147483648, 0, 2147483647]) },
    { dtype: 'int16', field: 'int32Data', wire: [-32768, 5, 32767], want: new Int16Array([-32768, 5, 32767]) },
    { dtype: 'int8', field: 'int32Data', wire: [-128, 127], want: new Int8Array([-128, 127]) },
    { dtype: 'uint16', field: 'int32Data', wire: [0, 65535], want: new Uint16Array([0, 65535]) },
    { dtype: 'uint8', field: 'int32Data', wire: [0, 255, 7], want: new Uint8Array([0, 255, 7]) },
    { dtype: 'bool', field: 'int32Data', wire: [1, 0, 1], want: new Uint8Array([1, 0, 1]) },
    // float16 travels as bit patterns: 1.0 = 0x3c00, -2.0 = 0xc000, 65504 = 0x7bff
    { dtype: 'float16', field: 'int32Data', wire: [0x3c00, 0xc000, 0x7bff], want: new Uint16Array([0x3c00, 0xc000, 0x7bff]) },
    {
      dtype: 'int64', field: 'int64Data',
      wire: [long(-(2n ** 63n)), long(2n ** 53n + 1n), long(2n ** 63n - 1n)],
      want: new BigInt64Array([-(2n ** 63n), 2n ** 53n + 1n, 2n ** 63n - 1n]),
    },
    { dtype: 'uint64', field: 'uint64Data', wire: [long(0n), long(2n ** 64n - 1n)], want: new BigUint64Array([0n, 2n ** 64n - 1n]) },
    { dtype: 'uint32', field: 'uint64Data', wire: [long(0n), long(2n ** 32n - 1n)], want: new Uint32Array([0, 2 ** 32 - 1]) },
  ];

  for (const c of cases) {
    it(`reads ${c.dtype} from ${c.field}`, () => {
      const bytes = encode({ dims: [c.wire.length], dataType: DTYPE_INFO[c.dtype].onnx, name: 'v', [c.field]: c.wire });
      const t = decodeTensorProto(bytes);
      expect(t.dtype).toBe(c.dtype);
      expect(t.dims).toEqual([c.wire.length]);
      expect(Array.from(typedView(t) as ArrayLike<number | bigint>)).toEqual(Array.from(c.want));
    });
  }

  it('reads unpacked repeated values too (proto2 writers)', () => {
    // float_data (field 4) written as separate fixed32 entries rather than one packed run
    const bytes = new Uint8Array([0x08, 0x02, 0x10, 0x01, 0x25, 0x00, 0x00, 0xc0, 0x3f, 0x25, 0x00, 0x00, 0x20, 0xc0]);
    const t = decodeTensorProto(bytes);
    expect(Array.from(typedView(t as NamedTensor & { dtype: 'float32' }))).toEqual([1.5, -2.5]);
  });

  it('rejects a typed field that does not belong to the dtype', () => {
    const bytes = encode({ dims: [2], dataType: 1, int32Data: [1, 2] });
    expect(() => decodeTensorProto(bytes)).toThrow('a float32 tensor keeps its values in float_data, but this one has int32_data');
  });

  it('rejects values that do not fit the dtype', () => {
    expect(() => decodeTensorProto(encode({ dims: [1], dataType: 3, int32Data: [200] })))
      .toThrow('int32_data[0] = 200 does not fit int8');
    expect(() => decodeTensorProto(encode({ dims: [2], dataType: 9, int32Data: [1, 2] })))
      .toThrow('int32_data[1] = 2 does not fit bool');
    expect(() => decodeTensorProto(encode({ dims: [1], dataType: 12, uint64Data: [long(2n ** 32n)] })))
      .toThrow('uint64_data[0] = 4294967296 does not fit uint32');
  });

  it('rejects a value count that does not match dims', () => {
    expect(() => decodeTensorProto(encode({ dims: [2, 2], dataType: 1, floatData: [1, 2, 3] })))
      .toThrow('float_data holds 3 values but float32[2,2] has 4 elements');
    expect(() => decodeTensorProto(encode({ dims: [3], dataType: 6 })))
      .toThrow('holds no data but int32[3] has 3 elements');
  });

  it('rejects raw_data together with a typed field', () => {
    expect(() => decodeTensorProto(encode({ dims: [1], dataType: 1, rawData: new Uint8Array(4), floatData: [1] })))
      .toThrow('carries both raw_data and float_data');
  });
});

describe('decodeTensorProto errors', () => {
  const encode = (p: Record<string, unknown>): Uint8Array => proto.TensorProto.encode(p as onnx.ITensorProto).finish();
  const conv = (): Uint8Array => readFile(path.join(onnxTestsDir(), 'pytorch-converted/test_Conv2d/test_data_set_0/input_0.pb'));

  it('names unsupported data types', () => {
    for (const [code, name] of [[8, 'STRING'], [14, 'COMPLEX64'], [15, 'COMPLEX128'], [16, 'BFLOAT16'], [17, 'FLOAT8E4M3FN'], [22, 'INT4']] as const) {
      const bytes = encode({ dims: [1], dataType: code, rawData: new Uint8Array(8), name: 'w' });
      expect(() => decodeTensorProto(bytes)).toThrow(`tensor "w": unsupported data type ${name} (${code})`);
    }
    expect(() => decodeTensorProto(encode({ dims: [1], dataType: 99 }))).toThrow('unsupported data type unknown type 99');
    expect(onnxTypeName(1)).toBe('FLOAT (1)');
  });

  it('rejects segments and external data', () => {
    expect(() => decodeTensorProto(encode({ dims: [1], dataType: 1, segment: { begin: 0, end: 1 }, floatData: [1] })))
      .toThrow('segmented tensors (TensorProto.segment) are not supported');
    expect(() => decodeTensorProto(encode({ dims: [4], dataType: 1, dataLocation: 1, externalData: [{ key: 'location', value: 'w.bin' }] })))
      .toThrow(/stored in an external file/);
  });

  it('checks raw_data length against dims', () => {
    expect(() => decodeTensorProto(encode({ dims: [2, 3], dataType: 1, rawData: new Uint8Array(10) })))
      .toThrow('raw_data holds 10 bytes but float32[2,3] needs 24');
  });

  it('rejects negative dims', () => {
    expect(() => decodeTensorProto(encode({ dims: [long(-1n)], dataType: 1 }))).toThrow('invalid dimension -1');
  });

  it('rejects empty, truncated and garbage bytes with "not a TensorProto"', () => {
    expect(() => decodeTensorProto(new Uint8Array(0))).toThrow('not a TensorProto: no bytes');
    const bytes = conv();
    expect(() => decodeTensorProto(bytes.subarray(0, 100)))
      .toThrow('not a TensorProto: truncated: raw_data declares 840 bytes but only 87 remain (at byte 13 of 100)');
    expect(() => decodeTensorProto(bytes.subarray(0, 12))).toThrow('not a TensorProto: truncated varint');
    expect(() => decodeTensorProto(new TextEncoder().encode('hello, world'))).toThrow(/^not a TensorProto: /);
    expect(() => decodeTensorProto(new Uint8Array(12).fill(0xff))).toThrow('not a TensorProto: varint longer than 10 bytes');
    expect(() => decodeTensorProto(new Uint8Array([0xa7, 0x01]))).toThrow('not a TensorProto: invalid wire type 7 for field 20');
    expect(() => decodeTensorProto(new Uint8Array([0x0f, 0x01]))).toThrow('not a TensorProto: dims has wire type 7');
    expect(() => decodeTensorProto(new Uint8Array([0x00]))).toThrow('not a TensorProto: field number 0');
    expect(() => decodeTensorProto(new Uint8Array([0x08, 0x03]))).toThrow('not a TensorProto: no data_type field');
    expect(() => decodeTensorProto(new Uint8Array([0x15, 0x01, 0x00, 0x00, 0x00]))).toThrow('not a TensorProto: data_type has wire type 5, expected 0');
  });

  it('refuses to encode a malformed tensor', () => {
    expect(() => encodeTensorProto({ name: 'x', dtype: 'float32', dims: [3], data: new Uint8Array(8) }))
      .toThrow('cannot encode "x": data holds 8 bytes but float32[3] needs 12');
  });
});
