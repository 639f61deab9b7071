/**
 * Loss heads appended to the forward graph. Each returns the scalar loss
 * tensor and the seed gradient dLoss/dOutput, written in closed form (cheaper
 * and better conditioned than differentiating the loss arithmetic node by node).
 *
 * Both losses are MEANS over the batch, so a shard's loss and gradients do not
 * scale with its size; combining shards means weighting each by its size.
 *  - cross-entropy: mean_n( logsumexp(z_n) - z_n[y_n] ) for logits z [N, C] and
 *    int64 labels y [N] (softmax cross-entropy on raw logits).
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

function crossEntropy(b: GraphBuilder, z: string, zs: Shape, labels: string, lossName: string): LossHead {
  if (zs.length !== 2) {
    throw new TrainStepError(
      `cross-entropy expects the model output ${z} to be logits [N, C], but its shape is ${shapeToString(zs)}`,
    );
  }
  const classes = zs[1]!;
  if (!isStatic(classes)) {
    throw new TrainStepError(`cross-entropy needs a static class count, output ${z} is ${shapeToString(zs)}`);
  }
  const ops = new GradOps(b, () => [zs[0]!]);
  const max = b.op('ReduceMax', [z], { axes: attr.ints([1]), keepdims: attr.int(1) });
  const shifted = b.op('Sub', [z, max]);
  const exp = b.op('Exp', [shifted]);
  const sumExp = ops.reduceSum(exp, [1], true);
  const logProb = b.op('Sub', [shifted, b.op('Log', [sumExp])]);
  // one-hot by comparing labels [N,1] with the class ids [1,C] (OneHot has no WebGPU kernel)
  const hit = b.op('Equal', [ops.unsqueeze(labels, [1]), b.i64(Array.from({ length: classes }, (_, i) => i), [1, classes])]);
  const oneHot = b.op('Where', [hit, b.f32(1), b.f32(0)]);
  const picked = ops.reduceSum(b.op('Mul', [logProb, oneHot]), [1], false);
  const mean = b.op('ReduceMean', [picked], { axes: attr.ints([0]), keepdims: attr.int(0) });
  const loss = b.opNamed('Neg', [mean], lossName);

  // d/dz = (softmax(z) - onehot) / N
  const n = ops.reduceSum(b.op('Expand', [b.f32(1), b.op('Shape', [labels])]), [0], false);
  const seed = b.op('Div', [b.op('Sub', [b.op('Div', [exp, sumExp]), oneHot]), n]);
  return { loss, seed, labels: { dtype: 'int64', dims: [zs[0]!] } };
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
