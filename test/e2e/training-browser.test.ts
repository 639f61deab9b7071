/**
 * One training shard computed in headless Chromium by a WebGPU tab
 * (SwiftShader) and by a WASM tab: the two gradients, read from the
 * coordinator's SQLite file, agree with each other and with a direct
 * onnxruntime-web (Node, WASM) run of the same train-step graph on the same
 * micro-batch.
 *
 * How both tabs get the same batch: one job, replicas 2, two shards per round
 * and at most one shard per volunteer per round. Each tab then takes one copy
 * of shard 0 (the dispatcher hands out the lowest open index first, and one
 * volunteer never gets two copies of a shard), and neither may take shard 1,
 * so round 0 stays open (minFraction 1, a long deadline). That matters: the
 * coordinator drops a round's results when the round closes, and here the
 * copies' results stay in `copies.result` for as long as the test needs them.
 */
import { describe, expect, it } from 'vitest';
import { sha256 } from '../../server/blobs/blob-store.ts';
import { buildTrainStep } from '../../server/training/autodiff/index.ts';
import { compareGradients, flattenGradients } from '../../server/core/validation/gradients.ts';
import { buildMlp } from '../../server/training/models.ts';
import { decodeTensors } from '../../shared/tensor/codec.ts';
import { type NamedTensor, type Tensor, typedView } from '../../shared/tensor/tensor.ts';
import { runDirect } from '../helpers/direct-run.ts';
import { firstShardRecords, mnistRecords, mnistTrainJob, uploadMnist } from '../helpers/mnist-job.ts';
import { waitForStatus } from './browser.ts';
import { coordinatorAndChromium, storedCopies } from './tabs.ts';

const RECORDS = 256;
const BATCH = 64;
const SHARDS_PER_ROUND = 2;
const SEED = 11;

/** WebGPU and WASM sum in different orders; float32 rounding alone stays orders of magnitude below these. */
const MAX_REL_L2 = 1e-3;
const MIN_COSINE = 0.9999;
const MAX_LOSS_DIFF = 1e-4;

const f32 = (t: NamedTensor) => typedView(t as NamedTensor & { dtype: 'float32' });
const lossOf = (ts: NamedTensor[]) => f32(ts[0]!)[0]!;
const gradsOf = (ts: NamedTensor[]) => flattenGradients(ts.slice(1).map(f32));

describe('training in the browser', () => {
  const grid = coordinatorAndChromium({ webgpu: true });
  const { problems, openTab } = grid;

  it('computes the same gradients for one micro-batch on WebGPU and on WASM, equal to a direct run', async () => {
    const { c } = grid;
    const up = await uploadMnist(c.api, { count: RECORDS, seed: 3 });
    const job = await c.api.createJob(mnistTrainJob(up, {
      optimizer: 'sgd', lr: 0.1,
      batch: BATCH, epochs: 1, shardsPerRound: SHARDS_PER_ROUND, replicas: 2, maxShardsPerVolunteer: 1, minFraction: 1,
      roundDeadlineSeconds: 3600, evalFraction: 0, seed: SEED,
    }));

    const [gpu, wasm] = await Promise.all([openTab('webgpu'), openTab('wasm')]);
    const sg = await waitForStatus(gpu.page, (s) => s.counts.uploaded >= 1, 'WebGPU tab uploaded its copy', 45_000);
    const sw = await waitForStatus(wasm.page, (s) => s.counts.uploaded >= 1, 'WASM tab uploaded its copy', 45_000);
    // The WebGPU tab really computed on WebGPU: chosen after its self-test passed, and still on it (no fallback).
    expect(sg.backend).toBe('webgpu');
    expect(sg.selfTests).toEqual([{ backend: 'webgpu', ok: true }]);
    expect(sg.backendNotice).toBeNull();
    expect(sw.backend).toBe('wasm');

    const copies = storedCopies(c, job.id);
    // Exactly the two copies of shard 0, one per tab; round 0 is still open, so their results are still stored.
    expect(copies.map((r) => r.idx)).toEqual([0, 0]);
    const gpuCopy = copies.find((r) => r.volunteer_id === sg.volunteerId);
    const wasmCopy = copies.find((r) => r.volunteer_id === sw.volunteerId);
    expect(gpuCopy?.state).toBe('returned');
    expect(wasmCopy?.state).toBe('returned');
    // The coordinator knows which backend computed each copy.
    expect(gpuCopy!.numeric_class).toMatch(/webgpu/);
    expect(wasmCopy!.numeric_class).toMatch(/wasm/);
    const onGpu = decodeTensors(gpuCopy!.result!);
    const onWasm = decodeTensors(wasmCopy!.result!);

    // The reference: the train-step graph the coordinator builds, run in this process on shard 0's micro-batch
    // (the job's held-out split and epoch order, as the coordinator gathers them) with the initial weights.
    // The forward model is not a public blob; uploadMnist's MLP is rebuilt, and its hash proves it is the one uploaded.
    const forward = buildMlp({ seed: 1 });
    expect(sha256(forward)).toBe(up.model);
    const step = buildTrainStep(forward, { loss: 'cross-entropy' });
    const rows = firstShardRecords({ records: RECORDS, seed: SEED, roundRecords: BATCH, shardsPerRound: SHARDS_PER_ROUND });
    const batch = mnistRecords(up, rows);
    const feeds: Record<string, Tensor> = { ...step.initialParams, [step.inputs.data]: batch.images, [step.inputs.labels]: batch.labels };
    const direct = await runDirect(step.model, feeds);
    const byName = new Map(direct.map((t) => [t.name, t]));
    const reference = [step.outputs.loss, ...step.outputs.grads].map((n) => byName.get(n)!);

    expect(onGpu.map((t) => t.name)).toEqual(reference.map((t) => t.name));
    expect(onWasm.map((t) => t.name)).toEqual(reference.map((t) => t.name));
    const gpuVsWasm = compareGradients(gradsOf(onGpu), gradsOf(onWasm));
    const gpuVsDirect = compareGradients(gradsOf(onGpu), gradsOf(reference));
    const wasmVsDirect = compareGradients(gradsOf(onWasm), gradsOf(reference));
    const losses = { webgpu: lossOf(onGpu), wasm: lossOf(onWasm), direct: lossOf(reference) };
    console.info(`shard 0 (${rows.length} digits, ${gradsOf(reference).length} gradient values): losses ${JSON.stringify(losses)}; ` +
      `WebGPU vs WASM relL2 ${gpuVsWasm.relL2.toExponential(2)} cosine ${gpuVsWasm.cosine.toFixed(9)}; ` +
      `WebGPU vs direct relL2 ${gpuVsDirect.relL2.toExponential(2)}; WASM tab vs direct relL2 ${wasmVsDirect.relL2.toExponential(2)}; ` +
      `compute ms WebGPU ${gpuCopy!.compute_ms.toFixed(1)}, WASM ${wasmCopy!.compute_ms.toFixed(1)}`);

    expect(Number.isFinite(losses.webgpu) && losses.webgpu > 0).toBe(true);
    expect(Math.abs(losses.webgpu - losses.wasm)).toBeLessThan(MAX_LOSS_DIFF);
    expect(gpuVsWasm.relL2).toBeLessThan(MAX_REL_L2);
    expect(gpuVsWasm.cosine).toBeGreaterThan(MIN_COSINE);
    // Not bit-for-bit the WASM result: the graph did run on the GPU, not wholly on onnxruntime's CPU fallback
    // (which would make the comparison vacuous). Deterministic here: 1.16e-7 on SwiftShader, run after run.
    expect(gpuVsWasm.relL2).toBeGreaterThan(0);
    expect(Math.abs(losses.webgpu - losses.direct)).toBeLessThan(MAX_LOSS_DIFF);
    expect(gpuVsDirect.relL2).toBeLessThan(MAX_REL_L2);
    expect(gpuVsDirect.cosine).toBeGreaterThan(MIN_COSINE);
    // Same runtime, same backend, same graph and batch: the WASM tab reproduces the direct run almost exactly.
    expect(wasmVsDirect.relL2).toBeLessThan(1e-5);

    // The coordinator cross-checked the two copies itself and found them in agreement.
    const outcomes = await waitForStatus(gpu.page, (s) => s.counts.validated + s.counts.rejected >= 1, 'outcome of the WebGPU copy');
    expect(outcomes.counts.rejected).toBe(0);
    await Promise.all([gpu.ctx.close(), wasm.ctx.close()]);
    expect(problems).toEqual([]);
  });
});
