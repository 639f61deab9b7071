/**
 * Output comparison for cross-checking volunteers. Floating point differs
 * between devices (WebGPU vs WASM, GPU vendors), so floats agree within the
 * job's tolerance (numpy.isclose: |a−b| ≤ atol + rtol·|b|, symmetrised), while
 * integers and bools must match exactly. NaN or ±Inf where the other copy has
 * a number is a disagreement; NaN against NaN agrees.
 */
import { isFloat } from '../../../shared/tensor/dtypes.ts';
import { halfToFloat } from '../../../shared/tensor/float16.ts';
import { describe, type NamedTensor, type Tensor, typedView } from '../../../shared/tensor/tensor.ts';
import type { Tolerance } from '../jobs/types.ts';

function floats(t: Tensor): ArrayLike<number> {
  if (t.dtype === 'float16') {
    const raw = typedView(t as Tensor & { dtype: 'float16' });
    const out = new Float32Array(raw.length);
    for (let i = 0; i < raw.length; i++) out[i] = halfToFloat(raw[i]!);
    return out;
  }
  return typedView(t as Tensor & { dtype: 'float32' | 'float64' });
}

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.byteLength !== b.byteLength) return false;
  for (let i = 0; i < a.byteLength; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Null when the tensors agree; otherwise the first reason they do not. */
export function tensorDisagreement(a: Tensor, b: Tensor, tol: Tolerance): string | null {
  if (a.dtype !== b.dtype || a.dims.length !== b.dims.length || a.dims.some((d, i) => d !== b.dims[i])) {
    return `shape ${describe(a)} vs ${describe(b)}`;
  }
  if (bytesEqual(a.data, b.data)) return null;
  if (!isFloat(a.dtype)) {
    for (let i = 0; i < a.data.byteLength; i++) {
      if (a.data[i] !== b.data[i]) return `${a.dtype} values differ (byte ${i}); integers must match exactly`;
    }
    return null;
  }
  const x = floats(a);
  const y = floats(b);
  for (let i = 0; i < x.length; i++) {
    const p = x[i]!;
    const q = y[i]!;
    if (p === q) continue;
    if (Number.isNaN(p) && Number.isNaN(q)) continue;
    if (!Number.isFinite(p) || !Number.isFinite(q)) return `element ${i}: ${p} vs ${q}`;
    const diff = Math.abs(p - q);
    if (diff > tol.atol + tol.rtol * Math.max(Math.abs(p), Math.abs(q))) {
      return `element ${i}: ${p} vs ${q} (|diff| ${diff.toPrecision(3)} > atol ${tol.atol} + rtol ${tol.rtol}·|value|)`;
    }
  }
  return null;
}

export function outputsDisagreement(a: readonly NamedTensor[], b: readonly NamedTensor[], tol: Tolerance): string | null {
  if (a.length !== b.length) return `${a.length} outputs vs ${b.length}`;
  for (let i = 0; i < a.length; i++) {
    const why = tensorDisagreement(a[i]!, b[i]!, tol);
    if (why) return `output ${JSON.stringify(a[i]!.name)}: ${why}`;
  }
  return null;
}
