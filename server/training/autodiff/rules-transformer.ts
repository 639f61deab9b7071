/**
 * Gradient rules for the ops a small transformer adds: embeddings (Gather),
 * the Erf of GELU, LayerNormalization, Where (masks), Sqrt and Pow, Slice and
 * Split, and Cast. Built only from ops WebGPU and WASM both run: Gather's
 * scatter-add is a one-hot Gemm (ScatterElements has no WebGPU kernel), and
 * LayerNormalization is written out as reductions and arithmetic, forward
 * (emit-forward.ts) and backward alike.
 */
import type { GradContext, GradRule } from './grad-context.ts';
import type { GraphBuilder } from './builder.ts';
import { attrFloat, attrInt } from './ir.ts';
import { attr } from './proto.ts';
import { allStatic, dimProduct, type Shape } from '../../../shared/onnx/dims.ts';

/** Axes normalised by LayerNormalization at `axis` of a rank-`rank` input. */
export const layerNormAxes = (axis: number, rank: number): number[] => Array.from({ length: rank - axis }, (_, i) => axis + i);

/** x̂ = (x - mean) · rstd over `axes` and rstd = 1/sqrt(var + eps), as the forward computes them. */
export function layerNormParts(b: GraphBuilder, x: string, axes: number[], eps: number): { xhat: string; rstd: string } {
  const mean = b.op('ReduceMean', [x], { axes: attr.ints(axes), keepdims: attr.int(1) });
  const d = b.op('Sub', [x, mean]);
  const variance = b.op('ReduceMean', [b.op('Mul', [d, d])], { axes: attr.ints(axes), keepdims: attr.int(1) });
  const rstd = b.op('Reciprocal', [b.op('Sqrt', [b.op('Add', [variance, b.f32(eps)])])]);
  return { xhat: b.op('Mul', [d, rstd]), rstd };
}

/** Embedding lookup along axis 0: dW[v] = Σ dY over the positions whose index is v, as onehot(idx)ᵀ · dY. */
const gather: GradRule = (ctx) => {
  const { b, ops, node } = ctx;
  const [w, idx] = node.inputs as [string, string];
  const ws = ctx.shape(w);
  const vocab = ws[0] as number;
  const rest = dimProduct(ws.slice(1)) as number;
  const hit = b.op('Equal', [ops.unsqueeze(idx, [ctx.shape(idx).length]), b.i64(Array.from({ length: vocab }, (_, i) => i))]);
  const oneHot = ops.reshape(b.op('Where', [hit, b.f32(1), b.f32(0)]), b.i64([-1, vocab]));
  const flat = ops.reshape(ctx.dY, b.i64([-1, rest]));
  const dw = b.op('Gemm', [oneHot, flat], { transA: attr.int(1) });
  return [ops.reshape(dw, b.i64(ws as number[])), null];
};

/** d erf(x)/dx = 2/√π · exp(-x²) */
const erf: GradRule = (ctx) => {
  const { b } = ctx;
  const x = ctx.node.inputs[0]!;
  const slope = b.op('Mul', [b.op('Exp', [b.op('Neg', [b.op('Mul', [x, x])])]), b.f32(2 / Math.sqrt(Math.PI))]);
  return [b.op('Mul', [ctx.dY, slope])];
};

/** d√x/dx = 1/(2√x) */
const sqrt: GradRule = (ctx) => {
  const { b } = ctx;
  const y = ctx.node.outputs[0]!;
  return [b.op('Div', [ctx.dY, b.op('Mul', [y, b.f32(2)])])];
};

/** y = x^p: dx = p·x^(p-1), dp = y·ln x (x > 0 where p is trained). */
const pow: GradRule = (ctx) => {
  const { b, ops, node } = ctx;
  const [x, p] = node.inputs as [string, string];
  const y = node.outputs[0]!;
  const ys = ctx.shape(y);
  return [
    ctx.needs(0) ? ops.unbroadcast(b.op('Mul', [ctx.dY, b.op('Mul', [p, b.op('Pow', [x, b.op('Sub', [p, b.f32(1)])])])]), ys, x, ctx.shape(x)) : null,
    ctx.needs(1) ? ops.unbroadcast(b.op('Mul', [ctx.dY, b.op('Mul', [y, b.op('Log', [x])])]), ys, p, ctx.shape(p)) : null,
  ];
};

/** Where(c, x, y): the gradient goes to the branch each element was taken from. */
const where: GradRule = (ctx) => {
  const { b, ops, node } = ctx;
  const [c, x, y] = node.inputs as [string, string, string];
  const ys = ctx.shape(node.outputs[0]!);
  const zero = b.f32(0);
  return [
    null,
    ctx.needs(1) ? ops.unbroadcast(b.op('Where', [c, ctx.dY, zero]), ys, x, ctx.shape(x)) : null,
    ctx.needs(2) ? ops.unbroadcast(b.op('Where', [c, zero, ctx.dY]), ys, y, ctx.shape(y)) : null,
  ];
};

/**
 * LayerNormalization over axes [axis, rank): with x̂ = (x - μ)·rstd and g = dY·scale,
 * dx = rstd · (g - mean(g) - x̂ · mean(g·x̂)); dscale and dB sum dY·x̂ and dY over the other axes.
 */
const layerNorm: GradRule = (ctx) => {
  const { b, ops, node } = ctx;
  const [x, scale, bias] = node.inputs as [string, string, string | undefined];
  const xs = ctx.shape(x);
  const axes = layerNormAxes(attrInt(node, 'axis', -1), xs.length);
  const { xhat, rstd } = layerNormParts(b, x, axes, attrFloat(node, 'epsilon', 1e-5));
  const grads: (string | null)[] = [null, null, null];
  if (ctx.needs(0)) {
    const g = b.op('Mul', [ctx.dY, scale]);
    const meanG = b.op('ReduceMean', [g], { axes: attr.ints(axes), keepdims: attr.int(1) });
    const meanGx = b.op('ReduceMean', [b.op('Mul', [g, xhat])], { axes: attr.ints(axes), keepdims: attr.int(1) });
    grads[0] = b.op('Mul', [rstd, b.op('Sub', [b.op('Sub', [g, meanG]), b.op('Mul', [xhat, meanGx])])]);
  }
  if (ctx.needs(1)) grads[1] = ops.unbroadcast(b.op('Mul', [ctx.dY, xhat]), xs, scale, ctx.shape(scale));
  if (bias && ctx.needs(2)) grads[2] = ops.unbroadcast(ctx.dY, xs, bias, ctx.shape(bias));
  return grads;
};

/** Slice with step 1 and constant bounds: the gradient is dY padded back with zeros to x's shape. */
const slice: GradRule = (ctx) => {
  const { b, node } = ctx;
  const x = node.inputs[0]!;
  const xs = ctx.shape(x);
  const bounds = sliceBounds(ctx, xs);
  const head = xs.map((_, i) => bounds.get(i)?.[0] ?? 0);
  const tail = xs.map((d, i) => { const r = bounds.get(i); return r ? (d as number) - r[1] : 0; });
  return [b.op('Pad', [ctx.dY, b.i64([...head, ...tail])]), null, null, null, null];
};

/** [start, end) per sliced axis, clamped as Slice clamps them (steps are 1: see the rule's limit). */
export function sliceBounds(ctx: Pick<GradContext, 'node' | 'constant'>, xs: Shape): Map<number, [number, number]> {
  const [, s, e, a] = ctx.node.inputs;
  const starts = ctx.constant(s!)!;
  const ends = ctx.constant(e!)!;
  const axes = a ? ctx.constant(a)! : starts.map((_, i) => i);
  const out = new Map<number, [number, number]>();
  axes.forEach((raw, i) => {
    const axis = raw < 0 ? raw + xs.length : raw;
    const d = xs[axis] as number;
    const clamp = (v: number) => Math.min(Math.max(v < 0 ? v + d : v, 0), d);
    out.set(axis, [clamp(starts[i]!), Math.max(clamp(starts[i]!), clamp(ends[i]!))]);
  });
  return out;
}

/** Split: the output gradients joined again along the axis (zeros for an output the loss does not reach). */
const split: GradRule = (ctx) => {
  const { b, ops, node } = ctx;
  const parts = node.outputs.map((o, i) => ctx.dYs[i] ?? b.op('Expand', [b.f32(0), ops.shapeTensor(o)]));
  return [b.op('Concat', parts, { axis: attr.int(attrInt(node, 'axis', 0)) }), null];
};

/** Cast to float32 passes the gradient through; a cast to integers has none. */
const cast: GradRule = (ctx) => [attrInt(ctx.node, 'to', 1) === 1 ? ctx.dY : null];

export const TRANSFORMER_RULES: Record<string, GradRule> = {
  Gather: gather, Erf: erf, Sqrt: sqrt, Pow: pow, Where: where, LayerNormalization: layerNorm,
  Slice: slice, Split: split, Cast: cast,
};

/** Static dims where a rule needs them. */
export const staticDims = (s: Shape): s is number[] => allStatic(s);
