/**
 * Hostile models: a submitted model is checked (loaded, its shapes inferred,
 * its FLOPs estimated) on a worker thread with a time and a memory limit, so
 * the coordinator keeps answering while a model that is cheap to send and
 * ruinous to check is refused with a message naming the limit it hit.
 */
import onnxProto from 'onnx-proto';
import type { onnx } from 'onnx-proto';
import { describe, expect, it } from 'vitest';
import { ApiError, type ApiClient } from '../../cli/api-client.ts';
import { serializeModel } from '../../shared/onnx/model.ts';
import { encodeTensors } from '../../shared/tensor/codec.ts';
import { tensorFromTyped } from '../../shared/tensor/tensor.ts';
import { perTest } from '../helpers/per-test.ts';
import { mlpModel, randomInput } from '../helpers/onnx-builder.ts';
import { startVolunteer } from '../helpers/volunteers.ts';
import { waitForJob } from '../helpers/wait.ts';

const { onnx: proto } = onnxProto;

const floatInfo = (name: string, dims: (number | string)[]): onnx.IValueInfoProto => ({
  name, type: { tensorType: { elemType: 1, shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) } } },
});

/**
 * y = Relu(x), plus a MatMul that reaches no output, fed by a side×side
 * ConstantOfShape: 141 bytes, and onnxruntime-web's constant folding spends
 * 13 s (side 4096, measured here on the event loop before the check moved
 * to a thread) materialising and multiplying it.
 */
function deadMatMulModel(side: number): Uint8Array {
  return serializeModel(proto.ModelProto.fromObject({
    irVersion: 8, opsetImport: [{ domain: '', version: 17 }],
    graph: {
      name: 'dead-matmul',
      node: [
        { opType: 'ConstantOfShape', input: ['shape'], output: ['big'] },
        { opType: 'MatMul', input: ['big', 'big'], output: ['dead'] },
        { opType: 'Relu', input: ['x'], output: ['y'] },
      ],
      initializer: [{ name: 'shape', dims: [2], dataType: 7, int64Data: [side, side] }],
      input: [floatInfo('x', ['N', 4])], output: [floatInfo('y', ['N', 4])],
    },
  } as never));
}

/** y = Relu applied `length` times to x: megabytes to send, far more to hold once parsed. */
function chainModel(length: number): Uint8Array {
  const node = Array.from({ length }, (_, i) => ({ opType: 'Relu', input: [i ? `t${i - 1}` : 'x'], output: [i === length - 1 ? 'y' : `t${i}`] }));
  return serializeModel(proto.ModelProto.fromObject({
    irVersion: 8, opsetImport: [{ domain: '', version: 17 }],
    graph: { name: 'chain', node, input: [floatInfo('x', ['N', 4])], output: [floatInfo('y', ['N', 4])] },
  } as never));
}

/**
 * A trainable chain: x[N,4] → MatMul(w[4,4]) → Relu applied `length` times → y.
 * 2.4 MB at 100,000 Relus, and building its train step and estimating the
 * step's FLOPs held the event loop 21 s here before they moved to the thread.
 */
function trainableChainModel(length: number): Uint8Array {
  const node = [{ opType: 'MatMul', input: ['x', 'w'], output: ['t0'] }];
  for (let i = 1; i <= length; i++) node.push({ opType: 'Relu', input: [`t${i - 1}`], output: [i === length ? 'y' : `t${i}`] });
  return serializeModel(proto.ModelProto.fromObject({
    irVersion: 8, opsetImport: [{ domain: '', version: 17 }],
    graph: {
      name: 'trainable-chain', node, initializer: [{ name: 'w', dims: [4, 4], dataType: 1, rawData: new Uint8Array(64) }],
      input: [floatInfo('x', ['N', 4])], output: [floatInfo('y', ['N', 4])],
    },
  } as never));
}

/** Polls /healthz back to back until `stop()`: the slowest answer is the longest the event loop was held. */
function healthPoller(url: string) {
  let checking = true;
  let worst = 0;
  let polls = 0;
  const done = (async () => {
    while (checking) {
      const t0 = performance.now();
      const res = await fetch(`${url}/healthz`);
      await res.json();
      worst = Math.max(worst, performance.now() - t0);
      polls++;
      await new Promise((r) => setTimeout(r, 10));
    }
  })();
  return {
    async stop() {
      checking = false;
      await done;
      return { worst, polls };
    },
  };
}

async function inputFor(api: ApiClient, records: number, width: number): Promise<string> {
  return api.uploadBlob(encodeTensors([{ name: 'x', ...tensorFromTyped('float32', [records, width], randomInput(records, width)) }]));
}

async function refusal(p: Promise<unknown>): Promise<ApiError> {
  const e = await p.then(() => null, (err: unknown) => err);
  expect(e).toBeInstanceOf(ApiError);
  return e as ApiError;
}

describe('model checks off the event loop', () => {
  const { coordinator, defer } = perTest();

  it('keeps /healthz fast while a hostile model is checked during a running job, refuses it naming the time limit, and still takes good models', async () => {
    const c = await coordinator(['--model-check-seconds', '4']);
    const model = await c.api.uploadBlob(mlpModel({ width: 32, layers: 3 }));
    const job = await c.api.createJob({ model, inputs: [{ blob: await inputFor(c.api, 2000, 32), format: 'tensors' }], shardSize: 10 });
    const vs = [startVolunteer(c.url), startVolunteer(c.url)];
    defer(async () => { await Promise.all(vs.map((v) => v.stop())); });
    await c.waitForLog((l) => l.msg === 'shard validated' && l.job === job.id, 60_000);

    const hostile = await c.api.uploadBlob(deadMatMulModel(4096));
    const x = await inputFor(c.api, 8, 4);
    const poller = healthPoller(c.url);
    const t0 = performance.now();
    const e = await refusal(c.api.createJob({ model: hostile, inputs: [{ blob: x, format: 'tensors' }] }));
    const checkMs = performance.now() - t0;
    const { worst, polls } = await poller.stop();
    console.info(`hostile model refused after ${checkMs.toFixed(0)} ms; slowest of ${polls} /healthz answers meanwhile: ${worst.toFixed(1)} ms`);
    expect(e.status).toBe(400);
    expect(e.message).toMatch(/model: checking the model took longer than 4 s, this coordinator's time limit for a model check/);
    // The check ran its whole 4 s while the loop answered: on the loop, onnxruntime's folding alone held it 13 s.
    expect(checkMs).toBeGreaterThanOrEqual(4000);
    expect(polls).toBeGreaterThan(10);
    expect(worst).toBeLessThan(2000);
    expect((await c.api.job(job.id)).state).not.toBe('failed');
    expect((await waitForJob(c.api, job.id, 120_000)).state).toBe('completed');
    // The refused model left no job behind, and the next model is checked by a fresh thread.
    expect((await c.api.jobs()).jobs).toHaveLength(1);
    const next = await c.api.createJob({ model, inputs: [{ blob: await inputFor(c.api, 4, 32), format: 'tensors' }] });
    expect(next.state).toBe('running');
  }, 240_000);

  it('refuses a model whose check needs more memory than the limit, naming it', async () => {
    const c = await coordinator(['--model-check-mb', '64', '--model-check-seconds', '600']);
    const chain = await c.api.uploadBlob(chainModel(300_000));
    const e = await refusal(c.api.createJob({ model: chain, inputs: [{ blob: await inputFor(c.api, 8, 4), format: 'tensors' }] }));
    expect(e.status).toBe(400);
    expect(e.message).toMatch(/model: checking the model needed more than 64 MiB of memory, this coordinator's memory limit for a model check/);
    expect((await (await fetch(`${c.url}/healthz`)).json()).ok).toBe(true);
  }, 240_000);

  it('builds a training job\'s train step on the thread: /healthz keeps answering while a hostile training model is checked, which is refused naming the time limit', async () => {
    const c = await coordinator(['--model-check-seconds', '3']);
    const tensors = async (dims: number[]) => ({
      blob: await c.api.uploadBlob(encodeTensors([{ name: 't', ...tensorFromTyped('float32', dims, randomInput(dims[0]!, dims[1]!)) }])),
      format: 'tensors' as const,
    });
    const data = await tensors([16, 4]);
    const labels = await tensors([16, 4]);
    const hostile = await c.api.uploadBlob(trainableChainModel(100_000));
    const poller = healthPoller(c.url);
    const t0 = performance.now();
    const e = await refusal(c.api.createJob({ kind: 'train', model: hostile, data, labels, loss: 'mse' }));
    const checkMs = performance.now() - t0;
    const { worst, polls } = await poller.stop();
    console.info(`hostile training model refused after ${checkMs.toFixed(0)} ms; slowest of ${polls} /healthz answers meanwhile: ${worst.toFixed(1)} ms`);
    expect(e.status).toBe(400);
    expect(e.message).toMatch(/: 400 model: checking the model took longer than 3 s, this coordinator's time limit for a model check$/);
    expect(checkMs).toBeGreaterThanOrEqual(3000);
    expect(polls).toBeGreaterThan(10);
    expect(worst).toBeLessThan(2000);
    expect((await c.api.jobs()).jobs).toHaveLength(0);
    // A small chain of the same shape is built, estimated and accepted, its FLOPs counted on the thread.
    const fine = await c.api.createJob({ kind: 'train', model: await c.api.uploadBlob(trainableChainModel(3)), data, labels, loss: 'mse', batch: 8 });
    expect(fine.state).toBe('running');
    const created = await c.waitForLog((l) => l.msg === 'training job created' && l.job === fine.id);
    // Per record: the forward MatMul (2·4·4) and its two gradient MatMuls, plus the Relus, loss and their gradients.
    expect(created.flopsPerRecord).toBeGreaterThan(3 * 2 * 4 * 4);
  }, 240_000);
});
