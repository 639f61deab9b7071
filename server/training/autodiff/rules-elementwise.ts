/** Gradient rules for element-wise arithmetic (with numpy broadcasting) and activations. */
import type { GradContext, GradRule } from './grad-context.ts';
import { attrFloat, attrInt } from './ir.ts';

function binary(ctx: GradContext, local: (i: 0 | 1) => string): (string | null)[] {
  const { node, ops } = ctx;
  const yShape = ctx.shape(node.outputs[0]!);
  return [0, 1].map((i) => {
    if (!ctx.needs(i)) return null;
    const x = node.inputs[i]!;
    return ops.unbroadcast(local(i as 0 | 1), yShape, x, ctx.shape(x));
  });
}

const add: GradRule = (ctx) => binary(ctx, () => ctx.dY);

const sub: GradRule = (ctx) => {
  const [ga, gb] = binary(ctx, () => ctx.dY);
  // negate after reducing: the reduced tensor is never larger
  return [ga ?? null, gb ? ctx.b.op('Neg', [gb]) : null];
};

const mul: GradRule = (ctx) => {
  const [a, b] = ctx.node.inputs as [string, string];
  return binary(ctx, (i) => ctx.b.op('Mul', [ctx.dY, i === 0 ? b : a]));
};

const div: GradRule = (ctx) => {
  const [, b] = ctx.node.inputs as [string, string];
  const y = ctx.node.outputs[0]!;
  return binary(ctx, (i) => {
    if (i === 0) return ctx.b.op('Div', [ctx.dY, b]);
    // d(a/b)/db = -a/b^2 = -y/b
    return ctx.b.op('Neg', [ctx.b.op('Div', [ctx.b.op('Mul', [ctx.dY, y]), b])]);
  });
};

const relu: GradRule = (ctx) => {
  const { b } = ctx;
  const zero = b.f32(0);
  const positive = b.op('Greater', [ctx.node.inputs[0]!, zero]);
  return [b.op('Where', [positive, ctx.dY, zero])];
};

const leakyRelu: GradRule = (ctx) => {
  const { b } = ctx;
  const alpha = attrFloat(ctx.node, 'alpha', 0.01);
  const positive = b.op('Greater', [ctx.node.inputs[0]!, b.f32(0)]);
  return [b.op('Where', [positive, ctx.dY, b.op('Mul', [ctx.dY, b.f32(alpha)])])];
};

const sigmoid: GradRule = (ctx) => {
  const { b } = ctx;
  const y = ctx.node.outputs[0]!;
  const slope = b.op('Mul', [y, b.op('Sub', [b.f32(1), y])]);
  return [b.op('Mul', [ctx.dY, slope])];
};

const tanh: GradRule = (ctx) => {
  const { b } = ctx;
  const y = ctx.node.outputs[0]!;
  const slope = b.op('Sub', [b.f32(1), b.op('Mul', [y, y])]);
  return [b.op('Mul', [ctx.dY, slope])];
};

const softmax: GradRule = (ctx) => {
  const { b, ops } = ctx;
  const y = ctx.node.outputs[0]!;
  const axis = attrInt(ctx.node, 'axis', -1);
  const dot = ops.reduceSum(b.op('Mul', [ctx.dY, y]), [axis], true);
  return [b.op('Mul', [y, b.op('Sub', [ctx.dY, dot])])];
};

const logSoftmax: GradRule = (ctx) => {
  const { b, ops } = ctx;
  const y = ctx.node.outputs[0]!;
  const axis = attrInt(ctx.node, 'axis', -1);
  const total = ops.reduceSum(ctx.dY, [axis], true);
  return [b.op('Sub', [ctx.dY, b.op('Mul', [b.op('Exp', [y]), total])])];
};

export const ELEMENTWISE_RULES: Record<string, GradRule> = {
  Add: add, Sub: sub, Mul: mul, Div: div,
  Relu: relu, LeakyRelu: leakyRelu, Sigmoid: sigmoid, Tanh: tanh,
  Softmax: softmax, LogSoftmax: logSoftmax,
};
