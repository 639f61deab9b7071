/**
 * Loss heads appended to the forward graph. Each returns the scalar loss
 * tensor and the seed gradient dLoss/dOutput, written in closed form (cheaper
 * and better conditioned than differentiating the loss arithmetic node by node).
 *
 * Both losses are MEANS over the batch, so a shard's loss and gradients do not
 * scale with its size; combining shards means weighting each by its size.
 *  - cross-entropy: mean over labelled positions of logsumexp(z_p) - z_p[y_p],
 *    softmax cross-entropy on raw logits z [N, C] with int64 labels y [N], or
 *    on a sequence's logits [N, T, C] (any rank, classes last) with labels
 *    [N, T]; a label IGNORE_INDEX (-100, PyTorch's default) marks a position
 *    that is not scored (padding, the question of a sequence task). With no
 *    such label it is the mean over the batch.
 *  - mse: mean over all elements of (y - t)^2, i.e. the batch mean of the
 *    per-sample mean squared error; labels t are float32 shaped like the output.
 */
import type { GraphBuilder } from './builder.ts';
import { TrainStepError } from './errors.ts';
import { GradOps } from './grad-context.ts';
import { attr } from './proto.ts';
import { allStatic, isStatic, shapeToString } from '../../../shared/onnx/dims.ts';
import type { Shape } from '../../../shared/onnx/dims.ts';

export type LossKind = 'cross-entropy' | 'mse';

export interface LossHead {
  loss: string;
  seed: string;
  labels: { dtype: 'int64' | 'float32'; dims: Shape };
}

export function buildLoss(
  b: GraphBuilder, kind: LossKind, output: string, outShape: Shape, labels: string, lossName: string,
  shapeOf: (n: string) => Shape,
): LossHead {
  if (kind === 'cross-entropy') return crossEntropy(b, output, outShape, labels, lossName);
  if (kind === 'mse') return mse(b, output, outShape, labels, lossName, shapeOf);
  throw new TrainStepError(`unknown loss ${JSON.stringify(kind)}; use 'cross-entropy' or 'mse'`);
}

/** A label that marks a position the cross-entropy loss (and the held-out score) skips. */
export const IGNORE_INDEX = -100;

function crossEntropy(b: GraphBuilder, z: string, zs: Shape, labels: string, lossName: string): LossHead {
  if (zs.length < 2) {
    throw new TrainStepError(
      `cross-entropy expects the model output ${z} to be logits [N, C] (or [N, ..., C]), but its shape is ${shapeToString(zs)}`,
    );
  }
  const last = zs.length - 1;
  const classes = zs[last]!;
  if (!isStatic(classes)) {
    throw new TrainStepError(`cross-entropy needs a static class count, output ${z} is ${shapeToString(zs)}`);
  }
  const labelAxes = zs.slice(0, -1).map((_, i) => i);
  const ops = new GradOps(b, () => zs);
  const max = b.op('ReduceMax', [z], { axes: attr.ints([last]), keepdims: attr.int(1) });
  const shifted = b.op('Sub', [z, max]);
  const exp = b.op('Exp', [shifted]);
  const sumExp = ops.reduceSum(exp, [last], true);
  const logProb = b.op('Sub', [shifted, b.op('Log', [sumExp])]);
  // one-hot by comparing labels [..., 1] with the class ids [C] (OneHot has no WebGPU kernel); an ignored label matches none
  const hit = b.op('Equal', [ops.unsqueeze(labels, [last]), b.i64(Array.from({ length: classes }, (_, i) => i))]);
  const oneHot = b.op('Where', [hit, b.f32(1), b.f32(0)]);
  const scored = b.op('Where', [b.op('Equal', [labels, b.i64([IGNORE_INDEX], [])]), b.f32(0), b.f32(1)]);
  const picked = ops.reduceSum(b.op('Mul', [logProb, oneHot]), [last], false);
  const counted = ops.reduceSum(scored, labelAxes, false);
  // a batch with no scored position has loss 0, not 0/0
  const count = b.op('Where', [b.op('Equal', [counted, b.f32(0)]), b.f32(1), counted]);
  const loss = b.opNamed('Neg', [b.op('Div', [ops.reduceSum(picked, labelAxes, false), count])], lossName);

  // d/dz = (softmax(z) - onehot) · scored / count
  const seed = b.op('Div', [b.op('Mul', [b.op('Sub', [b.op('Div', [exp, sumExp]), oneHot]), ops.unsqueeze(scored, [last])]), count]);
  return { loss, seed, labels: { dtype: 'int64', dims: zs.slice(0, -1) } };
}

function mse(b: GraphBuilder, y: string, ys: Shape, labels: string, lossName: string, shapeOf: (n: string) => Shape): LossHead {
  if (ys.length === 0) {
    throw new TrainStepError(`mse expects the model output ${y} to have a batch dimension, but it is a scalar`);
  }
  const ops = new GradOps(b, shapeOf);
  const axes = ys.map((_, i) => i);
  const diff = b.op('Sub', [y, labels]);
  const loss = b.opNamed('ReduceMean', [b.op('Mul', [diff, diff])], lossName, {
    axes: attr.ints(axes),
    keepdims: attr.int(0),
  });
  let count = ops.count(y, axes);
  if (!allStatic(ys)) count = ops.reshape(count, b.i64([]));
  const seed = b.op('Mul', [diff, b.op('Div', [b.f32(2), count])]);
  return { loss, seed, labels: { dtype: 'float32', dims: [...ys] } };
}
