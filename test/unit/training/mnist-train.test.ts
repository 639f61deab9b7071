/**
 * End to end: the generated train-step graph, run by onnxruntime-web (wasm)
 * with the reference trainer and Adam, learns MNIST. Budget: well under 60 s on
 * two slow shared cores (measured time is logged).
 */
import { describe, expect, it } from 'vitest';
import { buildTrainStep } from '../../../server/training/autodiff/train-step.ts';
import { forwardWithWeights } from '../../../server/training/autodiff/forward-with-weights.ts';
import { accuracy, trainLocally } from '../../../server/training/local-train.ts';
import { loadMnist, mnistTensors, MNIST_CLASSES } from '../../../server/training/mnist.ts';
import { buildCnn, buildMlp } from '../../../server/training/models.ts';
import { paramsToTensors } from '../../../server/training/params.ts';
import { floats } from './helpers/fd.ts';
import { wasmRunner } from './helpers/ort.ts';

describe('MNIST end to end', () => {
  it('MLP 784-128-10, one epoch of Adam(1e-3), batch 64, reaches > 0.85 held-out accuracy', async () => {
    const t0 = performance.now();
    const { train, test } = loadMnist({ train: 8000, test: 2000, seed: 1 });
    const tLoad = performance.now();
    const model = buildMlp({ seed: 1 });
    const step = buildTrainStep(model, { loss: 'cross-entropy' });
    const runner = await wasmRunner(step.model);
    const result = await trainLocally({
      step, runner, data: train.images, labels: train.labels,
      batchSize: 64, epochs: 1, optimizer: { kind: 'adam', lr: 1e-3 }, seed: 1,
    });
    await runner.release();
    const tTrain = performance.now();

    const trained = forwardWithWeights(model, paramsToTensors(result.params, step.params));
    const fwd = await wasmRunner(trained);
    const logits = (await fwd.run({ input: mnistTensors(test).images })).logits!;
    const acc = accuracy(floats(logits), test.labels, MNIST_CLASSES);
    await fwd.release();
    console.info(
      `MNIST MLP: load ${(tLoad - t0).toFixed(0)} ms, ${result.losses.length} steps in ${(tTrain - tLoad).toFixed(0)} ms, ` +
      `loss ${result.losses[0]!.toFixed(3)} -> ${result.losses.at(-1)!.toFixed(3)}, held-out accuracy ${acc.toFixed(3)}`,
    );
    expect(result.losses.every(Number.isFinite)).toBe(true);
    expect(acc).toBeGreaterThan(0.85);
  });

  it('CNN train step runs on real digits and its loss falls', async () => {
    const { train } = loadMnist({ train: 256, test: 0, seed: 2 });
    const step = buildTrainStep(buildCnn({ seed: 2 }), { loss: 'cross-entropy' });
    const runner = await wasmRunner(step.model);
    const result = await trainLocally({
      step, runner, data: train.images, labels: train.labels,
      batchSize: 32, epochs: 2, optimizer: { kind: 'adam', lr: 3e-3 }, seed: 2,
    });
    await runner.release();
    const first = result.losses.slice(0, 3).reduce((a, b) => a + b, 0) / 3;
    const last = result.losses.slice(-3).reduce((a, b) => a + b, 0) / 3;
    console.info(`MNIST CNN: ${result.losses.length} steps, mean loss ${first.toFixed(3)} -> ${last.toFixed(3)}`);
    expect(last).toBeLessThan(first * 0.8);
  });
});
