/**
 * A small causal transformer (2 layers, width 64) trained through real
 * `tabgrid worker --node` volunteers on a seeded sequence task (reversing
 * six digits), in sync mode (submitted by `tabgrid train --task reverse`) and
 * with local steps; scored by the coordinator on held-out sequences by
 * teacher-forced exact match: every answer digit right.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { encodeTensors } from '../../shared/tensor/codec.ts';
import { tensorFromTyped } from '../../shared/tensor/tensor.ts';
import { generateSequenceTask } from '../../server/training/sequence-task.ts';
import { buildTransformer } from '../../server/training/transformer.ts';
import { CLI, REPO, spawnCoordinator, type SpawnedCoordinator } from '../helpers/coordinator.ts';
import { historyOf, waitForJob } from '../helpers/wait.ts';

describe('transformer training through volunteers', () => {
  const cleanup: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const f of cleanup.splice(0).reverse()) await f().catch(() => {});
  });
  async function coordinator() {
    const c = await spawnCoordinator();
    cleanup.push(async () => {
      if (c.proc.exitCode !== null) console.error(`coordinator exited ${c.proc.exitCode}: ${c.stderr.join('').slice(-4000)}`);
      await c.stop();
    });
    return c;
  }
  /** `tabgrid worker --node n`: the real worker command, its own process; its output kept for the failure message. */
  function workerProcess(c: SpawnedCoordinator, n: number): { proc: ChildProcess; output: string[] } {
    const output: string[] = [];
    const proc = spawn(process.execPath, [CLI, 'worker', '--node', String(n), '--server', c.url], { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'] });
    proc.stdout!.on('data', (d: Buffer) => output.push(d.toString()));
    proc.stderr!.on('data', (d: Buffer) => output.push(d.toString()));
    const exited = new Promise<void>((r) => proc.once('exit', () => r()));
    cleanup.push(async () => {
      proc.kill('SIGTERM');
      const t = setTimeout(() => proc.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(t);
    });
    return { proc, output };
  }
  async function upload(c: SpawnedCoordinator, count: number) {
    const d = generateSequenceTask({ task: 'reverse', digits: 6, count, seed: 1 });
    return {
      model: await c.api.uploadBlob(buildTransformer({ vocab: d.vocab, length: d.length, width: 64, heads: 4, layers: 2, seed: 1 })),
      data: { blob: await c.api.uploadBlob(encodeTensors([{ name: 'x', ...tensorFromTyped('float32', [count, d.length], d.tokens) }])), format: 'tensors' as const },
      labels: { blob: await c.api.uploadBlob(encodeTensors([{ name: 'y', ...tensorFromTyped('int64', [count, d.length], d.labels) }])), format: 'tensors' as const },
    };
  }

  /** Runs the job to completion; a volunteer dropped mid-job (a sync shard's 32 gradient tensors once closed the connection) fails at once. */
  async function trained(c: SpawnedCoordinator, w: { output: string[] }, id: string) {
    const dropped = c.waitForLog((l) => l.msg === 'volunteer disconnected', 170_000).then((l) => {
      throw new Error(`a volunteer was disconnected (${String(l.reason)}) while training; worker output: ${w.output.join('').slice(-2000)}`);
    });
    dropped.catch(() => {});
    const done = await Promise.race([waitForJob(c.api, id, 170_000), dropped]);
    expect(done.state).toBe('completed');
    return done;
  }

  // 2,000 distinct sequences, 400 held out (chance of an exact match: 1e-6); aggregation is in shard order, not arrival order.
  it('reaches >= 0.9 held-out exact match in sync mode (fp32 gradients: 32 tensors a result) through `tabgrid train --task reverse` and 2 `tabgrid worker --node` volunteers', async () => {
    const c = await coordinator();
    const w = workerProcess(c, 2);
    const out = mkdtempSync(join(tmpdir(), 'tabgrid-transformer-'));
    const env = { ...process.env, TABGRID_TOKEN: c.token };
    const cli = promisify(execFile)(process.execPath, [CLI, 'train', '--server', c.url, '--task', 'reverse', '--digits', '6', '--records', '2000',
      '--width', '64', '--layers', '2', '--out', out, '--lr', '0.003', '--batch', '64', '--epochs', '1', '--shards-per-round', '2', '--replicas', '1',
      '--eval-fraction', '0.2', '--seed', '7', '--json'], { cwd: REPO, env });
    // A volunteer dropped mid-job (a sync shard's 32 gradient tensors once closed its connection) fails at once.
    const dropped = c.waitForLog((l) => l.msg === 'volunteer disconnected', 170_000).then((l) => {
      throw new Error(`a volunteer was disconnected (${String(l.reason)}) while training; worker output: ${w.output.join('').slice(-2000)}`);
    });
    dropped.catch(() => {});
    const r = await Promise.race([cli, dropped]);
    const res = JSON.parse(r.stdout.trim().split('\n').at(-1)!) as { job: string; state: string; accuracy: number; files: string[] };
    expect(res.state).toBe('completed');
    expect(r.stderr).toMatch(/task reverse: 2000 distinct 6-digit sequences \(seed 7\), 12 tokens each/);
    const history = JSON.parse(readFileSync(join(out, 'history.json'), 'utf8')) as { round: number; loss: number; accuracy: number | null }[];
    // 1,600 training sequences, 64 a round.
    expect(history).toHaveLength(25);
    console.info(`transformer, sync: loss ${history[0]!.loss.toFixed(3)} -> ${history.at(-1)!.loss.toFixed(3)}, held-out exact match ${res.accuracy}`);
    expect(res.accuracy).toBeGreaterThanOrEqual(0.9);
    expect(existsSync(join(out, 'model.onnx'))).toBe(true);
    // --task brings its own model and data.
    const both = await promisify(execFile)(process.execPath, [CLI, 'train', '--server', c.url, '--task', 'reverse', '--model', join(out, 'model.onnx'), '--out', out], { cwd: REPO, env })
      .catch((e: { code: number; stderr: string }) => e);
    expect((both as { code: number }).code).not.toBe(0);
    expect((both as { stderr: string }).stderr).toMatch(/--task brings its own model and data: leave out --model, --data and --labels/);
  }, 180_000);

  it('reaches >= 0.9 held-out exact match with local steps (H=8 AdamW, int8 changes, replicated) with 2 `tabgrid worker --node` volunteers', async () => {
    const c = await coordinator();
    const up = await upload(c, 2000);
    const w = workerProcess(c, 2);
    const job = await c.api.createJob({
      kind: 'train', ...up, loss: 'cross-entropy', optimizer: 'adam', lr: 3e-3,
      batch: 64, epochs: 1, shardsPerRound: 2, localSteps: 8, updateFormat: 'int8', replicas: 2, evalFraction: 0.2, seed: 7,
    });
    // 1,600 training sequences, 64 x 8 a round: 4 rounds, each volunteer taking 8 inner steps of 32 sequences per shard.
    expect(job.rounds).toBe(4);
    const done = await trained(c, w, job.id);
    const h = historyOf(done);
    console.info(`transformer, local steps: ${h.length} rounds, held-out exact match by epoch ${h.filter((x) => x.accuracy !== null).map((x) => x.accuracy).join(', ')}`);
    expect(done.copies.invalid).toBe(0);
    expect(done.train!.accuracy!).toBeGreaterThanOrEqual(0.9);
  }, 180_000);
});
