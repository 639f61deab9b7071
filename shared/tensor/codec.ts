import { DTYPE_INFO, dtypeFromOnnx } from './dtypes.ts';
import { elementCount, layoutProblem, MAX_ELEMENTS, type NamedTensor } from './tensor.ts';

/**
 * tabgrid's container for a list of named tensors, used to persist results and
 * to move them over HTTP. All integers little-endian.
 *
 *   header   "TGTS" | u32 version (1) | u32 count | u32 reserved (0)      16 bytes
 *   per tensor:
 *            u16 name length | name (UTF-8) | u8 dtype (onnx code) | u8 rank
 *            rank x u64 dims | u64 data byte length
 *            zero padding up to the next multiple of 8 (from the container's start)
 *            data
 *
 * Data starts 8-byte aligned so that, when the container itself sits at an
 * aligned offset (a fresh fetch() or file buffer), decoded tensors are
 * zero-copy subarrays that typed arrays can view directly.
 */

export class TensorCodecError extends Error {
  override name = 'TensorCodecError';
}

const MAGIC = [0x54, 0x47, 0x54, 0x53]; // "TGTS"
export const CODEC_VERSION = 1;
export const MAX_RANK = 16;
export const MAX_NAME_BYTES = 1024;
const HEADER_BYTES = 16;
const ALIGN = 8;

const pad = (off: number): number => (ALIGN - (off % ALIGN)) % ALIGN;

export function encodeTensors(ts: readonly NamedTensor[]): Uint8Array {
  const chunks = encodeTensorParts(ts.map((t) => ({ name: t.name, dtype: t.dtype, dims: t.dims, parts: [t.data] })));
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.byteLength, 0));
  let off = 0;
  for (const c of chunks) { out.set(c, off); off += c.byteLength; }
  return out;
}

/** A tensor whose bytes are the concatenation of `parts` (shards' outputs, in order). */
export interface TensorParts {
  name: string;
  dtype: NamedTensor['dtype'];
  dims: number[];
  parts: readonly Uint8Array[];
}

/**
 * The container encodeTensors writes, as chunks to write or hash one after
 * another: small header chunks and the tensors' own parts, not copied. A job's
 * assembled outputs (hundreds of megabytes) are stored this way without ever
 * being joined in memory.
 */
export function encodeTensorParts(ts: readonly TensorParts[]): Uint8Array[] {
  const enc = new TextEncoder();
  const chunks: Uint8Array[] = [];
  const head = new Uint8Array(HEADER_BYTES);
  head.set(MAGIC, 0);
  const hv = new DataView(head.buffer);
  hv.setUint32(4, CODEC_VERSION, true);
  hv.setUint32(8, ts.length, true);
  chunks.push(head);
  let off = HEADER_BYTES;
  ts.forEach((t, i) => {
    const label = `tensor ${i} (${JSON.stringify(t.name)})`;
    if (typeof t.name !== 'string') throw new TensorCodecError(`tensor ${i}: name must be a string`);
    const early = layoutProblem(t.dtype, t.dims, null);
    if (early) throw new TensorCodecError(`cannot encode ${label}: ${early}`);
    if (t.parts.some((p) => !(p instanceof Uint8Array))) throw new TensorCodecError(`cannot encode ${label}: data must be bytes`);
    const bytes = t.parts.reduce((n, p) => n + p.byteLength, 0);
    const problem = layoutProblem(t.dtype, t.dims, bytes);
    if (problem) throw new TensorCodecError(`cannot encode ${label}: ${problem}`);
    if (t.dims.length > MAX_RANK) throw new TensorCodecError(`cannot encode ${label}: rank ${t.dims.length} exceeds ${MAX_RANK}`);
    const name = enc.encode(t.name);
    if (name.byteLength > MAX_NAME_BYTES) {
      throw new TensorCodecError(`cannot encode ${label}: name is ${name.byteLength} bytes, the limit is ${MAX_NAME_BYTES}`);
    }
    const fixed = 2 + name.byteLength + 2 + 8 * t.dims.length + 8;
    const h = new Uint8Array(fixed + pad(off + fixed));
    const v = new DataView(h.buffer);
    let o = 0;
    v.setUint16(o, name.byteLength, true); o += 2;
    h.set(name, o); o += name.byteLength;
    h[o++] = DTYPE_INFO[t.dtype].onnx;
    h[o++] = t.dims.length;
    for (const d of t.dims) { v.setBigUint64(o, BigInt(d), true); o += 8; }
    v.setBigUint64(o, BigInt(bytes), true);
    chunks.push(h);
    off += h.byteLength;
    for (const p of t.parts) if (p.byteLength) chunks.push(p);
    off += bytes;
  });
  return chunks;
}

/**
 * Decodes a container written by encodeTensors. The returned tensors' data are
 * subarrays of `bytes` (no copy): copy them if `bytes` will be reused.
 */
export function decodeTensors(bytes: Uint8Array): NamedTensor[] {
  if (!(bytes instanceof Uint8Array)) throw new TensorCodecError('tensor container: expected bytes');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const utf8 = new TextDecoder('utf-8', { fatal: true });
  const fail = (why: string, at: number): never => {
    throw new TensorCodecError(`tensor container: ${why} (at byte ${at} of ${bytes.byteLength})`);
  };
  const need = (at: number, n: number, what: string): void => {
    if (at + n > bytes.byteLength) fail(`truncated: ${what} needs ${n} bytes but ${Math.max(0, bytes.byteLength - at)} remain`, at);
  };

  need(0, HEADER_BYTES, 'header');
  if (MAGIC.some((b, i) => bytes[i] !== b)) fail('bad magic: not a tabgrid tensor container', 0);
  const version = view.getUint32(4, true);
  if (version !== CODEC_VERSION) fail(`unsupported version ${version} (this build reads ${CODEC_VERSION})`, 4);
  const count = view.getUint32(8, true);
  if (view.getUint32(12, true) !== 0) fail('reserved header field is not zero', 12);

  const out: NamedTensor[] = [];
  let off = HEADER_BYTES;
  for (let i = 0; i < count; i++) {
    const what = `tensor ${i}`;
    need(off, 2, `${what} name length`);
    const nameLen = view.getUint16(off, true);
    if (nameLen > MAX_NAME_BYTES) fail(`${what} name is ${nameLen} bytes, the limit is ${MAX_NAME_BYTES}`, off);
    off += 2;
    need(off, nameLen, `${what} name`);
    let name: string;
    try {
      name = utf8.decode(bytes.subarray(off, off + nameLen));
    } catch {
      return fail(`${what} name is not valid UTF-8`, off);
    }
    off += nameLen;
    const label = `tensor ${i} (${JSON.stringify(name)})`;

    need(off, 2, `${label} dtype and rank`);
    const code = bytes[off]!;
    const dtype = dtypeFromOnnx(code);
    if (dtype === null) fail(`${label} has unknown dtype code ${code}`, off);
    const rank = bytes[off + 1]!;
    if (rank > MAX_RANK) fail(`${label} has rank ${rank}, the limit is ${MAX_RANK}`, off + 1);
    off += 2;

    need(off, 8 * rank + 8, `${label} dims and length`);
    const dims: number[] = [];
    for (let k = 0; k < rank; k++) {
      const d = view.getBigUint64(off, true);
      if (d > BigInt(MAX_ELEMENTS)) fail(`${label} dimension ${k} is ${d}, more than the ${MAX_ELEMENTS} allowed`, off);
      dims.push(Number(d));
      off += 8;
    }
    const n = elementCount(dims);
    if (n > MAX_ELEMENTS) fail(`${label} has ${n} elements, more than the ${MAX_ELEMENTS} allowed`, off - 8 * rank);
    const byteLength = view.getBigUint64(off, true);
    const want = n * DTYPE_INFO[dtype!].bytes;
    if (byteLength !== BigInt(want)) {
      fail(`${label} declares ${byteLength} data bytes but ${dtype}[${dims.join(',')}] needs ${want}`, off);
    }
    off += 8;

    const gap = pad(off);
    need(off, gap, `${label} padding`);
    for (let k = 0; k < gap; k++) if (bytes[off + k] !== 0) fail(`${label} padding is not zero`, off + k);
    off += gap;

    need(off, want, `${label} data`);
    out.push({ name, dtype: dtype!, dims, data: bytes.subarray(off, off + want) });
    off += want;
  }
  if (off !== bytes.byteLength) fail(`${bytes.byteLength - off} unexpected bytes after the last tensor`, off);
  return out;
}
