/**
 * Fair share on a real coordinator (issue 15): two projects with weights 1
 * and 3 and plenty of work, one swarm of `tabgrid worker --node` volunteers.
 * Shares are counted over a fixed number of claims (the first 80 copies the
 * coordinator issued, in issue order) as the validated GFLOP credited for
 * them, never over wall time; then the heavier project goes idle and every
 * copy issued after that goes to the other at once.
 */
import Database from 'better-sqlite3';
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TabgridClient } from '../../shared/http/client.ts';
import { encodeTensors } from '../../shared/tensor/codec.ts';
import { tensorFromTyped } from '../../shared/tensor/tensor.ts';
import { CLI, REPO } from '../helpers/coordinator.ts';
import { mlpModel, randomInput } from '../helpers/onnx-builder.ts';
import { perDescribe } from '../helpers/per-test.ts';

const CLAIMS = 80;
/** Copies issued after the heavy project goes idle, all of which must be the light one's. */
const AFTER = 40;
/** The light job's shards: 1,024 records in shards of 4. */
const LIGHT_SHARDS = 256;

describe('fair share between projects', () => {
  const shared = perDescribe();
  let worker: ChildProcess | undefined;
  let db: Database.Database;

  beforeAll(() => {
    db = new Database(join(shared.c.dataDir, 'tabgrid.sqlite'), { readonly: true });
  });
  afterAll(() => {
    worker?.kill('SIGTERM');
    db?.close();
  });

  async function project(operator: TabgridClient, name: string, weight: number, records: number) {
    const { token } = await operator.createProject({ name, weight });
    const api = new TabgridClient(shared.c.url, token);
    const model = await api.uploadBlob(mlpModel({ width: 8, layers: 1, seed: 2 }));
    const x = await api.uploadBlob(encodeTensors([{ name: 'x', ...tensorFromTyped('float32', [records, 8], randomInput(records, 8, 9)) }]));
    // Shards of 4 records, replicas 2 (a trusted host's copy may stand alone): more work than the measured claims take. The heavy project's job is
    // four times the light one's, so it is still running when the measured claims are all settled: a claim is
    // drawn among the head's shards (core/scheduler/pick.ts), so a shard's second copy may come some claims later.
    const job = await api.createJob({ model, inputs: [{ name: 'x', blob: x, format: 'tensors' }], shardSize: 4, replicas: 2, name: `${name} batch` });
    return { api, job: job.id };
  }

  async function until(what: string, pred: () => boolean, timeoutMs = 120_000) {
    const deadline = Date.now() + timeoutMs;
    while (!pred()) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  it('weights 1 and 3: 25 % and 75 % (± 10 points) of the validated GFLOP of the first 80 claims; an idle project\'s share goes to the other at once', async () => {
    const { c } = shared;
    const operator = new TabgridClient(c.url, readFileSync(join(c.dataDir, 'operator-token'), 'utf8').trim());
    const light = await project(operator, 'light', 1, LIGHT_SHARDS * 4);
    const heavy = await project(operator, 'heavy', 3, LIGHT_SHARDS * 16);
    // The operator's own hosts: trusted from the first claim, so no volunteer changes its trust (and with it which
    // shards it may take: replication.ts) in the middle of the measured claims.
    const operatorToken = readFileSync(join(c.dataDir, 'operator-token'), 'utf8').trim();
    worker = spawn(process.execPath, [CLI, 'worker', '--node', '4', '--server', c.url, '--operator-token', operatorToken], { cwd: REPO, stdio: 'ignore' });

    // The first CLAIMS copies in issue order, once every one of them is settled: credited, or ended without a result
    // (a copy that expired on a loaded machine is never credited; waiting for it would let both jobs run on for minutes).
    const first = () => db.prepare(`SELECT c.id, j.project_id, l.amount, c.state FROM copies c JOIN jobs j ON j.id = c.job_id
      LEFT JOIN ledger l ON l.copy_id = c.id ORDER BY c.rowid LIMIT ?`).all(CLAIMS) as { id: string; project_id: string; amount: number | null; state: string }[];
    const settled = (x: { amount: number | null; state: string }) => x.amount !== null || ['expired', 'error', 'cancelled'].includes(x.state);
    await until(`${CLAIMS} copies settled`, () => { const r = first(); return r.length === CLAIMS && r.every(settled); });
    const rows = first().filter((x) => x.amount !== null);
    expect(rows.length).toBeGreaterThan(CLAIMS / 2);
    const projects = Object.fromEntries((await operator.operatorProjects()).projects.map((p) => [p.id, p.name]));
    const gflop: Record<string, number> = { light: 0, heavy: 0 };
    for (const r of rows) gflop[projects[r.project_id]!]! += r.amount!;
    const share = gflop.light! / (gflop.light! + gflop.heavy!);
    expect(share).toBeGreaterThanOrEqual(0.15);
    expect(share).toBeLessThanOrEqual(0.35);

    // The heavy project goes idle: from then on every copy issued is the light one's. The light job is large enough
    // that it is still being issued now (checked, not assumed), so the next AFTER copies are issued while it runs.
    await heavy.api.cancel(heavy.job);
    const before = (db.prepare('SELECT MAX(rowid) AS n FROM copies').get() as { n: number }).n;
    // At least AFTER of its shards never had a copy, so at least AFTER more copies are still to come.
    const lightStarted = (db.prepare('SELECT COUNT(DISTINCT shard_id) AS n FROM copies WHERE job_id = ?').get(light.job) as { n: number }).n;
    expect(lightStarted).toBeLessThan(LIGHT_SHARDS - AFTER);
    const after = () => db.prepare(`SELECT j.project_id FROM copies c JOIN jobs j ON j.id = c.job_id WHERE c.rowid > ? ORDER BY c.rowid LIMIT ?`).all(before, AFTER) as { project_id: string }[];
    await until(`${AFTER} copies issued after the heavy project went idle`, () => after().length === AFTER);
    expect(new Set(after().map((r) => projects[r.project_id]))).toEqual(new Set(['light']));
    await light.api.cancel(light.job);
  }, 300_000);
});
