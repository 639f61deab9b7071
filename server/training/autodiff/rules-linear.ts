/** Gradient rules for MatMul (numpy batched, 1-D operands included) and Gemm. */
import type { GradContext, GradRule } from './grad-context.ts';
import { attrFloat, attrInt } from './ir.ts';
import { attr } from './proto.ts';
import { broadcastShapes } from '../../../shared/onnx/dims.ts';
import type { Shape } from '../../../shared/onnx/dims.ts';

const swapLast2 = (rank: number): number[] => {
  const p = Array.from({ length: rank }, (_, i) => i);
  [p[rank - 2], p[rank - 1]] = [p[rank - 1]!, p[rank - 2]!];
  return p;
};

const matMul: GradRule = (ctx) => {
  const { b, ops, node } = ctx;
  const [a, w] = node.inputs as [string, string];
  const sa = ctx.shape(a);
  const sw = ctx.shape(w);

  // plain 2-D case: one Gemm per gradient, no explicit transposes
  if (sa.length === 2 && sw.length === 2) {
    return [
      ctx.needs(0) ? b.op('Gemm', [ctx.dY, w], { transB: attr.int(1) }) : null,
      ctx.needs(1) ? b.op('Gemm', [a, ctx.dY], { transA: attr.int(1) }) : null,
    ];
  }

  // promote 1-D operands to matrices as MatMul does, then undo it on the way back
  const a2 = sa.length === 1 ? ops.unsqueeze(a, [0]) : a;
  const sa2: Shape = sa.length === 1 ? [1, sa[0]!] : sa;
  const w2 = sw.length === 1 ? ops.unsqueeze(w, [1]) : w;
  const sw2: Shape = sw.length === 1 ? [sw[0]!, 1] : sw;
  const batch = broadcastShapes(sa2.slice(0, -2), sw2.slice(0, -2))!;
  const rank = batch.length + 2;
  const inserted: number[] = [];
  if (sa.length === 1) inserted.push(rank - 2);
  if (sw.length === 1) inserted.push(rank - 1);
  const dY2 = inserted.length ? ops.unsqueeze(ctx.dY, inserted) : ctx.dY;
  const m = sa2[sa2.length - 2]!;
  const k = sa2[sa2.length - 1]!;
  const n = sw2[sw2.length - 1]!;

  const grads: (string | null)[] = [null, null];
  if (ctx.needs(0)) {
    const g = b.op('MatMul', [dY2, ops.transpose(w2, swapLast2(sw2.length))]);
    let ga = ops.unbroadcast(g, [...batch, m, k], a2, sa2);
    if (sa.length === 1) ga = ops.reshape(ga, ops.shapeTensor(a, sa));
    grads[0] = ga;
  }
  if (ctx.needs(1)) {
    const g = b.op('MatMul', [ops.transpose(a2, swapLast2(sa2.length)), dY2]);
    let gw = ops.unbroadcast(g, [...batch, k, n], w2, sw2);
    if (sw.length === 1) gw = ops.reshape(gw, ops.shapeTensor(w, sw));
    grads[1] = gw;
  }
  return grads;
};

/**
 * Y = alpha * op(A) @ op(B) + beta * C, op = optional transpose. Each input
 * gradient is again a single Gemm with the transposes folded into its flags.
 */
const gemm: GradRule = (ctx: GradContext) => {
  const { b, ops, node } = ctx;
  const [a, w, c] = node.inputs as [string, string, string | undefined];
  const tA = attrInt(node, 'transA', 0) === 1;
  const tB = attrInt(node, 'transB', 0) === 1;
  const alpha = attrFloat(node, 'alpha', 1);
  const beta = attrFloat(node, 'beta', 1);
  const flags = (ta: boolean, tb: boolean) => ({
    ...(ta ? { transA: attr.int(1) } : {}),
    ...(tb ? { transB: attr.int(1) } : {}),
    ...(alpha !== 1 ? { alpha: attr.float(alpha) } : {}),
  });
  const dY = ctx.dY;
  const grads: (string | null)[] = [null, null, null];
  if (ctx.needs(0)) {
    // dA' = alpha dY op(B)^T;  dA = dA' or its transpose
    grads[0] = tA ? b.op('Gemm', [w, dY], flags(tB, true)) : b.op('Gemm', [dY, w], flags(false, !tB));
  }
  if (ctx.needs(1)) {
    // dB' = alpha op(A)^T dY;  dB = dB' or its transpose
    grads[1] = tB ? b.op('Gemm', [dY, a], flags(true, tA)) : b.op('Gemm', [a, dY], flags(!tA, false));
  }
  if (c && ctx.needs(2)) {
    let gc = ops.unbroadcast(dY, ctx.shape(node.outputs[0]!), c, ctx.shape(c));
    if (beta !== 1) gc = b.op('Mul', [gc, b.f32(beta)]);
    grads[2] = gc;
  }
  return grads;
};

export const LINEAR_RULES: Record<string, GradRule> = { MatMul: matMul, Gemm: gemm };
