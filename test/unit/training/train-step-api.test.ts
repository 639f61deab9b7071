/** The TrainStep contract other components rely on: names, alignment, shapes, determinism. */
import { describe, expect, it } from 'vitest';
import { buildTrainStep } from '../../../server/training/autodiff/train-step.ts';
import { buildMlp } from '../../../server/training/models.ts';
import { paramsToTensors, tensorsToParams } from '../../../server/training/params.ts';
import { floats } from './helpers/fd.ts';
import { f32, i64, makeForward } from './helpers/graphs.ts';
import { wasmRunner } from './helpers/ort.ts';

describe('TrainStep', () => {
  const model = buildMlp({ sizes: [6, 5, 3] });
  const step = buildTrainStep(model, { loss: 'cross-entropy' });

  it('exposes parameters, inputs and outputs consistently', async () => {
    expect(step.params).toEqual([
      { name: 'fc1.weight', dtype: 'float32', dims: [5, 6] }, { name: 'fc1.bias', dtype: 'float32', dims: [5] },
      { name: 'fc2.weight', dtype: 'float32', dims: [3, 5] }, { name: 'fc2.bias', dtype: 'float32', dims: [3] },
    ]);
    expect(step.inputs).toEqual({ data: 'input', labels: 'labels' });
    expect(step.batch).toEqual({ data: { dtype: 'float32', dims: ['N', 6] }, labels: { dtype: 'int64', dims: ['N'] } });
    expect(Object.keys(step.initialParams)).toEqual(step.params.map((p) => p.name));
    expect(step.outputs.grads).toHaveLength(step.params.length);

    const run = await wasmRunner(step.model);
    expect([...run.inputNames].sort()).toEqual(['fc1.bias', 'fc1.weight', 'fc2.bias', 'fc2.weight', 'input', 'labels']);
    expect(run.outputNames).toEqual([step.outputs.loss, ...step.outputs.grads, step.outputs.prediction]);
    // the batch size is symbolic: two sizes through one session
    for (const n of [1, 7]) {
      const out = await run.run({
        ...step.initialParams,
        input: f32([n, 6], new Float32Array(n * 6).fill(0.5)),
        labels: i64([n], new Array(n).fill(2)),
      });
      expect(out[step.outputs.loss]!.dims).toEqual([]);
      step.params.forEach((p, k) => expect(out[step.outputs.grads[k]!]!.dims).toEqual(p.dims));
      expect(out[step.outputs.prediction]!.dims).toEqual([n, 3]);
    }
    await run.release();
  });

  it('is deterministic: same forward bytes, same train-step bytes', () => {
    expect(buildTrainStep(model, { loss: 'cross-entropy' }).model).toEqual(step.model);
  });

  it('the loss is a batch mean: duplicating the batch leaves loss and gradients unchanged', async () => {
    const run = await wasmRunner(step.model);
    const x = Float32Array.from({ length: 12 }, (_, i) => Math.sin(i));
    const once = await run.run({ ...step.initialParams, input: f32([2, 6], x), labels: i64([2], [0, 2]) });
    const twice = await run.run({
      ...step.initialParams, input: f32([4, 6], [...x, ...x]), labels: i64([4], [0, 2, 0, 2]),
    });
    for (const name of [step.outputs.loss, ...step.outputs.grads]) {
      const a = floats(once[name]!);
      const b = floats(twice[name]!);
      a.forEach((v, i) => expect(b[i]).toBeCloseTo(v, 6));
    }
    await run.release();
  });

  it('keeps the declared output name when Identity/Dropout produce it, and trains parameters that do not reach the loss to zero gradient', async () => {
    const fwd = makeForward({
      input: ['N', 2],
      params: { W: { dims: [2, 2], values: [1, 2, 3, 4] }, unused: { dims: [3], values: [1, 1, 1] } },
      body: (b, x) => {
        b.op('Mul', ['unused', 'unused']);
        return b.opNamed('Identity', [b.op('MatMul', [x, 'W'])], 'out');
      },
    });
    const s = buildTrainStep(fwd, { loss: 'mse' });
    expect(s.outputs.prediction).toBe('out');
    const run = await wasmRunner(s.model);
    const out = await run.run({
      ...paramsToTensors(tensorsToParams(s.initialParams), s.params),
      x: f32([1, 2], [1, 1]), [s.inputs.labels]: f32([1, 2], [0, 0]),
    });
    expect(Array.from(floats(out.out!))).toEqual([4, 6]);
    expect(Array.from(floats(out[s.outputs.grads[1]!]!))).toEqual([0, 0, 0]);
    await run.release();
  });
});
