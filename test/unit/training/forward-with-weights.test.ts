import { describe, expect, it } from 'vitest';
import { buildTrainStep } from '../../../server/training/autodiff/train-step.ts';
import { forwardWithWeights } from '../../../server/training/autodiff/forward-with-weights.ts';
import { TrainStepError } from '../../../server/training/autodiff/errors.ts';
import { buildCnn, buildMlp } from '../../../server/training/models.ts';
import { paramsToTensors } from '../../../server/training/params.ts';
import { createRng } from '../../../server/training/rng.ts';
import { floats, referenceLoss } from './helpers/fd.ts';
import { f32, i64, normal, uniform } from './helpers/graphs.ts';
import { wasmRunner } from './helpers/ort.ts';

describe('forwardWithWeights', () => {
  for (const [name, model, dims] of [
    ['MLP', buildMlp({ sizes: [12, 8, 5], seed: 3 }), [6, 12]],
    ['CNN', buildCnn({ channels: [2, 3], classes: 5, seed: 3 }), [6, 1, 28, 28]],
  ] as const) {
    it(`${name}: output equals the train step's forward with the same weights`, async () => {
      const step = buildTrainStep(model, { loss: 'cross-entropy' });
      const rng = createRng(11);
      const weights = Object.fromEntries(step.params.map((p) => [p.name, normal(rng, p.dims, 0.3)]));
      const tensors = paramsToTensors(weights, step.params);
      const data = f32([...dims], uniform(rng, [...dims], 0, 1));
      const labels = i64([6], [0, 1, 2, 3, 4, 0]);

      const fwd = await wasmRunner(forwardWithWeights(model, tensors));
      const logits = (await fwd.run({ input: data })).logits!;
      const train = await wasmRunner(step.model);
      const out = await train.run({ ...tensors, [step.inputs.data]: data, [step.inputs.labels]: labels });

      const a = floats(logits);
      const b = floats(out[step.outputs.prediction]!);
      expect(out[step.outputs.prediction]!.dims).toEqual(logits.dims);
      for (let i = 0; i < a.length; i++) expect(b[i]).toBeCloseTo(a[i]!, 5);
      // and the loss output is the mean cross-entropy of exactly those logits
      const loss = floats(out[step.outputs.loss]!)[0]!;
      expect(loss).toBeCloseTo(referenceLoss('cross-entropy', a, logits.dims, labels), 5);
      // the original weights are not what we evaluated
      const orig = await wasmRunner(model);
      const o = floats((await orig.run({ input: data })).logits!);
      expect(o.some((v, i) => Math.abs(v - a[i]!) > 1e-3)).toBe(true);
      await Promise.all([fwd.release(), train.release(), orig.release()]);
    });
  }

  it('is strict about names, shapes and completeness', () => {
    const model = buildMlp({ sizes: [4, 3, 2] });
    const step = buildTrainStep(model, { loss: 'mse' });
    const ok = { ...step.initialParams };
    expect(() => forwardWithWeights(model, ok)).not.toThrow();
    expect(() => forwardWithWeights(model, { ...ok, extra: f32([1], [0]) })).toThrow(/weight extra is not a float32 initializer/);
    const { ['fc1.bias']: _drop, ...missing } = ok;
    expect(() => forwardWithWeights(model, missing)).toThrow(/no value given for parameter fc1.bias/);
    expect(() => forwardWithWeights(model, { ...ok, 'fc1.bias': f32([4], [0, 0, 0, 0]) })).toThrow(TrainStepError);
    expect(() => forwardWithWeights(model, { ...ok, 'fc1.bias': f32([4], [0, 0, 0, 0]) })).toThrow(/float32\[4\], the model needs float32\[3\]/);
  });
});
