import { describe, expect, it } from 'vitest';
import { DTYPES, type DType } from '../../../shared/tensor/dtypes.ts';
import { decodeNpy, encodeNpy } from '../../../shared/tensor/npy.ts';
import { type Tensor, typedView } from '../../../shared/tensor/tensor.ts';
import { byteDiff, sampleTensor } from './helpers.ts';
import { NPY_FIXTURES } from './npy-fixtures.ts';

const fromB64 = (s: string): Uint8Array => Uint8Array.from(atob(s), (c) => c.charCodeAt(0));
const text = (s: string): Uint8Array => new TextEncoder().encode(s);

/** Values the way the fixtures spell them: 64-bit integers as decimal strings, float16 as bits. */
function values(t: Tensor): Array<number | string> {
  return Array.from(typedView(t) as ArrayLike<number | bigint>, (v) => (typeof v === 'bigint' ? v.toString() : v));
}

/** A .npy file with a hand-written header (version 1.0), padded like numpy pads it. */
function npyWith(header: string, data: Uint8Array = new Uint8Array(0), major = 1): Uint8Array {
  const prefix = major === 1 ? 10 : 12;
  const total = Math.ceil((prefix + header.length + 1) / 64) * 64;
  const h = header + ' '.repeat(total - prefix - header.length - 1) + '\n';
  const out = new Uint8Array(total + data.byteLength);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, major, 0]);
  const view = new DataView(out.buffer);
  if (major === 1) view.setUint16(8, h.length, true);
  else view.setUint32(8, h.length, true);
  out.set(text(h), prefix);
  out.set(data, total);
  return out;
}

describe('decodeNpy on files written by numpy', () => {
  it('covers every dtype, big-endian, Fortran order, 0-d, 0 elements and versions 2.0 and 3.0', () => {
    const descrs = new Set(NPY_FIXTURES.map((f) => f.descr));
    for (const d of ['<f4', '<f2', '<f8', '|i1', '<i2', '<i4', '<i8', '|u1', '<u2', '<u4', '<u8', '|b1', '>i4', '>f8', '>u8', '>f2', '>i2']) {
      expect(descrs).toContain(d);
    }
    expect(NPY_FIXTURES.some((f) => f.fortran)).toBe(true);
    expect(NPY_FIXTURES.map((f) => f.version.join('.'))).toEqual(expect.arrayContaining(['1.0', '2.0', '3.0']));
  });

  for (const f of NPY_FIXTURES) {
    it(`reads ${f.name} (${f.descr}${f.fortran ? ', fortran_order' : ''}, v${f.version.join('.')})`, () => {
      const t = decodeNpy(fromB64(f.b64));
      expect(t.dtype).toBe(f.dtype);
      expect(t.dims).toEqual(f.dims);
      expect(values(t)).toEqual(f.values);
    });
  }

  for (const f of NPY_FIXTURES.filter((x) => x.descr.startsWith('<') || x.descr.startsWith('|'))) {
    if (f.fortran || f.version[0] !== 1) continue;
    it(`writes ${f.name} byte for byte as np.save does`, () => {
      const bytes = fromB64(f.b64);
      expect(byteDiff(encodeNpy(decodeNpy(bytes)), bytes)).toBeNull();
    });
  }

  it('transposes Fortran order into C order', () => {
    const f = NPY_FIXTURES.find((x) => x.name === 'fortran big-endian int16 2-d')!;
    const t = decodeNpy(fromB64(f.b64));
    expect(t.dims).toEqual([2, 3]);
    expect(Array.from(typedView(t as Tensor & { dtype: 'int16' }))).toEqual([1, 2, 3, 4, 5, 6]);
  });
});

describe('encodeNpy / decodeNpy round trip', () => {
  for (const dtype of DTYPES) {
    it(`is exact for ${dtype}`, () => {
      for (const dims of [[4, 3], [], [0], [3, 0, 2], [2, 1, 3, 1, 2]]) {
        const { name: _name, ...t } = sampleTensor(dtype as DType, dims);
        const back = decodeNpy(encodeNpy(t));
        expect(back.dtype).toBe(t.dtype);
        expect(back.dims).toEqual(t.dims);
        expect(byteDiff(back.data, t.data)).toBeNull();
      }
    });
  }

  it('aligns the data to 64 bytes and switches to version 2.0 for headers over 64 KiB', () => {
    const small = encodeNpy(sampleTensor('float32', [2, 2]));
    expect(small[6]).toBe(1);
    expect((small.byteLength - 16) % 64).toBe(0);
    // rank-16 shapes are nowhere near 64 KiB; a header that big needs thousands of dims
    const dims = new Array<number>(25000).fill(1);
    const big = encodeNpy({ dtype: 'uint8', dims, data: new Uint8Array([9]) });
    expect(big[6]).toBe(2);
    expect(big.byteLength % 64).toBe(1);
    expect(decodeNpy(big)).toEqual({ dtype: 'uint8', dims, data: new Uint8Array([9]) });
  });
});

describe('decodeNpy accepts what numpy accepts', () => {
  it("reads '<b1', 'b1', '?', 'i1', '<i1', '|u1' and '>u1'", () => {
    for (const descr of ['<b1', 'b1', '|b1', '?']) {
      expect(decodeNpy(npyWith(`{'descr': '${descr}', 'fortran_order': False, 'shape': (2,), }`, new Uint8Array([1, 0]))))
        .toEqual({ dtype: 'bool', dims: [2], data: new Uint8Array([1, 0]) });
    }
    for (const descr of ['i1', '<i1', '|i1', '>i1']) {
      expect(decodeNpy(npyWith(`{'descr': '${descr}', 'fortran_order': False, 'shape': (1,), }`, new Uint8Array([0xff]))).dtype).toBe('int8');
    }
    for (const descr of ['u1', '|u1', '>u1']) {
      expect(decodeNpy(npyWith(`{'descr': '${descr}', 'fortran_order': False, 'shape': (1,), }`, new Uint8Array([7]))).dtype).toBe('uint8');
    }
  });

  it('tolerates key order, double quotes, no trailing comma and Python 2 longs', () => {
    const t = decodeNpy(npyWith(`{"shape": (1L, 2L), "fortran_order": False, "descr": "<u2"}`, new Uint8Array([1, 0, 2, 0])));
    expect(t).toEqual({ dtype: 'uint16', dims: [1, 2], data: new Uint8Array([1, 0, 2, 0]) });
  });
});

describe('decodeNpy errors', () => {
  const ok = "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }";

  it('rejects a file without the magic', () => {
    expect(() => decodeNpy(text('PK\x03\x04 this is a zip'))).toThrow('npy: bad magic: not a .npy file');
    expect(() => decodeNpy(new Uint8Array(0))).toThrow('npy: bad magic');
  });

  it('rejects unknown format versions', () => {
    const b = npyWith(ok, new Uint8Array(8));
    b[6] = 4;
    expect(() => decodeNpy(b)).toThrow('npy: unsupported format version 4.0');
  });

  it('rejects bad headers', () => {
    expect(() => decodeNpy(npyWith("{'descr': '<f4', 'shape': (2,), }", new Uint8Array(8))))
      .toThrow('npy: bad header: keys must be descr, fortran_order and shape, got descr,shape');
    expect(() => decodeNpy(npyWith("{'descr': '<f4', 'fortran_order': 0, 'shape': (2,), }", new Uint8Array(8))))
      .toThrow('npy: bad header: fortran_order must be True or False');
    expect(() => decodeNpy(npyWith("{'descr': '<f4', 'fortran_order': False, 'shape': (-2,), }")))
      .toThrow('npy: bad header: shape must be a tuple of non-negative integers');
    expect(() => decodeNpy(npyWith("{'descr': '<f4', 'fortran_order': False, 'shape': (2,)", new Uint8Array(8))))
      .toThrow(/npy: bad header: expected ',' or '}'/);
    expect(() => decodeNpy(npyWith('[1, 2]'))).toThrow('npy: bad header: not a dict');
  });

  it('rejects unsupported dtypes, naming them', () => {
    for (const descr of ['<c8', '<U5', '|O', '<M8[ns]', '<f16', '|V4']) {
      expect(() => decodeNpy(npyWith(`{'descr': '${descr}', 'fortran_order': False, 'shape': (1,), }`, new Uint8Array(16))))
        .toThrow(`npy: unsupported dtype '${descr}'`);
    }
    expect(() => decodeNpy(npyWith("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (1,), }", new Uint8Array(4))))
      .toThrow('structured arrays are not tensors');
    expect(() => decodeNpy(npyWith("{'descr': 'f4', 'fortran_order': False, 'shape': (1,), }", new Uint8Array(4))))
      .toThrow("dtype 'f4' does not say its byte order");
  });

  it('rejects truncated headers and data, and trailing bytes', () => {
    const full = npyWith(ok, new Uint8Array(8));
    expect(() => decodeNpy(full.subarray(0, 9))).toThrow('npy: bad magic');
    expect(() => decodeNpy(full.subarray(0, 40))).toThrow('npy: truncated header: it declares 118 bytes but 30 remain');
    expect(() => decodeNpy(full.subarray(0, 134))).toThrow('npy: truncated data: float32[2] needs 8 bytes but 6 remain');
    expect(() => decodeNpy(npyWith(ok, new Uint8Array(9)))).toThrow('npy: 1 unexpected bytes after the 8 bytes of float32[2]');
  });

  it('rejects bool bytes other than 0 and 1', () => {
    expect(() => decodeNpy(npyWith("{'descr': '|b1', 'fortran_order': False, 'shape': (1,), }", new Uint8Array([2]))))
      .toThrow('npy: bool data holds byte 2');
  });

  it('refuses to encode a malformed tensor', () => {
    expect(() => encodeNpy({ dtype: 'int32', dims: [2], data: new Uint8Array(3) }))
      .toThrow('npy: cannot encode: data holds 3 bytes but int32[2] needs 8');
  });
});
