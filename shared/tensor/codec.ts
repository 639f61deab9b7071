import { DTYPE_INFO, dtypeFromOnnx } from './dtypes.ts';
import { elementCount, MAX_ELEMENTS, type NamedTensor, tensorProblem } from './tensor.ts';

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
  const enc = new TextEncoder();
  const names: Uint8Array[] = [];
  let size = HEADER_BYTES;
  ts.forEach((t, i) => {
    const label = `tensor ${i} (${JSON.stringify(t.name)})`;
    if (typeof t.name !== 'string') throw new TensorCodecError(`tensor ${i}: name must be a string`);
    const problem = tensorProblem(t);
    if (problem) throw new TensorCodecError(`cannot encode ${label}: ${problem}`);
    if (t.dims.length > MAX_RANK) throw new TensorCodecError(`cannot encode ${label}: rank ${t.dims.length} exceeds ${MAX_RANK}`);
    const name = enc.encode(t.name);
    if (name.byteLength > MAX_NAME_BYTES) {
      throw new TensorCodecError(`cannot encode ${label}: name is ${name.byteLength} bytes, the limit is ${MAX_NAME_BYTES}`);
    }
    names.push(name);
    size += 2 + name.byteLength + 2 + 8 * t.dims.length + 8;
    size += pad(size) + t.data.byteLength;
  });

  const out = new Uint8Array(size);
  const view = new DataView(out.buffer);
  out.set(MAGIC, 0);
  view.setUint32(4, CODEC_VERSION, true);
  view.setUint32(8, ts.length, true);
  let off = HEADER_BYTES;
  ts.forEach((t, i) => {
    const name = names[i]!;
    view.setUint16(off, name.byteLength, true); off += 2;
    out.set(name, off); off += name.byteLength;
    out[off++] = DTYPE_INFO[t.dtype].onnx;
    out[off++] = t.dims.length;
    for (const d of t.dims) { view.setBigUint64(off, BigInt(d), true); off += 8; }
    view.setBigUint64(off, BigInt(t.data.byteLength), true); off += 8;
    off += pad(off);
    out.set(t.data, off); off += t.data.byteLength;
  });
  return out;
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
