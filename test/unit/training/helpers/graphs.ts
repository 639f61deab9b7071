/** Tiny forward models for gradient tests, built with the library's own GraphBuilder. */
import type { Tensor } from '../../../../shared/tensor/tensor.ts';
import { GraphBuilder, toModelBytes } from '../../../../server/training/autodiff/builder.ts';
import { float32Tensor, int64Tensor } from '../../../../server/training/autodiff/proto.ts';
import type { Dim } from '../../../../server/training/autodiff/proto.ts';
import { createRng } from '../../../../server/training/rng.ts';
import type { Rng } from '../../../../server/training/rng.ts';

export interface ForwardSpec {
  input: Dim[];
  params: Record<string, { dims: number[]; values: ArrayLike<number> }>;
  /** Builds the graph from the data input name; returns the output tensor name. */
  body: (b: GraphBuilder, x: string) => string;
  opset?: number;
}

export function makeForward(spec: ForwardSpec): Uint8Array {
  const b = new GraphBuilder(['x', ...Object.keys(spec.params)]);
  for (const [name, p] of Object.entries(spec.params)) b.namedInitializer(name, float32Tensor(p.dims, p.values));
  const out = spec.body(b, 'x');
  return toModelBytes(b, {
    inputs: [{ name: 'x', dtype: 'float32', dims: spec.input }],
    outputs: [{ name: out, dtype: 'float32', dims: null }],
  }, { opset: spec.opset ?? 17, name: 'test' });
}

export const count = (dims: number[]): number => dims.reduce((a, b) => a * b, 1);

export function normal(rng: Rng, dims: number[], scale = 1): Float32Array {
  return Float32Array.from({ length: count(dims) }, () => rng.normal() * scale);
}

export function uniform(rng: Rng, dims: number[], lo: number, hi: number): Float32Array {
  return Float32Array.from({ length: count(dims) }, () => lo + (hi - lo) * rng.next());
}

/** Values with |v| in [lo, hi] and random sign: keeps ReLU-like kinks out of finite-difference reach. */
export function awayFromZero(rng: Rng, dims: number[], lo = 0.3, hi = 1): Float32Array {
  return Float32Array.from({ length: count(dims) }, () => (rng.next() < 0.5 ? -1 : 1) * (lo + (hi - lo) * rng.next()));
}

/** Distinct values spaced `gap` apart in random order: no two inputs of a max tie within 2*eps. */
export function distinct(rng: Rng, dims: number[], gap = 0.05): Float32Array {
  const n = count(dims);
  const v = Float32Array.from({ length: n }, (_, i) => (i - n / 2) * gap);
  for (let i = n - 1; i > 0; i--) { const j = rng.int(i + 1); [v[i], v[j]] = [v[j]!, v[i]!]; }
  return v;
}

export function f32(dims: number[], values: ArrayLike<number>): Tensor {
  return float32Tensor(dims, values);
}

export function i64(dims: number[], values: ArrayLike<number>): Tensor {
  return int64Tensor(dims, values);
}

export { createRng };
