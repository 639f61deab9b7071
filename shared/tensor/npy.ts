import { DTYPE_INFO, DTYPES, type DType } from './dtypes.ts';
import { elementCount, MAX_ELEMENTS, type Tensor, tensorProblem } from './tensor.ts';

/**
 * NumPy's .npy format (versions 1.0, 2.0 and 3.0), so researchers can hand
 * tabgrid `np.save` files and read results back with `np.load`.
 * https://numpy.org/doc/stable/reference/generated/numpy.lib.format.html
 */

export class NpyError extends Error {
  override name = 'NpyError';
}

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY
/** numpy pads the header so the data starts on a 64-byte boundary. */
const ALIGN = 64;

const fail = (why: string): never => { throw new NpyError(`npy: ${why}`); };

// ---------------------------------------------------------------------------
// Header: a Python dict literal such as {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }

type PyValue = string | boolean | number | null | PyValue[] | { tuple: PyValue[] } | { dict: Array<[PyValue, PyValue]> };

/** Parses the small subset of Python literals numpy writes in a header. */
function parsePyLiteral(src: string): PyValue {
  let i = 0;
  const ws = (): void => { while (i < src.length && /\s/.test(src[i]!)) i++; };
  const bad = (why: string): never => fail(`bad header: ${why} at character ${i} of ${JSON.stringify(src)}`);

  const value = (): PyValue => {
    ws();
    const c = src[i];
    if (c === undefined) return bad('unexpected end');
    if (c === "'" || c === '"') {
      const end = src.indexOf(c, i + 1);
      if (end < 0) return bad('unterminated string');
      const s = src.slice(i + 1, end);
      i = end + 1;
      return s;
    }
    if (c === '(' || c === '[') {
      const close = c === '(' ? ')' : ']';
      i++;
      const items: PyValue[] = [];
      for (;;) {
        ws();
        if (src[i] === close) { i++; break; }
        items.push(value());
        ws();
        if (src[i] === ',') { i++; continue; }
        if (src[i] === close) { i++; break; }
        return bad(`expected ',' or '${close}'`);
      }
      return c === '(' ? { tuple: items } : items;
    }
    if (c === '{') {
      i++;
      const entries: Array<[PyValue, PyValue]> = [];
      for (;;) {
        ws();
        if (src[i] === '}') { i++; break; }
        const k = value();
        ws();
        if (src[i] !== ':') return bad("expected ':'");
        i++;
        entries.push([k, value()]);
        ws();
        if (src[i] === ',') { i++; continue; }
        if (src[i] === '}') { i++; break; }
        return bad("expected ',' or '}'");
      }
      return { dict: entries };
    }
    const m = /^(-?\d+)L?|^(True|False|None)\b/.exec(src.slice(i));
    if (!m) return bad('unexpected token');
    i += m[0].length;
    if (m[1] !== undefined) return Number(m[1]);
    return m[2] === 'True' ? true : m[2] === 'False' ? false : null;
  };

  const v = value();
  ws();
  if (i !== src.length) bad('trailing characters');
  return v;
}

interface NpyHeader { descr: PyValue; fortranOrder: boolean; shape: number[] }

function parseHeader(text: string): NpyHeader {
  const v = parsePyLiteral(text);
  if (typeof v !== 'object' || v === null || !('dict' in v)) return fail(`bad header: not a dict: ${JSON.stringify(text)}`);
  const dict = new Map<string, PyValue>();
  for (const [k, val] of v.dict) {
    if (typeof k !== 'string') fail(`bad header: non-string key in ${JSON.stringify(text)}`);
    dict.set(k as string, val);
  }
  const keys = [...dict.keys()].sort().join(',');
  if (keys !== 'descr,fortran_order,shape') {
    fail(`bad header: keys must be descr, fortran_order and shape, got ${keys || 'none'}`);
  }
  const fortran = dict.get('fortran_order');
  if (typeof fortran !== 'boolean') fail(`bad header: fortran_order must be True or False`);
  const shapeV = dict.get('shape');
  const shapeItems = typeof shapeV === 'object' && shapeV !== null && 'tuple' in shapeV ? shapeV.tuple : null;
  if (!shapeItems || !shapeItems.every((d) => typeof d === 'number' && Number.isSafeInteger(d) && d >= 0)) {
    fail(`bad header: shape must be a tuple of non-negative integers, got ${JSON.stringify(shapeV)}`);
  }
  return { descr: dict.get('descr')!, fortranOrder: fortran as boolean, shape: shapeItems as number[] };
}

// ---------------------------------------------------------------------------
// dtypes

const BY_KIND = new Map<string, DType>(DTYPES.map((d) => [DTYPE_INFO[d].npy.slice(1), d]));

/** Maps a numpy dtype string to a dtype and whether its bytes are big-endian. */
function resolveDescr(descr: PyValue): { dtype: DType; bigEndian: boolean } {
  if (typeof descr !== 'string') {
    return fail(`unsupported dtype ${JSON.stringify(descr)}: structured arrays are not tensors`);
  }
  const m = /^([<>|=]?)([a-zA-Z?]\d*)$/.exec(descr);
  const order = m?.[1] ?? '';
  const kind = m?.[2] === '?' ? 'b1' : m?.[2];
  const dtype = kind === undefined ? undefined : BY_KIND.get(kind);
  if (dtype === undefined) {
    return fail(`unsupported dtype '${descr}'; tabgrid reads ${DTYPES.map((d) => DTYPE_INFO[d].npy).join(' ')} (and '>' big-endian forms)`);
  }
  const size = DTYPE_INFO[dtype].bytes;
  if (size > 1 && (order === '' || order === '|' || order === '=')) {
    // numpy itself always writes '<' or '>' for multi-byte types; anything else depends on the writer's machine
    fail(`dtype '${descr}' does not say its byte order; expected '<${kind}' or '>${kind}'`);
  }
  return { dtype, bigEndian: order === '>' && size > 1 };
}

// ---------------------------------------------------------------------------
// Decoding

/** Copies `src` (laid out with the first axis fastest) into C order. */
function fortranToC(src: Uint8Array, dims: readonly number[], size: number): Uint8Array {
  const out = new Uint8Array(src.byteLength);
  const rank = dims.length;
  const n = elementCount(dims);
  if (rank < 2 || n === 0) { out.set(src); return out; }
  const cStride = new Array<number>(rank);
  let s = 1;
  for (let k = rank - 1; k >= 0; k--) { cStride[k] = s; s *= dims[k]!; }
  const idx = new Array<number>(rank).fill(0);
  let c = 0;
  for (let f = 0; f < n; f++) {
    out.set(src.subarray(f * size, f * size + size), c * size);
    // advance the multi-index in Fortran order, tracking the matching C offset
    for (let k = 0; k < rank; k++) {
      idx[k]!++;
      c += cStride[k]!;
      if (idx[k]! < dims[k]!) break;
      c -= cStride[k]! * dims[k]!;
      idx[k] = 0;
    }
  }
  return out;
}

function swapBytes(data: Uint8Array, size: number): void {
  for (let off = 0; off < data.byteLength; off += size) {
    for (let a = off, b = off + size - 1; a < b; a++, b--) {
      const t = data[a]!;
      data[a] = data[b]!;
      data[b] = t;
    }
  }
}

/** Reads a .npy file. The tensor gets its own little-endian, C-order copy of the data. */
export function decodeNpy(bytes: Uint8Array): Tensor {
  if (bytes.byteLength < 10 || MAGIC.some((b, i) => bytes[i] !== b)) {
    fail('bad magic: not a .npy file (it must start with \\x93NUMPY)');
  }
  const major = bytes[6]!;
  const minor = bytes[7]!;
  if (!((major === 1 || major === 2 || major === 3) && minor === 0)) fail(`unsupported format version ${major}.${minor}`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const lenSize = major === 1 ? 2 : 4;
  if (bytes.byteLength < 8 + lenSize) fail('truncated header');
  const headerLen = major === 1 ? view.getUint16(8, true) : view.getUint32(8, true);
  const dataStart = 8 + lenSize + headerLen;
  if (dataStart > bytes.byteLength) fail(`truncated header: it declares ${headerLen} bytes but ${bytes.byteLength - 8 - lenSize} remain`);
  const headerBytes = bytes.subarray(8 + lenSize, dataStart);
  let text: string;
  try {
    text = new TextDecoder(major === 3 ? 'utf-8' : 'latin1', { fatal: true }).decode(headerBytes);
  } catch {
    return fail('bad header: not valid UTF-8');
  }

  const header = parseHeader(text);
  const { dtype, bigEndian } = resolveDescr(header.descr);
  const dims = header.shape;
  const n = elementCount(dims);
  if (n > MAX_ELEMENTS) fail(`${n} elements is more than the ${MAX_ELEMENTS} allowed`);
  const size = DTYPE_INFO[dtype].bytes;
  const want = n * size;
  const have = bytes.byteLength - dataStart;
  const shape = `${dtype}[${dims.join(',')}]`;
  if (have < want) fail(`truncated data: ${shape} needs ${want} bytes but ${have} remain`);
  if (have > want) fail(`${have - want} unexpected bytes after the ${want} bytes of ${shape}`);

  const body = bytes.subarray(dataStart);
  const data = header.fortranOrder ? fortranToC(body, dims, size) : body.slice();
  if (bigEndian) swapBytes(data, size);
  if (dtype === 'bool') {
    for (const b of data) if (b > 1) fail(`bool data holds byte ${b}`);
  }
  return { dtype, dims: [...dims], data };
}

// ---------------------------------------------------------------------------
// Encoding

/** Writes a .npy file exactly as `np.save` would for the same array (version 1.0, or 2.0 for huge headers). */
export function encodeNpy(t: Tensor): Uint8Array {
  const problem = tensorProblem(t);
  if (problem) fail(`cannot encode: ${problem}`);
  const shape = t.dims.length === 1 ? `(${t.dims[0]},)` : `(${t.dims.join(', ')})`;
  const dict = `{'descr': '${DTYPE_INFO[t.dtype].npy}', 'fortran_order': False, 'shape': ${shape}, }`;
  let major = 1;
  let prefix = 10;
  let total = Math.ceil((prefix + dict.length + 1) / ALIGN) * ALIGN;
  if (total - prefix > 0xffff) {
    major = 2;
    prefix = 12;
    total = Math.ceil((prefix + dict.length + 1) / ALIGN) * ALIGN;
  }
  const header = dict + ' '.repeat(total - prefix - dict.length - 1) + '\n';
  const out = new Uint8Array(total + t.data.byteLength);
  out.set(MAGIC, 0);
  out[6] = major;
  out[7] = 0;
  const view = new DataView(out.buffer);
  if (major === 1) view.setUint16(8, header.length, true);
  else view.setUint32(8, header.length, true);
  out.set(new TextEncoder().encode(header), prefix);
  out.set(t.data, total);
  return out;
}
