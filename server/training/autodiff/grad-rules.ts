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
import { shapeToString } from '../../../shared/onnx/dims.ts';
import type { Shape } from '../../../shared/onnx/dims.ts';

export const GRAD_RULES: Readonly<Record<string, GradRule>> = {
  ...LINEAR_RULES, ...ELEMENTWISE_RULES, ...SHAPE_RULES, ...CONV_POOL_RULES,
};

/** Forward-only ops the parser removes (aliases) or folds into constants; they need no rule. */
export const PASS_THROUGH_OPS = ['Dropout', 'Identity', 'Constant'] as const;

/** Why this node is a variant the rule cannot differentiate (given its input shapes and the model's opset), or null. */
export type GradLimit = (node: IrNode, inShape: (i: number) => Shape, opset: number) => string | null;

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
};
