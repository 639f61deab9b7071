/**
 * Training jobs end to end: generated gradient graphs run by volunteers,
 * data-parallel rounds, cross-checked gradients, robust aggregation,
 * checkpoints that survive a coordinator crash.
 */
import { describe, expect, it } from 'vitest';
import { holdOut } from '../../server/core/training/schedule.ts';
import { typedView } from '../../shared/tensor/tensor.ts';
import { modelSignature, parseModel } from '../../shared/onnx/model.ts';
import type { WireTensor } from '../../shared/protocol/events.ts';
import { runDirect } from '../helpers/direct-run.ts';
import { mnistTrainJob, uploadMnist } from '../helpers/mnist-job.ts';
import { perTest } from '../helpers/per-test.ts';
import { AGGREGATE_RULES, liarCaughtByReplication, oneAttackerInFive } from '../helpers/training-attacks.ts';
import { historyOf, waitForJob } from '../helpers/wait.ts';


/** Gradient outputs (all but the loss) multiplied by `factor`. */
const tamperGradients = (factor: number) => (outs: WireTensor[]) => outs.map((o, i) => {
  if (i === 0) return o;
  const v = Float32Array.from(typedView(o as WireTensor & { dtype: 'float32' }), (x) => x * factor);
  return { ...o, data: new Uint8Array(v.buffer) };
});

describe('training jobs', () => {
  const t = perTest();
  const { coordinator, volunteers } = t;

  it('trains a 784-128-10 MLP on 8,000 MNIST digits to >= 0.93 held-out accuracy with 4 volunteers', async () => {
    const c = await coordinator();
    const up = await uploadMnist(c.api, { count: 10_000 });
    volunteers(c, 4);
    const job = await c.api.createJob(mnistTrainJob(up, {
      optimizer: 'adam', lr: 1e-3, batch: 64, epochs: 15, shardsPerRound: 4, evalFraction: 0.2, seed: 7, targetAccuracy: 0.93,
    }));
    const done = await waitForJob(c.api, job.id, 900_000);
    expect(done.state).toBe('completed');
    const accuracies = historyOf(done).filter((h) => h.accuracy !== null).map((h) => h.accuracy!);
    console.info(`MLP held-out accuracy by epoch: ${accuracies.map((a) => a.toFixed(4)).join(', ')}`);
    expect(accuracies.at(-1)!).toBeGreaterThanOrEqual(0.93);
    expect(accuracies.length).toBeLessThanOrEqual(15);
    // The exported forward model, run independently on the held-out digits, scores the same.
    const model = await c.api.model(job.id);
    const { eval: held } = holdOut(10_000, 0.2, 7);
    expect(held.length).toBe(2000);
    const x = new Float32Array(held.length * 784);
    held.forEach((r, i) => x.set(up.images.subarray(r * 784, (r + 1) * 784), i * 784));
    const input = modelSignature(parseModel(model)).inputs[0]!.name;
    const [logits] = await runDirect(model, { [input]: { dtype: 'float32', dims: [held.length, 784], data: new Uint8Array(x.buffer) } });
    const l = typedView(logits as WireTensor & { dtype: 'float32' });
    let correct = 0;
    held.forEach((r, i) => {
      let best = 0;
      for (let k = 1; k < 10; k++) if (l[i * 10 + k]! > l[i * 10 + best]!) best = k;
      if (BigInt(best) === up.classes[r]) correct++;
    });
    expect(correct / held.length).toBeCloseTo(accuracies.at(-1)!, 3);
  }, 900_000);

  it('follows the same loss curve with 4 shards on 4 volunteers as with 1 shard on 1 volunteer (same seed, same global batch)', async () => {
    const c = await coordinator();
    const up = await uploadMnist(c.api, { count: 2000 });
    const run = async (shards: number, workers: number) => {
      const vs = volunteers(c, workers);
      const job = await c.api.createJob(mnistTrainJob(up, {
        optimizer: 'adam', batch: 64, epochs: 1, shardsPerRound: shards, replicas: 1, evalFraction: 0.1, seed: 3,
      }));
      const done = await waitForJob(c.api, job.id, 300_000);
      await Promise.all(vs.map((v) => v.stop()));
      expect(done.state).toBe('completed');
      return historyOf(done).map((h) => h.loss);
    };
    const one = await run(1, 1);
    const four = await run(4, 4);
    expect(four).toHaveLength(one.length);
    const worst = Math.max(...one.map((l, i) => Math.abs(l - four[i]!) / Math.abs(l)));
    console.info(`data-parallel loss curves: ${one.length} rounds, worst relative difference ${worst.toExponential(2)}`);
    expect(worst).toBeLessThan(1e-3);
    expect(one.at(-1)!).toBeLessThan(one[0]! * 0.6);
  }, 600_000);

  it('trains a small CNN (two Conv-ReLU-MaxPool blocks and a dense layer)', async () => {
    const c = await coordinator();
    const up = await uploadMnist(c.api, { count: 2500, cnn: true });
    volunteers(c, 2);
    const job = await c.api.createJob(mnistTrainJob(up, {
      optimizer: 'adam', lr: 2e-3, batch: 32, epochs: 1, shardsPerRound: 2, evalFraction: 0.2, seed: 5,
    }));
    const done = await waitForJob(c.api, job.id, 600_000);
    expect(done.state).toBe('completed');
    console.info(`CNN held-out accuracy after 1 epoch on 2,000 digits: ${done.train!.accuracy}`);
    expect(done.train!.accuracy!).toBeGreaterThan(0.6);
  }, 600_000);

  it('catches a volunteer sending sign-flipped gradients by replication: invalid, no credit', () => liarCaughtByReplication(t, {
    tamper: tamperGradients(-1), mode: { lr: 3e-3, epochs: 2 }, reason: /gradients disagree: .*cosine -1/,
  }), 300_000);

  // The same attack against the plain mean shows it is a real attack, not one any aggregator shrugs off.
  for (const [rule, converges] of AGGREGATE_RULES) {
    it(`${converges ? 'keeps converging' : 'is derailed'} without replication when one of five volunteers sends scaled gradients, with --aggregate ${rule}`, () => oneAttackerInFive(t, {
      rule, converges, tamper: tamperGradients(-20), mode: { lr: 3e-3, epochs: 2 },
      // One shard in each of the 40 rounds: a fifth of the gradients, by construction.
      shards: 200, attackerShards: 40,
    }), 300_000);
  }

  it('resumes from its last checkpoint after the coordinator is killed mid-training', async () => {
    let c = await coordinator();
    const { dataDir, port } = c;
    const up = await uploadMnist(c.api, { count: 1500 });
    volunteers(c, 3);
    const job = await c.api.createJob(mnistTrainJob(up, {
      optimizer: 'sgd', lr: 0.1, batch: 50, epochs: 2, shardsPerRound: 3, evalFraction: 0.2, seed: 4,
    }));
    await c.waitForLog((l) => l.msg === 'training round closed' && l.job === job.id && (l.round as number) >= 5, 120_000);
    await c.kill('SIGKILL');
    c = await coordinator({ dataDir, port });
    const done = await waitForJob(c.api, job.id, 300_000);
    expect(done.state).toBe('completed');
    const rounds = historyOf(done).map((h) => h.round);
    expect(rounds).toEqual(Array.from({ length: 48 }, (_, i) => i));
    expect(c.logs.filter((l) => l.msg === 'training round closed' && l.job === job.id).length).toBeGreaterThan(0);
    expect(done.train!.accuracy!).toBeGreaterThan(0.75);
  }, 400_000);
});
