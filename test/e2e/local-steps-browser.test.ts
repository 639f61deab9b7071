/**
 * One local-steps shard (H = 32 inner AdamW steps) computed in headless
 * Chromium by a WebGPU tab (SwiftShader) and by a WASM tab, and directly in
 * this process: the drift of the parameter change between backends after 32
 * steps, which the default replica tolerance of local-steps jobs is set from
 * (LOCAL_TOLERANCE in server/services/train-service.ts; README, "Local-steps
 * training"). The job sends changes as fp32, so what is compared is the
 * backends' drift alone, not the codec's rounding.
 *
 * As in training-browser.test.ts: replicas 2, two shards a round, at most one
 * shard per volunteer per round, minFraction 1, a long deadline: both tabs
 * take a copy of shard 0 and the round stays open, so both results stay in
 * the coordinator's database for this test to read.
 *
 * Then the tab's side of the compressed downstream: one WASM tab trains both
 * rounds of a local-steps job with int8 changes, so its second round's
 * weights are offered as the delta from the version it trained round one
 * from; it must fetch that delta and not the new full weights.
 */
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import type { SpawnedCoordinator } from '../helpers/coordinator.ts';
import { compareGradients } from '../../server/core/validation/gradients.ts';
import { readLocalResult } from '../../server/core/validation/updates.ts';
import { LOCAL_TOLERANCE } from '../../server/services/train-service.ts';
import { ort } from '../../server/models/ort-node.ts';
import { buildTrainStep } from '../../server/training/autodiff/index.ts';
import { buildMlp } from '../../server/training/models.ts';
import { decodeTensors } from '../../shared/tensor/codec.ts';
import type { NamedTensor, Tensor } from '../../shared/tensor/tensor.ts';
import { runLocalSteps } from '../../shared/training/local-steps.ts';
import { decodeUpdate } from '../../shared/training/update-codec.ts';
import { fromOrtTensor, toOrtTensor } from '../../shared/worker-core/ort-tensors.ts';
import { firstShardRecords, mnistRecords, mnistTrainJob, uploadMnist } from '../helpers/mnist-job.ts';
import { waitForJob } from '../helpers/wait.ts';
import { countBlobRequests, waitForStatus } from './browser.ts';
import { coordinatorAndChromium, storedCopies } from './tabs.ts';

const H = 32;
const BATCH = 64;
const SHARDS_PER_ROUND = 2;
const RECORDS = BATCH * H;
const SEED = 13;
const LR = 1e-3;

/**
 * A local-steps job of two rounds, one shard each, for one tab to take both: int8 changes up, so round two's
 * weights are offered as a delta from round one's; fp16 full weights.
 */
async function twoRoundJob(c: SpawnedCoordinator, seed: number) {
  const steps = 4;
  const up = await uploadMnist(c.api, { count: BATCH * steps * 2, seed });
  return c.api.createJob(mnistTrainJob(up, {
    optimizer: 'adam', lr: LR,
    batch: BATCH, epochs: 1, shardsPerRound: 1, localSteps: steps, updateFormat: 'int8', weightsFormat: 'fp16', replicas: 1,
    maxShardsPerVolunteer: 1, evalFraction: 0, seed: SEED,
  }));
}

interface Broadcast { hash: string; deltas: { base: string; target: string; hash: string }[] }

/** The weights the coordinator offers a job's volunteers, read from its database: the version, and the deltas to it. */
function broadcastOf(c: SpawnedCoordinator, jobId: string): Broadcast {
  const db = new Database(join(c.dataDir, 'tabgrid.sqlite'), { readonly: true, fileMustExist: true });
  try {
    return (JSON.parse((db.prepare('SELECT progress FROM jobs WHERE id = ?').get(jobId) as { progress: string }).progress) as { broadcast: Broadcast }).broadcast;
  } finally {
    db.close();
  }
}

/** The blob hash a request for /blobs/<hash> names. */
const blobHash = (url: string) => new URL(url).pathname.slice('/blobs/'.length);

describe('local steps in the browser', () => {
  const grid = coordinatorAndChromium({ webgpu: true });
  const { problems, openTab } = grid;

  it(`takes the same ${H} inner AdamW steps on WebGPU and on WASM, within the default replica tolerance`, async () => {
    const { c } = grid;
    const up = await uploadMnist(c.api, { count: RECORDS, seed: 3 });
    const job = await c.api.createJob(mnistTrainJob(up, {
      optimizer: 'adam', lr: LR,
      batch: BATCH, epochs: 1, shardsPerRound: SHARDS_PER_ROUND, localSteps: H, updateFormat: 'fp32', replicas: 2, maxShardsPerVolunteer: 1,
      minFraction: 1, roundDeadlineSeconds: 3600, evalFraction: 0, seed: SEED,
      // The reference below steps at a constant lr; the schedule (cosine by default) has tests of its own.
      lrSchedule: 'constant',
    }));

    const [gpu, wasm] = await Promise.all([openTab('webgpu'), openTab('wasm')]);
    // Closed however the test ends: tabs left open would take the next tests' shards.
    onTestFinished(() => Promise.all([gpu.ctx.close(), wasm.ctx.close()]).then(() => undefined));
    const sg = await waitForStatus(gpu.page, (s) => s.counts.uploaded >= 1, 'WebGPU tab uploaded its copy', 120_000);
    const sw = await waitForStatus(wasm.page, (s) => s.counts.uploaded >= 1, 'WASM tab uploaded its copy', 120_000);
    expect(sg.backend).toBe('webgpu');
    expect(sg.backendNotice).toBeNull();
    expect(sw.backend).toBe('wasm');

    const copies = storedCopies(c, job.id);
    expect(copies.map((r) => r.idx)).toEqual([0, 0]);
    const gpuCopy = copies.find((r) => r.volunteer_id === sg.volunteerId)!;
    const wasmCopy = copies.find((r) => r.volunteer_id === sw.volunteerId)!;
    expect(gpuCopy.numeric_class).toMatch(/webgpu/);
    expect(wasmCopy.numeric_class).toMatch(/wasm/);
    const onGpu = readLocalResult(decodeTensors(gpuCopy.result!), 'fp32', 64);
    const onWasm = readLocalResult(decodeTensors(wasmCopy.result!), 'fp32', 64);

    // The reference: the same 32 steps in this process (onnxruntime-web WASM in Node), on shard 0's records.
    const forward = buildMlp({ seed: 1 });
    const step = buildTrainStep(forward, { loss: 'cross-entropy' });
    const rows = firstShardRecords({ records: RECORDS, seed: SEED, roundRecords: BATCH * H, shardsPerRound: SHARDS_PER_ROUND });
    const batch = mnistRecords(up, rows);
    const feeds: Record<string, Tensor> = { ...step.initialParams, [step.inputs.data]: batch.images, [step.inputs.labels]: batch.labels };
    const session = await ort.InferenceSession.create(step.model, { executionProviders: ['wasm'], logSeverityLevel: 3 });
    let direct: NamedTensor[];
    try {
      direct = (await runLocalSteps({
        steps: H, optimizer: { kind: 'adam', lr: LR }, params: step.params.map((p) => p.name), loss: step.outputs.loss, grads: step.outputs.grads,
        batched: [step.inputs.data, step.inputs.labels], updateFormat: 'fp32', blockSize: 64,
      }, feeds, async (f, names) => {
        const o: Record<string, ort.Tensor> = {};
        for (const [k, t] of Object.entries(f)) o[k] = toOrtTensor(ort, t);
        const out = await session.run(o, names);
        return names.map((n) => fromOrtTensor(n, out[n]!));
      }, null)).outputs;
    } finally {
      await session.release();
    }
    const ref = readLocalResult(direct, 'fp32', 64);

    const g = decodeUpdate(onGpu.update), w = decodeUpdate(onWasm.update), d = decodeUpdate(ref.update);
    const gpuVsWasm = compareGradients(g, w);
    const wasmVsDirect = compareGradients(w, d);
    const lossDiff = Math.max(...Array.from(onGpu.losses, (l, i) => Math.abs(l - onWasm.losses[i]!) / Math.max(Math.abs(l), 1e-12)));
    console.info(`local-steps shard 0 (${rows.length} digits, H=${H} AdamW steps of ${rows.length / H}): WebGPU vs WASM change relL2 ${gpuVsWasm.relL2.toExponential(2)} ` +
      `cosine ${gpuVsWasm.cosine.toFixed(9)}, worst per-step loss relative difference ${lossDiff.toExponential(2)}; WASM tab vs direct relL2 ${wasmVsDirect.relL2.toExponential(2)}; ` +
      `losses ${onWasm.losses[0]!.toFixed(4)} -> ${onWasm.losses[H - 1]!.toFixed(4)}; compute ms WebGPU ${gpuCopy.compute_ms.toFixed(0)}, WASM ${wasmCopy.compute_ms.toFixed(0)}`);

    expect(onGpu.losses.length).toBe(H);
    // It trained: the last micro-batches' losses are well below the first's.
    expect(onWasm.losses[H - 1]!).toBeLessThan(onWasm.losses[0]! * 0.7);
    // The backends really differ (the graph ran on the GPU) but stay within the default tolerance, with headroom.
    expect(gpuVsWasm.relL2).toBeGreaterThan(0);
    expect(gpuVsWasm.relL2).toBeLessThan(LOCAL_TOLERANCE.maxRelL2 / 3);
    expect(lossDiff).toBeLessThan(LOCAL_TOLERANCE.loss.rtol);
    // Same runtime and backend as the WASM tab: almost exactly the same 32 steps.
    expect(wasmVsDirect.relL2).toBeLessThan(1e-4);

    // The coordinator cross-checked the two copies itself, with the job's default tolerance, and found them in agreement.
    const outcome = await waitForStatus(gpu.page, (s) => s.counts.validated + s.counts.rejected >= 1, 'outcome of the WebGPU copy');
    expect(outcome.counts.rejected).toBe(0);
    await Promise.all([gpu.ctx.close(), wasm.ctx.close()]);
    expect(problems).toEqual([]);
  }, 300_000);
  it('a tab that trained round one fetches only the weights change for round two', async () => {
    const { c } = grid;
    const job = await twoRoundJob(c, 5);
    let blobUrls: string[] = [];
    const tab = await openTab('wasm', { prepare: (ctx) => { blobUrls = countBlobRequests(ctx); } });
    onTestFinished(() => tab.ctx.close());
    const done = await waitForStatus(tab.page, (s) => s.counts.validated >= 2, 'both rounds validated', 180_000);
    expect(done.counts.rejected).toBe(0);
    expect((await waitForJob(c.api, job.id, 180_000)).state).toBe('completed');
    await tab.ctx.close();

    // Two copies, both from the tab, both valid: the job completed on what the tab computed from the delta.
    expect(storedCopies(c, job.id).map((r) => [r.idx, r.outcome, r.volunteer_id])).toEqual([[0, 'valid', done.volunteerId], [1, 'valid', done.volunteerId]]);
    // Round one's close made the first delta: version 0 (the first full weights) to version 1.
    const first = broadcastOf(c, job.id).deltas[0]!;
    const fetched = blobUrls.map(blobHash);
    console.info(`two-round local-steps job in one tab: blobs fetched ${fetched.map((h) => h.slice(0, 8)).join(', ')}; ` +
      `version 0 ${first.base.slice(0, 8)}, delta ${first.hash.slice(0, 8)}, version 1 ${first.target.slice(0, 8)}`);
    expect(fetched.filter((h) => h === first.base)).toHaveLength(1);
    expect(fetched).toContain(first.hash);
    expect(fetched).not.toContain(first.target);
    expect(problems).toEqual([]);
  }, 300_000);

  it('a tab reloaded between rounds fetches only the weights change for round two: the weights it trained from were kept in IndexedDB', async () => {
    const { c } = grid;
    const job = await twoRoundJob(c, 6);
    const version0 = broadcastOf(c, job.id).hash;
    // Before the reload, round two's weights (a delta of round one's close, or the full version it makes) are held
    // until the page has reloaded, so round two's copy is in the page's hands, unstarted, when it reloads, whatever
    // the machine's speed. Every blob the page fetches is written down, before or after the reload.
    let reloaded = false;
    const before: string[] = [];
    const after: string[] = [];
    let release!: () => void;
    const held = new Promise<void>((r) => { release = r; });
    const tab = await openTab('wasm', {
      prepare: (ctx) => {
        void ctx.route(/\/blobs\//, async (route) => {
          const hash = blobHash(route.request().url());
          (reloaded ? after : before).push(hash);
          if (!reloaded && broadcastOf(c, job.id).deltas.some((d) => d.hash === hash || d.target === hash)) await held;
          // The page that asked may be gone by now: its request has nowhere to go.
          await route.continue().catch(() => {});
        });
      },
    });
    onTestFinished(() => { release(); return tab.ctx.close(); });
    // Round two's copy, as the coordinator assigned it (the page's status may still name round one's for a moment).
    const roundTwoCopy = () => storedCopies(c, job.id).find((r) => r.idx === 1)?.id ?? null;
    const second = await waitForStatus(tab.page, (s) => s.counts.validated >= 1 && !!s.currentCopy && s.currentCopy === roundTwoCopy() && s.inHand === s.currentCopy,
      'round one validated, round two\'s copy in hand and written down', 180_000);
    reloaded = true;
    await tab.page.reload();
    release();
    expect((await waitForJob(c.api, job.id, 180_000)).state).toBe('completed');
    await tab.ctx.close();
    const first = broadcastOf(c, job.id).deltas[0]!;
    console.info(`reloaded tab: before the reload blobs ${before.map((h) => h.slice(0, 8)).join(', ')}; after ${after.map((h) => h.slice(0, 8)).join(', ')}; ` +
      `version 0 ${first.base.slice(0, 8)}, delta ${first.hash.slice(0, 8)}, version 1 ${first.target.slice(0, 8)}`);
    expect(first.base).toBe(version0);
    // Round two's copy was the one in hand at the reload, and the reloaded page computed it: both copies valid, one volunteer.
    const copies = storedCopies(c, job.id);
    expect(copies.map((r) => [r.idx, r.outcome, r.volunteer_id])).toEqual([[0, 'valid', second.volunteerId], [1, 'valid', second.volunteerId]]);
    expect(copies[1]!.id).toBe(second.currentCopy);
    // The reloaded page took round two from the version 0 it had kept, by the delta: never the full version 1.
    expect(after).toContain(first.hash);
    expect(after).not.toContain(first.target);
    expect(after).not.toContain(version0);
    expect(problems).toEqual([]);
  }, 300_000);
});
