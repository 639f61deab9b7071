/**
 * The autodiff's own table: a gradient rule per op it can train through, keyed
 * by the op registry's names (shared/onnx/ops/: shapes, FLOPs and backends
 * live there), and the limits of those rules, i.e. the variants of a
 * registered op that no rule here differentiates.
 */
import type { GradRule } from './grad-context.ts';
import type { IrNode } from './ir.ts';
import { attrInt } from './ir.ts';
import { CONV_POOL_RULES } from './rules-conv-pool.ts';
import { ELEMENTWISE_RULES } from './rules-elementwise.ts';
import { LINEAR_RULES } from './rules-linear.ts';
import { SHAPE_RULES } from './rules-shape.ts';
import { TRANSFORMER_RULES } from './rules-transformer.ts';
import { allStatic, shapeToString } from '../../../shared/onnx/dims.ts';
import type { Shape } from '../../../shared/onnx/dims.ts';

export const GRAD_RULES: Readonly<Record<string, GradRule>> = {
  ...LINEAR_RULES, ...ELEMENTWISE_RULES, ...SHAPE_RULES, ...CONV_POOL_RULES, ...TRANSFORMER_RULES,
};

/** Forward-only ops the parser removes (aliases) or folds into constants; they need no rule. */
export const PASS_THROUGH_OPS = ['Dropout', 'Identity', 'Constant'] as const;

/**
 * Why this node is a variant the rule cannot differentiate, or null; it sees the
 * node's input shapes, the model's opset and the values of constant inputs.
 */
export type GradLimit = (node: IrNode, inShape: (i: number) => Shape, opset: number, constant: (name: string) => number[] | undefined) => string | null;

const lastAxisOnlyBefore13: GradLimit = (node, inShape, opset) => {
  if (opset >= 13) return null;
  const rank = inShape(0).length;
  const axis = attrInt(node, 'axis', 1);
  return (axis < 0 ? axis + rank : axis) === rank - 1
    ? null
    : `before opset 13 ${node.op} flattens to 2-D at axis ${axis}; only the last axis is supported`;
};

const only2dPooling: GradLimit = (_node, inShape) =>
  inShape(0).length === 4 ? null : `only 2-D pooling (4-D input NCHW) is supported, input is ${shapeToString(inShape(0))}`;

export const GRAD_LIMITS: Readonly<Record<string, GradLimit>> = {
  Softmax: lastAxisOnlyBefore13,
  LogSoftmax: lastAxisOnlyBefore13,
  Conv: (node, inShape) => {
    if (inShape(0).length !== 4 || inShape(1).length !== 4) {
      return `only 2-D convolution (4-D input NCHW) is supported, input is ${shapeToString(inShape(0))}`;
    }
    const group = attrInt(node, 'group', 1);
    return group === 1 ? null : `group=${group} is not supported (group=1 only)`;
  },
  MaxPool: only2dPooling,
  AveragePool: only2dPooling,
  Gather: (node, inShape) => {
    if (attrInt(node, 'axis', 0) !== 0) return `axis=${attrInt(node, 'axis', 0)} is not supported (embeddings, axis 0, only)`;
    return allStatic(inShape(0)) ? null : `the gathered tensor must have a static shape, it is ${shapeToString(inShape(0))}`;
  },
  LayerNormalization: (node) => (node.outputs.slice(1).some(Boolean)
    ? 'only the normalised output Y is supported (not Mean or InvStdDev)' : null),
  Slice: (node, inShape, _opset, constant) => {
    const [, s, e, a, st] = node.inputs;
    if (![s, e, a, st].every((t) => !t || constant(t))) return 'starts, ends, axes and steps must be constants';
    if (st && constant(st)!.some((v) => v !== 1)) return 'only step 1 is supported';
    const x = inShape(0);
    const axes = a ? constant(a)! : constant(s!)!.map((_, i) => i);
    return axes.every((ax) => typeof x[ax < 0 ? ax + x.length : ax] === 'number') ? null : `sliced axes must be static, input is ${shapeToString(x)}`;
  },
};
