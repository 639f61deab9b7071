/**
 * The contributor app computing for a real coordinator in headless Chromium:
 * one tab on WASM and one on WebGPU (SwiftShader) finish a job whose copies
 * are cross-checked against each other, the outputs equal a direct
 * onnxruntime-web run, and a second visit takes the model from the cache.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { runDirect } from '../helpers/direct-run.ts';
import { startVolunteer } from '../helpers/volunteers.ts';
import { ARTIFACTS, countBlobRequests, status, waitForStatus } from './browser.ts';
import { jobOutput, maxAbsDiff, submitMlpJob, waitForJob } from './jobs.ts';
import { coordinatorAndChromium, type Tab } from './tabs.ts';

describe('contributor app: computing', () => {
  const grid = coordinatorAndChromium({ webgpu: true });
  const { problems } = grid;
  const viewport = { width: 1280, height: 900 };

  async function openTab(backend: 'wasm' | 'webgpu'): Promise<Tab & { blobs: string[] }> {
    let blobs: string[] = [];
    const tab = await grid.openTab(backend, {
      viewport,
      prepare: (ctx) => {
        blobs = countBlobRequests(ctx);
        // Everything (app, onnxruntime's wasm, models) comes from the coordinator: nothing from a CDN.
        ctx.on('request', (r) => { if (!r.url().startsWith(grid.c.url) && !r.url().startsWith('blob:') && !r.url().startsWith('data:')) problems.push(`${backend} fetched ${r.url()}`); });
      },
    });
    return { ...tab, blobs };
  }

  /** Each test opens its own tabs and closes them, so none takes another test's shards and each runs alone. */
  function closeAtEnd(...tabs: Tab[]) {
    onTestFinished(async () => { await Promise.all(tabs.map((t) => t.ctx.close())); });
  }

  it('finishes a job on a WASM tab and a WebGPU tab, with outputs equal to a direct onnxruntime-web run', async () => {
    const { c } = grid;
    const [wasm, gpu] = await Promise.all([openTab('wasm'), openTab('webgpu')]);
    closeAtEnd(wasm, gpu);
    const sw = await waitForStatus(wasm.page, (s) => !!s.volunteerId && s.state === 'waiting', 'WASM tab connected and waiting');
    const sg = await waitForStatus(gpu.page, (s) => !!s.volunteerId && s.state === 'waiting', 'WebGPU tab connected and waiting');
    expect(sw.backend).toBe('wasm');
    expect(sg.backend).toBe('webgpu');
    expect(sg.selfTests).toEqual([{ backend: 'webgpu', ok: true }]);
    expect(sg.backendReason).toMatch(/WebGPU .* passed its self-test/);

    // Two replicas and two volunteers: every shard is computed on both backends and cross-checked.
    const job = await submitMlpJob(c.api, { records: 384, shardSize: 16, width: 64, layers: 4, replicas: 2 });

    // A screenshot mid-job, for a human to look at.
    await waitForStatus(gpu.page, (s) => s.counts.computed >= 3, 'WebGPU tab computed a few shards', 60_000);
    mkdirSync(ARTIFACTS, { recursive: true });
    await gpu.page.screenshot({ path: join(ARTIFACTS, 'contributor-computing.png'), fullPage: true });

    const done = await waitForJob(c.api, job.id, 120_000);
    expect(done.state).toBe('completed');
    expect(done.shards.validated).toBe(job.shards);

    const got = await jobOutput(c.api, job.id);
    const [want] = await runDirect(job.model, { x: job.x });
    expect(got.dims).toEqual([384, 64]);
    expect(maxAbsDiff(got, want!)).toBeLessThan(1e-4);

    // Both tabs did work, and the coordinator's judgements reached them.
    for (const { page } of [wasm, gpu]) {
      const s = await waitForStatus(page, (x) => x.counts.validated > 0 && x.counts.pending === 0, 'outcomes delivered');
      expect(s.counts.uploaded).toBeGreaterThan(0);
      expect(s.counts.rejected).toBe(0);
      expect(s.balance ?? 0).toBeGreaterThan(0);
    }
    // Each tab fetched the model exactly once.
    expect(wasm.blobs).toHaveLength(1);
    expect(gpu.blobs).toHaveLength(1);
    expect(problems).toEqual([]);
  }, 150_000);

  it('on a second visit takes the model from its IndexedDB cache: no blob request reaches the coordinator', async () => {
    const { c } = grid;
    const wasm = await openTab('wasm');
    closeAtEnd(wasm);
    const before = await waitForStatus(wasm.page, (s) => s.state === 'waiting' && !!s.volunteerId, 'WASM tab connected and waiting');
    const coordinatorBlobLogs = () => c.logs.filter((l) => typeof l.url === 'string' && (l.url as string).startsWith('/blobs/')).length;
    const logsAtStart = coordinatorBlobLogs();
    // The first visit: the tab is the only volunteer, so it computes every shard, and downloads the model once.
    const first = await submitMlpJob(c.api, { records: 64, shardSize: 16, width: 64, layers: 4, replicas: 1 });
    expect((await waitForJob(c.api, first.id)).state).toBe('completed');
    expect(wasm.blobs).toHaveLength(1);
    wasm.blobs.length = 0;
    // The coordinator did log that download (a little after it): the check below is not vacuous.
    await c.waitForLog(() => coordinatorBlobLogs() > logsAtStart);
    const logsBefore = coordinatorBlobLogs();

    await wasm.page.reload();
    await waitForStatus(wasm.page, (s) => s.state === 'waiting' && !!s.volunteerId, 'WASM tab back after the reload');
    const again = await status(wasm.page);
    expect(again.volunteerId).toBe(before.volunteerId);

    const job = await submitMlpJob(c.api, { records: 64, shardSize: 16, width: 64, layers: 4, inputSeed: 99, replicas: 1 });
    const done = await waitForJob(c.api, job.id);
    expect(done.state).toBe('completed');
    expect(Buffer.from(job.model).equals(Buffer.from(first.model))).toBe(true);
    const s = await waitForStatus(wasm.page, (x) => x.counts.uploaded >= job.shards, 'the reloaded tab computed the new job');
    expect(s.counts.uploaded).toBe(job.shards);
    expect(wasm.blobs).toEqual([]);
    expect(coordinatorBlobLogs()).toBe(logsBefore);
    expect(problems).toEqual([]);
  });

  it('falls back to WASM and says so when the GPU device is lost, and the job still completes', async () => {
    const { c } = grid;
    // No backend named: WebGPU first, WASM as the fallback, both self-tested.
    const auto = await grid.openTab(undefined, { viewport });
    closeAtEnd(auto);
    const { page } = auto;
    const first = await waitForStatus(page, (s) => s.state === 'waiting' && !!s.volunteerId, 'auto tab connected');
    expect(first.backend).toBe('webgpu');
    expect(first.selfTests.map((t) => [t.backend, t.ok])).toEqual([['webgpu', true], ['wasm', true]]);

    // Inside the compute worker: destroy the GPU device the next time onnxruntime encodes GPU work.
    const worker = page.workers().find((w) => w.url().includes('compute.worker'));
    expect(worker).toBeDefined();
    await worker!.evaluate(() => {
      const proto = GPUDevice.prototype;
      const original = proto.createCommandEncoder;
      proto.createCommandEncoder = function (this: GPUDevice, ...args: Parameters<typeof original>) {
        proto.createCommandEncoder = original;
        this.destroy();
        return original.apply(this, args);
      };
    });

    const job = await submitMlpJob(c.api, { records: 64, shardSize: 16, width: 32, layers: 2, seed: 21, replicas: 1 });
    const after = await waitForStatus(page, (s) => s.backend === 'wasm' && !!s.backendNotice, 'fell back to WASM');
    expect(after.backendNotice).toMatch(/Switched from webgpu to wasm: the GPU device was lost/);
    await expect(page.getByTestId('backend').textContent()).resolves.toBe('WebAssembly');
    // The shard that was on the GPU was reported as failed (not silently held) and goes to another volunteer:
    // one volunteer never gets two copies of a shard.
    await c.waitForLog((l) => l.msg === 'volunteer could not compute its copy; it will be reissued' && l.volunteer === first.volunteerId);
    const s = await waitForStatus(page, (x) => x.phase === 'running' && x.counts.uploaded >= job.shards - 1, 'the other shards computed on WASM');
    const helper = startVolunteer(c.url);
    try {
      const done = await waitForJob(c.api, job.id);
      expect(done.state).toBe('completed');
    } finally {
      await helper.stop();
    }
    expect(s.volunteerId).toBe(first.volunteerId);
    // The coordinator now knows this volunteer computes on WASM.
    const joins = c.logs.filter((l) => l.msg === 'volunteer joined' && l.volunteer === first.volunteerId);
    expect(String(joins[0]!.class)).toMatch(/webgpu/);
    expect(String(joins.at(-1)!.class)).toMatch(/wasm/);
    expect(problems.filter((p) => !/GPU|device|WebGPU/i.test(p))).toEqual([]);
  }, 120_000);
});
