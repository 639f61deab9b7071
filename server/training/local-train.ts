/**
 * Reference single-process trainer: mini-batch SGD/Adam driven by a
 * train-step graph. It is what a volunteer round does (run the graph on a
 * batch, get loss and gradients) plus the coordinator's update, in one loop;
 * tests use it to prove the generated graphs actually train.
 */
import type { Tensor } from '../../shared/tensor/tensor.ts';
import type { TrainStep } from './autodiff/train-step.ts';
import { initOptimizerState, optimizerStep } from './optimizer.ts';
import type { OptimizerConfig, OptimizerState, Params } from './optimizer.ts';
import { paramsToTensors, tensorsToParams } from './params.ts';
import type { TensorRunner } from './ort-runner.ts';
import { createRng, permutation } from './rng.ts';

export interface LocalTrainOptions {
  step: TrainStep;
  /** Runs `step.model`. */
  runner: TensorRunner;
  /** Samples, row-major, each shaped like step.batch.data.dims without the batch dim. */
  data: Float32Array;
  /** int64 class ids for cross-entropy, float32 targets for mse. */
  labels: BigInt64Array | Float32Array;
  batchSize: number;
  epochs: number;
  optimizer: OptimizerConfig;
  /** Shuffling seed; default 0. */
  seed?: number;
  /** Starting parameters; default step.initialParams. */
  params?: Params;
  onBatch?: (info: { step: number; loss: number }) => void;
}

export interface LocalTrainResult {
  params: Params;
  optimizer: OptimizerState;
  /** Mean batch loss of every step, in order. */
  losses: number[];
}

function staticTail(dims: readonly (number | string)[], what: string): number[] {
  const tail = dims.slice(1);
  if (!tail.every((d): d is number => typeof d === 'number')) throw new Error(`${what} dims beyond the batch must be static, got [${dims}]`);
  return tail;
}

export async function trainLocally(o: LocalTrainOptions): Promise<LocalTrainResult> {
  const sampleDims = staticTail(o.step.batch.data.dims, 'data');
  const labelDims = staticTail(o.step.batch.labels.dims, 'labels');
  const sampleSize = sampleDims.reduce((a, b) => a * b, 1);
  const labelSize = labelDims.reduce((a, b) => a * b, 1);
  const count = o.data.length / sampleSize;
  if (!Number.isInteger(count)) throw new Error(`data length ${o.data.length} is not a multiple of the sample size ${sampleSize}`);
  if (o.labels.length !== count * labelSize) throw new Error(`${o.labels.length} label values for ${count} samples`);
  const wantInt = o.step.batch.labels.dtype === 'int64';
  if (wantInt !== o.labels instanceof BigInt64Array) throw new Error(`labels must be ${o.step.batch.labels.dtype}`);
  if (!(Number.isInteger(o.batchSize) && o.batchSize > 0)) throw new Error('batchSize must be a positive integer');

  let params = o.params ?? tensorsToParams(o.step.initialParams);
  let state = initOptimizerState(o.optimizer, params);
  const losses: number[] = [];
  const rng = createRng(o.seed ?? 0);
  const gradNames = o.step.outputs.grads;

  for (let epoch = 0; epoch < o.epochs; epoch++) {
    const order = permutation(count, rng);
    for (let start = 0; start < count; start += o.batchSize) {
      const idx = order.subarray(start, Math.min(count, start + o.batchSize));
      const batch = gatherRows(o.data, idx, sampleSize);
      const labels = o.labels instanceof BigInt64Array
        ? gatherRows(o.labels, idx, labelSize)
        : gatherRows(o.labels, idx, labelSize);
      const feeds: Record<string, Tensor> = {
        ...paramsToTensors(params, o.step.params),
        [o.step.inputs.data]: bytesTensor('float32', [idx.length, ...sampleDims], batch),
        [o.step.inputs.labels]: bytesTensor(wantInt ? 'int64' : 'float32', [idx.length, ...labelDims], labels),
      };
      const out = await o.runner.run(feeds, [o.step.outputs.loss, ...gradNames]);
      const loss = new Float32Array(out[o.step.outputs.loss]!.data.slice().buffer)[0]!;
      const grads = tensorsToParams(Object.fromEntries(o.step.params.map((p, i) => [p.name, out[gradNames[i]!]!])));
      ({ params, state } = optimizerStep(state, params, grads));
      losses.push(loss);
      o.onBatch?.({ step: losses.length, loss });
    }
  }
  return { params, optimizer: state, losses };
}

function gatherRows<T extends Float32Array | BigInt64Array>(src: T, rows: Uint32Array, width: number): T {
  const out = new (src.constructor as { new (n: number): T })(rows.length * width);
  rows.forEach((r, k) => out.set(src.subarray(r * width, (r + 1) * width) as never, k * width));
  return out;
}

function bytesTensor(dtype: 'float32' | 'int64', dims: number[], v: Float32Array | BigInt64Array): Tensor {
  return { dtype, dims, data: new Uint8Array(v.buffer, v.byteOffset, v.byteLength) };
}

/** Fraction of rows of `logits` [N, C] whose argmax equals the label. */
export function accuracy(logits: Float32Array, labels: BigInt64Array, classes: number): number {
  const n = labels.length;
  if (logits.length !== n * classes) throw new Error(`logits hold ${logits.length} values, expected ${n}x${classes}`);
  let right = 0;
  for (let i = 0; i < n; i++) {
    let best = 0;
    for (let c = 1; c < classes; c++) if (logits[i * classes + c]! > logits[i * classes + best]!) best = c;
    if (BigInt(best) === labels[i]) right++;
  }
  return n === 0 ? 0 : right / n;
}
