/**
 * MaxPool tie behaviour, stated: when several inputs of a window equal its
 * max, the window's gradient is split evenly among them (a valid subgradient
 * whose per-window sum is exactly dY).
 */
import { describe, expect, it } from 'vitest';
import { buildTrainStep } from '../../../server/training/autodiff/train-step.ts';
import { attr } from '../../../server/training/autodiff/proto.ts';
import { paramsToTensors, tensorsToParams } from '../../../server/training/params.ts';
import { floats } from './helpers/fd.ts';
import { f32, makeForward } from './helpers/graphs.ts';
import { wasmRunner } from './helpers/ort.ts';

describe('MaxPool ties', () => {
  it('splits the gradient evenly among tied maxima, including across overlapping windows', async () => {
    // 1x1x2x3 input, 2x2 windows with stride 1: two windows sharing the middle column
    const x = [1, 5, 2,
               5, 0, 5];
    const fwd = makeForward({
      input: ['N', 1, 2, 3], params: { P: { dims: [1, 1, 2, 3], values: new Float32Array(6) } },
      body: (b, xin) => b.op('MaxPool', [b.op('Add', [xin, 'P'])], { kernel_shape: attr.ints([2, 2]) }),
    });
    const step = buildTrainStep(fwd, { loss: 'mse' });
    const run = await wasmRunner(step.model);
    const labels = f32([1, 1, 1, 2], [3, 4]);
    const out = await run.run({
      ...paramsToTensors(tensorsToParams(step.initialParams), step.params),
      [step.inputs.data]: f32([1, 1, 2, 3], x),
      [step.inputs.labels]: labels,
    });
    // both windows have max 5; mse over 2 outputs: dL/dy = 2*(5-3)/2 = 2 and 2*(5-4)/2 = 1
    // window 1 = {1,5,5,0}: two ties at (0,1),(1,0) -> 1 each; window 2 = {5,2,0,5}: ties at (0,1),(1,2) -> 0.5 each
    expect(Array.from(floats(out[step.outputs.grads[0]!]!))).toEqual([0, 1.5, 0, 1, 0, 0.5]);
    await run.release();
  });
});
