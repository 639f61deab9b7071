/**
 * Comparing two gradient vectors, e.g. two volunteers' results for the same
 * shard, or a computed gradient against finite differences. Both metrics are
 * symmetric in their arguments and accumulate in float64.
 */
import { type NamedTensor, type Tensor, typedView } from '../../../shared/tensor/tensor.ts';
import type { GradientTolerance } from '../jobs/types.ts';

export interface GradientComparison {
  /** ||a - b|| / max(||a||, ||b||); 0 when both are zero. */
  relL2: number;
  /** a.b / (||a|| ||b||); 1 when both are zero, 0 when exactly one is. */
  cosine: number;
}

function check(a: Float32Array, b: Float32Array): void {
  if (a.length !== b.length) throw new Error(`gradients differ in length: ${a.length} vs ${b.length}`);
}

export function relativeL2Error(a: Float32Array, b: Float32Array): number {
  check(a, b);
  let diff = 0, na = 0, nb = 0;
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!, y = b[i]!;
    diff += (x - y) * (x - y);
    na += x * x;
    nb += y * y;
  }
  const scale = Math.sqrt(Math.max(na, nb));
  if (scale === 0) return 0;
  return Math.sqrt(diff) / scale;
}

export function cosineSimilarity(a: Float32Array, b: Float32Array): number {
  check(a, b);
  let dot = 0, na = 0, nb = 0;
  for (let i = 0; i < a.length; i++) {
    dot += a[i]! * b[i]!;
    na += a[i]! * a[i]!;
    nb += b[i]! * b[i]!;
  }
  if (na === 0 && nb === 0) return 1;
  if (na === 0 || nb === 0) return 0;
  return dot / Math.sqrt(na * nb);
}

export function compareGradients(a: Float32Array, b: Float32Array): GradientComparison {
  return { relL2: relativeL2Error(a, b), cosine: cosineSimilarity(a, b) };
}

/** True when the gradients agree within both bounds (NaN anywhere never agrees). */
export function gradientsAgree(a: Float32Array, b: Float32Array, tol: { maxRelL2: number; minCosine: number }): boolean {
  const { relL2, cosine } = compareGradients(a, b);
  return relL2 <= tol.maxRelL2 && cosine >= tol.minCosine;
}

/** Concatenates per-parameter gradients (in the given order) into one vector for comparison. */
export function flattenGradients(parts: readonly Float32Array[]): Float32Array {
  const out = new Float32Array(parts.reduce((s, p) => s + p.length, 0));
  let off = 0;
  for (const p of parts) { out.set(p, off); off += p.length; }
  return out;
}

/**
 * Replicas of one shard compute the same mean loss up to float rounding;
 * this much apart they did not compute the same thing. Tighter than the
 * gradients' bounds, since one scalar carries no accumulated error.
 */
export const LOSS_TOLERANCE = { rtol: 1e-3, atol: 1e-4 } as const;

const scalar = (t: Tensor) => Number(typedView(t as Tensor & { dtype: 'float32' })[0]);

/**
 * Two training results ([loss, ...gradients]) of one shard agree when their
 * losses match and their gradients are close in L2 and in direction; the
 * reason they do not, or null.
 */
export function gradientDisagreement(tol: GradientTolerance, a: NamedTensor[], b: NamedTensor[]): string | null {
  const la = scalar(a[0]!);
  const lb = scalar(b[0]!);
  if (!(Number.isFinite(la) && Number.isFinite(lb))) return `loss ${la} vs ${lb}`;
  if (Math.abs(la - lb) > LOSS_TOLERANCE.atol + LOSS_TOLERANCE.rtol * Math.max(Math.abs(la), Math.abs(lb))) return `loss ${la} vs ${lb}`;
  const flat = (x: NamedTensor[]) => flattenGradients(x.slice(1).map((t) => typedView(t as NamedTensor & { dtype: 'float32' })));
  const fa = flat(a);
  const fb = flat(b);
  for (const f of [fa, fb]) if (f.some((v) => !Number.isFinite(v))) return 'gradients hold NaN or Inf';
  const c = compareGradients(fa, fb);
  if (c.relL2 > tol.maxRelL2 || c.cosine < tol.minCosine) {
    return `gradients disagree: relative L2 error ${c.relL2.toPrecision(3)} (max ${tol.maxRelL2}), cosine ${c.cosine.toPrecision(4)} (min ${tol.minCosine})`;
  }
  return null;
}
