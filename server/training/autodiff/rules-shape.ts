/** Gradient rules for shape manipulation and reductions. */
import type { GradContext, GradRule } from './grad-context.ts';
import { attrInt, attrInts } from './ir.ts';
import { attr } from './proto.ts';
import { isStatic } from '../../../shared/onnx/dims.ts';

const reshapeBack: GradRule = (ctx) => {
  const x = ctx.node.inputs[0]!;
  return [ctx.ops.reshape(ctx.dY, ctx.ops.shapeTensor(x)), null];
};

const transpose: GradRule = (ctx) => {
  const perm = attrInts(ctx.node, 'perm')!;
  const inverse = perm.map((_, i) => perm.indexOf(i));
  return [ctx.ops.transpose(ctx.dY, inverse)];
};

const concat: GradRule = (ctx) => {
  const { b, node } = ctx;
  const axis = attrInt(node, 'axis', 0);
  const sizes = node.inputs.map((x) => ctx.shape(x)[axis]!);
  const axes = b.i64([axis]);
  if (sizes.every(isStatic)) {
    let offset = 0;
    return node.inputs.map((_, i) => {
      const start = offset;
      offset += sizes[i] as number;
      return ctx.needs(i) ? b.op('Slice', [ctx.dY, b.i64([start]), b.i64([offset]), axes]) : null;
    });
  }
  // symbolic sizes along the axis: offsets from Shape(x, start=axis, end=axis+1)
  let offset = b.i64([0]);
  return node.inputs.map((x, i) => {
    const start = offset;
    const len = isStatic(sizes[i]!)
      ? b.i64([sizes[i] as number])
      : b.op('Shape', [x], { start: attr.int(axis), end: attr.int(axis + 1) });
    offset = b.op('Add', [start, len]);
    return ctx.needs(i) ? b.op('Slice', [ctx.dY, start, offset, axes]) : null;
  });
};

/** Brings dY back to x's rank (re-inserting reduced axes) and broadcasts it over x. */
function spreadOverReduced(ctx: GradContext, g: string): string {
  const x = ctx.node.inputs[0]!;
  const axes = attrInts(ctx.node, 'axes')!;
  const keep = attrInt(ctx.node, 'keepdims', 1) === 1;
  const kept = keep ? g : ctx.ops.unsqueeze(g, axes);
  return ctx.b.op('Expand', [kept, ctx.ops.shapeTensor(x)]);
}

const reduceSum: GradRule = (ctx) => [spreadOverReduced(ctx, ctx.dY)];

const reduceMean: GradRule = (ctx) => {
  const x = ctx.node.inputs[0]!;
  const axes = attrInts(ctx.node, 'axes')!;
  const keep = attrInt(ctx.node, 'keepdims', 1) === 1;
  let n = ctx.ops.count(x, axes);
  // a symbolic count comes back with kept dims; drop them to match dY when keepdims=0
  if (!keep && !axes.every((a) => isStatic(ctx.shape(x)[a]!))) n = ctx.ops.reshape(n, ctx.b.i64([]));
  return [spreadOverReduced(ctx, ctx.b.op('Div', [ctx.dY, n]))];
};

const globalAveragePool: GradRule = (ctx) => {
  const x = ctx.node.inputs[0]!;
  const spatial = ctx.shape(x).map((_, i) => i).slice(2);
  const n = ctx.ops.count(x, spatial);
  return [ctx.b.op('Expand', [ctx.b.op('Div', [ctx.dY, n]), ctx.ops.shapeTensor(x)])];
};

export const SHAPE_RULES: Record<string, GradRule> = {
  Reshape: reshapeBack, Flatten: reshapeBack, Transpose: transpose, Concat: concat,
  ReduceSum: reduceSum, ReduceMean: reduceMean, GlobalAveragePool: globalAveragePool,
};
