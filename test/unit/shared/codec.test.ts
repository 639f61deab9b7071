import { describe, expect, it } from 'vitest';
import { decodeTensors, encodeTensors, MAX_NAME_BYTES, MAX_RANK } from '../../../shared/tensor/codec.ts';
import { DTYPE_INFO, DTYPES } from '../../../shared/tensor/dtypes.ts';
import { type NamedTensor, typedView } from '../../../shared/tensor/tensor.ts';
import { byteDiff, sampleTensor } from './helpers.ts';

const SHAPES = [[3, 5], [], [0], [2, 0, 3], [1, 2, 3, 1, 2], [7]];

function expectSame(got: NamedTensor[], want: NamedTensor[]): void {
  expect(got.length).toBe(want.length);
  got.forEach((t, i) => {
    const w = want[i]!;
    expect({ name: t.name, dtype: t.dtype, dims: t.dims }).toEqual({ name: w.name, dtype: w.dtype, dims: w.dims });
    expect(byteDiff(t.data, w.data), `tensor ${i}`).toBeNull();
  });
}

describe('encodeTensors / decodeTensors', () => {
  it('round-trips every dtype, including 0-d and 0-element tensors, in one container', () => {
    const ts = DTYPES.flatMap((d, k) => SHAPES.map((dims, j) => sampleTensor(d, dims, `${d}/${j}`, k * 10 + j)));
    expectSame(decodeTensors(encodeTensors(ts)), ts);
  });

  it('round-trips an empty list and empty names', () => {
    expect(decodeTensors(encodeTensors([]))).toEqual([]);
    const t = sampleTensor('float32', [2], '');
    expectSame(decodeTensors(encodeTensors([t])), [t]);
  });

  it('lays the header out as documented', () => {
    const bytes = encodeTensors([{ name: 'ab', dtype: 'int16', dims: [3], data: new Uint8Array([1, 0, 2, 0, 3, 0]) }]);
    const view = new DataView(bytes.buffer);
    expect(new TextDecoder().decode(bytes.subarray(0, 4))).toBe('TGTS');
    expect(view.getUint32(4, true)).toBe(1);
    expect(view.getUint32(8, true)).toBe(1);
    // 16 header + 2 name length + 2 name + dtype + rank + 8 dim + 8 length = 38, padded to 40
    expect(view.getUint16(16, true)).toBe(2);
    expect(bytes[20]).toBe(DTYPE_INFO.int16.onnx);
    expect(bytes[21]).toBe(1);
    expect(view.getBigUint64(22, true)).toBe(3n);
    expect(view.getBigUint64(30, true)).toBe(6n);
    expect(Array.from(bytes.subarray(38, 40))).toEqual([0, 0]);
    expect(Array.from(bytes.subarray(40))).toEqual([1, 0, 2, 0, 3, 0]);
  });

  it('decodes data as aligned zero-copy views that typed arrays can read directly', () => {
    const ts = [sampleTensor('uint8', [3], 'a'), sampleTensor('float64', [5], 'odd-name'), sampleTensor('int64', [2, 2], 'c')];
    const bytes = encodeTensors(ts);
    const out = decodeTensors(bytes);
    for (const t of out) {
      expect(t.data.buffer).toBe(bytes.buffer);
      expect(t.data.byteOffset % 8).toBe(0);
    }
    const f64 = out[1]! as NamedTensor & { dtype: 'float64' };
    expect(typedView(f64).buffer).toBe(bytes.buffer);
  });

  it('handles names in UTF-8 and up to the length limit', () => {
    const ts = [sampleTensor('bool', [4], 'ünïcødé/テンソル'), sampleTensor('int8', [1], 'x'.repeat(MAX_NAME_BYTES))];
    expectSame(decodeTensors(encodeTensors(ts)), ts);
  });
});

describe('encodeTensors refuses what decodeTensors would reject', () => {
  it('checks each tensor', () => {
    expect(() => encodeTensors([{ name: 'x', dtype: 'float32', dims: [2], data: new Uint8Array(4) }]))
      .toThrow('cannot encode tensor 0 ("x"): data holds 4 bytes but float32[2] needs 8');
    expect(() => encodeTensors([sampleTensor('uint8', new Array<number>(MAX_RANK + 1).fill(1), 'deep')]))
      .toThrow('cannot encode tensor 0 ("deep"): rank 17 exceeds 16');
    expect(() => encodeTensors([sampleTensor('uint8', [1], 'é'.repeat(MAX_NAME_BYTES))]))
      .toThrow('name is 2048 bytes, the limit is 1024');
  });
});

describe('decodeTensors errors', () => {
  const good = encodeTensors([sampleTensor('float32', [2, 3], 'first'), sampleTensor('int64', [2], 'second')]);
  const patched = (at: number, ...bytes: number[]): Uint8Array => {
    const b = good.slice();
    b.set(bytes, at);
    return b;
  };

  it('rejects bad magic, version and reserved field', () => {
    expect(() => decodeTensors(new TextEncoder().encode('{"not": "tensors"}'))).toThrow('tensor container: bad magic');
    expect(() => decodeTensors(patched(4, 2))).toThrow('tensor container: unsupported version 2 (this build reads 1) (at byte 4');
    expect(() => decodeTensors(patched(12, 1))).toThrow('reserved header field is not zero');
  });

  it('reports truncation precisely, at every possible cut', () => {
    expect(() => decodeTensors(good.subarray(0, 10))).toThrow('tensor container: truncated: header needs 16 bytes but 10 remain');
    expect(() => decodeTensors(good.subarray(0, 17))).toThrow('truncated: tensor 0 name length needs 2 bytes but 1 remain');
    expect(() => decodeTensors(good.subarray(0, 20))).toThrow('truncated: tensor 0 name needs 5 bytes but 2 remain');
    expect(() => decodeTensors(good.subarray(0, 30))).toThrow('truncated: tensor 0 ("first") dims and length needs 24 bytes but 5 remain');
    expect(() => decodeTensors(good.subarray(0, 60))).toThrow('truncated: tensor 0 ("first") data needs 24 bytes but 4 remain');
    for (let cut = 0; cut < good.byteLength; cut++) {
      expect(() => decodeTensors(good.subarray(0, cut)), `cut at ${cut}`).toThrow(/^tensor container: truncated: /);
    }
  });

  it('rejects trailing bytes', () => {
    const b = new Uint8Array(good.byteLength + 3);
    b.set(good);
    expect(() => decodeTensors(b)).toThrow(`3 unexpected bytes after the last tensor (at byte ${good.byteLength}`);
  });

  it('rejects unknown dtypes, ranks over 16, long names and length mismatches', () => {
    // tensor 0: name length at 16, name "first" at 18..22, dtype at 23, rank at 24, dims at 25, byte length at 41
    expect(() => decodeTensors(patched(23, 8))).toThrow('tensor 0 ("first") has unknown dtype code 8 (at byte 23');
    expect(() => decodeTensors(patched(24, 17))).toThrow('tensor 0 ("first") has rank 17, the limit is 16');
    expect(() => decodeTensors(patched(16, 0x01, 0x04))).toThrow('tensor 0 name is 1025 bytes, the limit is 1024');
    expect(() => decodeTensors(patched(41, 25))).toThrow('tensor 0 ("first") declares 25 data bytes but float32[2,3] needs 24');
    expect(() => decodeTensors(patched(25, 0xff, 0xff, 0xff, 0xff, 0xff))).toThrow('dimension 0 is 1099511627775, more than');
    expect(() => decodeTensors(patched(18, 0xff))).toThrow('tensor 0 name is not valid UTF-8');
  });

  it('rejects non-zero padding and an inflated count', () => {
    expect(() => decodeTensors(patched(49, 1))).toThrow('tensor 0 ("first") padding is not zero (at byte 49');
    expect(() => decodeTensors(patched(8, 3))).toThrow('truncated: tensor 2 name length needs 2 bytes but 0 remain');
  });
});
