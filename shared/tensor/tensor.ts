import { bytesPerElement, type DType, isDType } from './dtypes.ts';

/**
 * A tensor as tabgrid stores and ships it: element type, dimensions and the raw
 * little-endian bytes. Never a JSON array of numbers.
 */
export interface Tensor {
  dtype: DType;
  dims: number[];
  data: Uint8Array;
}

export interface NamedTensor extends Tensor {
  name: string;
}

export type TypedArrayFor<D extends DType> = D extends 'float32' ? Float32Array
  : D extends 'float64' ? Float64Array
  : D extends 'float16' ? Uint16Array
  : D extends 'int8' ? Int8Array
  : D extends 'int16' ? Int16Array
  : D extends 'int32' ? Int32Array
  : D extends 'int64' ? BigInt64Array
  : D extends 'uint8' ? Uint8Array
  : D extends 'uint16' ? Uint16Array
  : D extends 'uint32' ? Uint32Array
  : D extends 'uint64' ? BigUint64Array
  : D extends 'bool' ? Uint8Array
  : never;

export type AnyTypedArray = Float32Array | Float64Array | Int8Array | Int16Array | Int32Array | BigInt64Array
  | Uint8Array | Uint16Array | Uint32Array | BigUint64Array;

const CTORS: Record<DType, new (buf: ArrayBuffer, off: number, len: number) => AnyTypedArray> = {
  float32: Float32Array, float64: Float64Array, float16: Uint16Array,
  int8: Int8Array, int16: Int16Array, int32: Int32Array, int64: BigInt64Array,
  uint8: Uint8Array, uint16: Uint16Array, uint32: Uint32Array, uint64: BigUint64Array, bool: Uint8Array,
};

/** Largest tensor (elements) accepted anywhere; guards against dims that overflow memory. */
export const MAX_ELEMENTS = 2 ** 31 - 1;

export function elementCount(dims: readonly number[]): number {
  let n = 1;
  for (const d of dims) n *= d;
  return n;
}

/** Returns why a tensor is malformed, or null when it is well-formed. */
export function tensorProblem(t: { dtype: unknown; dims: unknown; data: unknown }): string | null {
  const early = layoutProblem(t.dtype, t.dims, null);
  if (early) return early;
  if (!(t.data instanceof Uint8Array)) return 'data must be bytes';
  return layoutProblem(t.dtype, t.dims, t.data.byteLength);
}

/** What is wrong with a dtype, dims and (unless null) a byte length for them; null when they fit. */
export function layoutProblem(dtype: unknown, dims: unknown, byteLength: number | null): string | null {
  if (!isDType(dtype)) return `unsupported dtype ${JSON.stringify(dtype)}`;
  if (!Array.isArray(dims)) return 'dims must be an array';
  for (const d of dims) {
    if (!Number.isSafeInteger(d) || d < 0) return `dims must be non-negative integers, got ${JSON.stringify(dims)}`;
  }
  if (byteLength === null) return null;
  const n = elementCount(dims as number[]);
  if (n > MAX_ELEMENTS) return `tensor of ${n} elements is too large`;
  const want = n * bytesPerElement(dtype);
  if (byteLength !== want) {
    return `data holds ${byteLength} bytes but ${dtype}[${(dims as number[]).join(',')}] needs ${want}`;
  }
  return null;
}

/** A typed view over the tensor's bytes (copied first when the bytes are not aligned for the element size). */
export function typedView<D extends DType>(t: Tensor & { dtype: D }): TypedArrayFor<D> {
  const size = bytesPerElement(t.dtype);
  let bytes = t.data;
  // Node Buffers are often unaligned views into a pool; Buffer#slice would not copy, so copy explicitly.
  if (bytes.byteOffset % size !== 0) bytes = copyBytes(bytes);
  return new CTORS[t.dtype](bytes.buffer as ArrayBuffer, bytes.byteOffset, bytes.byteLength / size) as TypedArrayFor<D>;
}

/** A fresh, aligned copy (Uint8Array#slice on a Node Buffer returns a view, not a copy). */
export function copyBytes(src: Uint8Array): Uint8Array {
  const out = new Uint8Array(src.byteLength);
  out.set(src);
  return out;
}

export function tensorFromTyped(dtype: DType, dims: number[], values: ArrayBufferView): Tensor {
  const data = new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
  const t = { dtype, dims: [...dims], data };
  const problem = tensorProblem(t);
  if (problem) throw new Error(problem);
  return t;
}

/** Records [start, end) along axis 0, sharing no memory with the source. */
export function sliceRecords(t: Tensor, start: number, end: number): Tensor {
  const v = viewRecords(t, start, end);
  return { ...v, data: copyBytes(v.data) };
}

/** Records [start, end) along axis 0 as a view over `t`'s bytes (no copy): for sending, not for keeping or changing. */
export function viewRecords(t: Tensor, start: number, end: number): Tensor {
  if (t.dims.length === 0) throw new Error('cannot slice a scalar along axis 0');
  const n = t.dims[0]!;
  if (!(Number.isInteger(start) && Number.isInteger(end) && 0 <= start && start <= end && end <= n)) {
    throw new Error(`record range [${start}, ${end}) is outside 0..${n}`);
  }
  const recordBytes = n === 0 ? 0 : t.data.byteLength / n;
  return {
    dtype: t.dtype,
    dims: [end - start, ...t.dims.slice(1)],
    data: t.data.subarray(start * recordBytes, end * recordBytes),
  };
}

/** Concatenates tensors along axis 0; all must share dtype and trailing dims. */
export function concatRecords(parts: readonly Tensor[]): Tensor {
  const s = stackRecords(parts);
  const data = new Uint8Array(s.parts.reduce((n, p) => n + p.byteLength, 0));
  let off = 0;
  for (const p of s.parts) { data.set(p, off); off += p.byteLength; }
  return { dtype: s.dtype, dims: s.dims, data };
}

/** What concatRecords would make, with the parts' bytes left where they are (checked, not copied). */
export function stackRecords(parts: readonly Tensor[]): { dtype: DType; dims: number[]; parts: Uint8Array[] } {
  if (parts.length === 0) throw new Error('nothing to concatenate');
  const first = parts[0]!;
  if (first.dims.length === 0) throw new Error('cannot concatenate scalars along axis 0');
  const tail = first.dims.slice(1).join(',');
  let records = 0;
  for (const p of parts) {
    if (p.dtype !== first.dtype) throw new Error(`dtype mismatch: ${p.dtype} vs ${first.dtype}`);
    if (p.dims.length !== first.dims.length || p.dims.slice(1).join(',') !== tail) {
      throw new Error(`shape mismatch: [${p.dims}] vs [${first.dims}] beyond axis 0`);
    }
    records += p.dims[0]!;
  }
  return { dtype: first.dtype, dims: [records, ...first.dims.slice(1)], parts: parts.map((p) => p.data) };
}

export function describe(t: Pick<Tensor, 'dtype' | 'dims'>): string {
  return `${t.dtype}[${t.dims.join(',')}]`;
}

/** Records [i0, i1, ...] along axis 0, gathered into a new tensor (a shuffled batch, a held-out split). */
export function gatherRecords(t: Tensor, rows: ArrayLike<number>): Tensor {
  const n = t.dims[0] ?? 0;
  const rowBytes = n === 0 ? 0 : t.data.byteLength / n;
  const data = new Uint8Array(rows.length * rowBytes);
  for (let k = 0; k < rows.length; k++) {
    const r = rows[k]!;
    if (!(Number.isInteger(r) && r >= 0 && r < n)) throw new Error(`record ${r} is outside 0..${n - 1}`);
    data.set(t.data.subarray(r * rowBytes, (r + 1) * rowBytes), k * rowBytes);
  }
  return { dtype: t.dtype, dims: [rows.length, ...t.dims.slice(1)], data };
}
