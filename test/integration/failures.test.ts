/**
 * Crashes: a volunteer process killed mid-shard, and the coordinator itself
 * killed with SIGKILL mid-job and restarted on the same data directory.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { ApiClient } from '../../cli/api-client.ts';
import { encodeTensors } from '../../shared/tensor/codec.ts';
import { tensorFromTyped } from '../../shared/tensor/tensor.ts';
import { CLI, REPO, spawnCoordinator, type SpawnedCoordinator } from '../helpers/coordinator.ts';
import { mlpModel, randomInput } from '../helpers/onnx-builder.ts';
import { runDirect } from '../helpers/direct-run.ts';
import { NO_RULES } from '../../server/core/scheduler/eligibility.ts';
import { SqliteStore } from '../../server/store/sqlite/sqlite-store.ts';
import { startVolunteer, type TestVolunteer } from '../helpers/volunteers.ts';
import { waitForJob } from '../helpers/wait.ts';

async function createJob(api: ApiClient, o: { width: number; layers: number; records: number; shardSize: number; leaseSeconds?: number }) {
  const model = await api.uploadBlob(mlpModel({ width: o.width, layers: o.layers }));
  const x = tensorFromTyped('float32', [o.records, o.width], randomInput(o.records, o.width));
  const input = await api.uploadBlob(encodeTensors([{ name: 'x', ...x }]));
  return api.createJob({ model, inputs: [{ blob: input, format: 'tensors' }], shardSize: o.shardSize, ...(o.leaseSeconds ? { leaseSeconds: o.leaseSeconds } : {}) });
}


describe('crash recovery', () => {
  const cleanup: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const f of cleanup.splice(0).reverse()) await f().catch(() => {});
  });

  it('reissues the copy of a worker killed mid-shard, and the job completes', async () => {
    const c = await spawnCoordinator({ args: ['--disconnect-grace', '1'] });
    cleanup.push(() => c.stop());
    // Heavy shards (~0.5 GFLOP each) so the kill lands while the worker computes.
    const job = await createJob(c.api, { width: 256, layers: 24, records: 64, shardSize: 32 });
    const worker = spawn(process.execPath, [CLI, 'worker', '--node', '1', '--server', c.url], { cwd: REPO, stdio: 'ignore' });
    cleanup.push(async () => { worker.kill('SIGKILL'); });
    const assigned = await c.waitForLog((l) => l.msg === 'assigned copy' && l.job === job.id, 30_000);
    await c.waitForLog((l) => l.msg === 'volunteer joined');
    worker.kill('SIGKILL');
    const victim = assigned.volunteer as string;
    await c.waitForLog((l) => l.msg === 'copy expired; its shard will be reissued' && l.volunteer === victim, 30_000);

    const helpers: TestVolunteer[] = [startVolunteer(c.url), startVolunteer(c.url)];
    cleanup.push(async () => { await Promise.all(helpers.map((h) => h.stop())); });
    const done = await waitForJob(c.api, job.id, 90_000);
    expect(done.state).toBe('completed');
    expect(done.shards.validated).toBe(done.shards.total);
    expect(done.copies.expired).toBeGreaterThanOrEqual(1);
  }, 180_000);

  it('survives SIGKILL mid-job: restarted on the same data, it completes with no shard lost and no copy credited twice', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'tabgrid-crash-'));
    let c = await spawnCoordinator({ dataDir });
    const port = c.port;
    cleanup.push(() => c.stop());
    const job = await createJob(c.api, { width: 128, layers: 12, records: 400, shardSize: 10, leaseSeconds: 5 });
    const vs = [startVolunteer(c.url), startVolunteer(c.url), startVolunteer(c.url)];
    cleanup.push(async () => { await Promise.all(vs.map((v) => v.stop())); });
    await c.waitForLog((l) => l.msg === 'shard validated' && l.job === job.id, 60_000);
    await c.kill('SIGKILL');
    const before = await new ApiClient(c.url, c.token).job(job.id).catch(() => null);
    expect(before).toBeNull(); // really down

    c = await spawnCoordinator({ dataDir, port });
    cleanup.push(() => c.stop());
    const done = await waitForJob(c.api, job.id, 120_000);
    expect(done.state).toBe('completed');
    expect(done.shards).toEqual({ total: 40, validated: 40, failed: 0 });
    // Work really was left when the first process died: the second one validated some.
    expect(c.logs.filter((l) => l.msg === 'shard validated' && l.job === job.id).length).toBeGreaterThan(0);
    await c.stop();

    const db = new Database(join(dataDir, 'tabgrid.sqlite'), { readonly: true });
    try {
      const dup = db.prepare('SELECT copy_id, COUNT(*) n FROM ledger GROUP BY copy_id HAVING n > 1').all();
      expect(dup).toEqual([]);
      const credited = (db.prepare(`SELECT COUNT(*) n FROM ledger WHERE job_id = ?`).get(job.id) as { n: number }).n;
      const valid = (db.prepare(`SELECT COUNT(*) n FROM copies WHERE job_id = ? AND outcome = 'valid'`).get(job.id) as { n: number }).n;
      expect(credited).toBe(valid);
      // Every shard valid at least once; with adaptive replication a trusted volunteer's copy may stand alone, but
      // only after 10 results another agreed with: at least 10 shards had two valid copies.
      expect(valid).toBeGreaterThanOrEqual(40 + 10);
      const missing = db.prepare(`SELECT idx FROM shards WHERE job_id = ? AND (state != 'validated' OR canonical_copy_id IS NULL)`).all(job.id);
      expect(missing).toEqual([]);
    } finally {
      db.close();
    }
  }, 240_000);

  it('starts although a running job\'s stored results cannot be decoded: that job is logged and failed', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'tabgrid-corrupt-'));
    let c = await spawnCoordinator({ dataDir });
    const { port } = c;
    cleanup.push(() => c.stop());
    const model = mlpModel({ width: 8, layers: 1 });
    const x = tensorFromTyped('float32', [8, 8], randomInput(8, 8));
    const job = await c.api.createJob({
      model: await c.api.uploadBlob(model),
      inputs: [{ blob: await c.api.uploadBlob(encodeTensors([{ name: 'x', ...x }])), format: 'tensors' }], shardSize: 4,
    });
    const vs = [startVolunteer(c.url), startVolunteer(c.url)];
    cleanup.push(async () => { await Promise.all(vs.map((v) => v.stop())); });
    expect((await waitForJob(c.api, job.id, 60_000)).state).toBe('completed');
    await Promise.all(vs.map((v) => v.stop()));
    await c.stop();

    // What a crash after validating every shard but before assembling the outputs leaves, with one
    // canonical result's row damaged on disk: the job is running and its results do not decode.
    const db = new Database(join(dataDir, 'tabgrid.sqlite'));
    try {
      db.prepare(`UPDATE jobs SET state = 'running', finished_at = NULL, result_hash = NULL WHERE id = ?`).run(job.id);
      const hit = db.prepare(`UPDATE copies SET result = ? WHERE id = (SELECT canonical_copy_id FROM shards WHERE job_id = ? AND idx = 1)`)
        .run(Buffer.from('not a tensor file, cut short'), job.id);
      expect(hit.changes).toBe(1);
    } finally {
      db.close();
    }

    c = await spawnCoordinator({ dataDir, port });
    cleanup.push(() => c.stop());
    const logged = await c.waitForLog((l) => l.job === job.id && l.level === 50 && /stored results/.test(String(l.msg)));
    expect(String((logged.err as { message?: string } | undefined)?.message ?? '')).not.toBe('');
    const failed = await c.api.job(job.id);
    expect(failed.state).toBe('failed');
    expect(failed.error).toMatch(/stored results could not be read at start-up/);
    // and the coordinator serves: a new job on the same data completes
    const again = await c.api.createJob({
      model: await c.api.uploadBlob(model),
      inputs: [{ blob: await c.api.uploadBlob(encodeTensors([{ name: 'x', ...x }])), format: 'tensors' }], shardSize: 4,
    });
    const more = [startVolunteer(c.url), startVolunteer(c.url)];
    cleanup.push(async () => { await Promise.all(more.map((v) => v.stop())); });
    expect((await waitForJob(c.api, again.id, 60_000)).state).toBe('completed');
  }, 180_000);

  it('judges results that were stored but not yet validated when the coordinator died', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'tabgrid-unjudged-'));
    let c = await spawnCoordinator({ dataDir });
    const { port } = c;
    const model = mlpModel({ width: 8, layers: 1 });
    const x = tensorFromTyped('float32', [4, 8], randomInput(4, 8));
    const job = await c.api.createJob({
      model: await c.api.uploadBlob(model),
      inputs: [{ blob: await c.api.uploadBlob(encodeTensors([{ name: 'x', ...x }])), format: 'tensors' }], shardSize: 4,
    });
    await c.stop();
    // What a crash between storing both replicas and judging them leaves behind.
    const [y] = await runDirect(model, { x });
    const store = new SqliteStore(join(dataDir, 'tabgrid.sqlite'));
    for (const id of ['volunteerA1', 'volunteerB2']) {
      const v = { id, wallet: null, account: `volunteer:${id}`, address: id, numericClass: 'wasm/ort-1.30.0' };
      const claimed = (await store.claimCopy({ volunteer: v, rules: new Set(), now: Date.now() }))!;
      expect(claimed.job.id).toBe(job.id);
      expect(await store.saveResult(claimed.copy.id, id, encodeTensors([y!]), 1, Date.now(), NO_RULES)).toBe('accepted');
    }
    expect(await store.shardsWithUnjudgedResults()).toHaveLength(1);
    await store.close();

    c = await spawnCoordinator({ dataDir, port });
    cleanup.push(() => c.stop());
    const done = await waitForJob(c.api, job.id, 30_000);
    expect(done).toMatchObject({ state: 'completed', copies: { valid: 2, invalid: 0 } });
  });

  it('judges stored results again after a failed judgement commit, once the disk has room, without a restart', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'tabgrid-full-'));
    writeFileSync(join(dataDir, 'disk-full'), '');
    const c = await spawnCoordinator({ dataDir, nodeArgs: ['--import', join(import.meta.dirname, '../helpers/full-disk.mjs')] });
    cleanup.push(() => c.stop());
    const model = mlpModel({ width: 8, layers: 1 });
    const x = tensorFromTyped('float32', [4, 8], randomInput(4, 8));
    const job = await c.api.createJob({
      model: await c.api.uploadBlob(model),
      inputs: [{ blob: await c.api.uploadBlob(encodeTensors([{ name: 'x', ...x }])), format: 'tensors' }], shardSize: 4, replicas: 2,
    });
    const vs = [startVolunteer(c.url), startVolunteer(c.url)];
    cleanup.push(async () => { await Promise.all(vs.map((v) => v.stop())); });
    const failed = (n: number) => (l: Record<string, unknown>) => l.msg === 'could not commit the judgement of stored results; judging them again later' && l.failures === n;
    await c.waitForLog(failed(1), 60_000);
    // Still full: the reconciler tries again, and backs off.
    const again = await c.waitForLog(failed(2), 30_000);
    expect(again).toMatchObject({ retryInMs: 2000, err: { message: 'database or disk is full' } });
    expect(await c.api.job(job.id)).toMatchObject({ state: 'running', shards: { validated: 0 } });
    unlinkSync(join(dataDir, 'disk-full'));
    const done = await waitForJob(c.api, job.id, 60_000);
    expect(done).toMatchObject({ state: 'completed', copies: { valid: 2, invalid: 0 } });
    await c.waitForLog((l) => l.msg === 'judged the stored results a failed commit had left unjudged', 10_000);
  }, 180_000);
});
