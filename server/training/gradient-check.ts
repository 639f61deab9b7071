/**
 * Comparing two gradient vectors, e.g. two volunteers' results for the same
 * shard, or a computed gradient against finite differences. Both metrics are
 * symmetric in their arguments and accumulate in float64.
 */

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
