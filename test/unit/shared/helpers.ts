import { DTYPE_INFO, type DType } from '../../../shared/tensor/dtypes.ts';
import { elementCount, type NamedTensor } from '../../../shared/tensor/tensor.ts';

/** Deterministic bytes that form a valid tensor of `dtype` (bool bytes must be 0 or 1). */
export function sampleTensor(dtype: DType, dims: number[], name = `t_${dtype}`, seed = 1): NamedTensor {
  const n = elementCount(dims) * DTYPE_INFO[dtype].bytes;
  const data = new Uint8Array(n);
  let x = (seed * 2654435761) >>> 0;
  for (let i = 0; i < n; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    data[i] = dtype === 'bool' ? (x >>> 16) & 1 : x >>> 24;
  }
  return { name, dtype, dims, data };
}

/**
 * Byte equality. vitest's toEqual walks typed arrays element by element with
 * diff bookkeeping (seconds for a few hundred files), so compare directly and
 * report the first difference.
 */
export function byteDiff(a: Uint8Array, b: Uint8Array): string | null {
  if (a.byteLength !== b.byteLength) return `lengths differ: ${a.byteLength} vs ${b.byteLength}`;
  for (let i = 0; i < a.byteLength; i++) {
    if (a[i] !== b[i]) return `first difference at byte ${i}: ${a[i]} vs ${b[i]}`;
  }
  return null;
}
