/**
 * Data-parallel training rounds: where a round's time goes, how throughput
 * scales with 1, 2 and 4 workers, and how many gradient bytes a round moves.
 *
 * A real coordinator trains the MNIST MLP (784-128-10, 101,770 parameters)
 * with plain SGD and the mean aggregator; the global batch per round is fixed
 * (--train-batch, default 2048 digits) and split into one shard per worker
 * (shardsPerRound = workers, at most one shard per worker per round, replicas
 * 1), so every configuration trains the same batches (strong scaling). Each
 * worker is its own process (`tabgrid worker --node 1`): workers never share
 * an event loop or onnxruntime instance. This machine has 2 cores, shared
 * with the coordinator and everything else running here, so scaling beyond 2
 * workers is bounded by the hardware, not only by tabgrid.
 *
 * Per round r, with T(r) the coordinator's `training round closed` log time
 * and L the round's critical copy (the last result the coordinator stored):
 *   wall      = T(r) - T(r-1)
 *   compute   = L's computeMs as its worker reported it (session.run only)
 *   aggregate = the round's aggregateMs (decoding the shards' gradients,
 *               aggregating them and the optimizer step, as logged)
 *   transfer  = wall - compute - aggregate: everything else on the round's
 *               critical path, which splits further into
 *     dispatch  = L.assigned_at - T(r-1): new round announced, requested, claimed
 *     worker io = L.returned_at - L.assigned_at - compute: weights blob
 *                 download and check, feeds, result encoding and upload
 *     close     = T(r) - L.returned_at - aggregate: validation, commit,
 *                 publishing the new weights and optimizer blobs, next round
 * The first rounds of each job (session compile, first weights) are left out.
 *
 * Throughput is records trained per second over a job's measured rounds.
 * Configurations run in sweeps (1, 2, 4 workers, then 4, 2, 1, ...);
 * speedup(n) = throughput with n workers ÷ throughput with 1 worker in the
 * same sweep (the median over the sweeps). `dp_efficiency_N` is that ratio,
 * as the issue defines it ("throughput ratio against 1 worker");
 * `dp_efficiency_per_worker_N` divides it by N (1 = perfect scaling).
 * Gradient bytes per round = parameters × 4 bytes (float32) × shards per round
 * × replicas: the gradient outputs the coordinator receives each round (plus
 * one float32 loss per copy and the codec's headers, left out).
 */
import Database from 'better-sqlite3';
import { type ChildProcess, spawn } from 'node:child_process';
import { availableParallelism as cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { CLI, REPO, type SpawnedCoordinator, spawnCoordinator } from '../test/helpers/coordinator.ts';
import { uploadMnist } from '../test/helpers/mnist-job.ts';
import type { Flags } from './lib/flags.ts';
import { median, round, table } from './lib/stats.ts';

export const TRAINING_FLAGS = ['train-batch', 'train-rounds', 'train-repeats'] as const;

export interface TrainingFigures {
  /** As the issue defines it: throughput with N workers ÷ throughput with 1. */
  dp_efficiency_2: number;
  dp_efficiency_4: number;
  /** The same divided by N (1.0 = perfect scaling). */
  dp_efficiency_per_worker_2: number;
  dp_efficiency_per_worker_4: number;
  train_records_per_s_1: number;
  train_records_per_s_2: number;
  train_records_per_s_4: number;
  round_ms_1: number;
  round_ms_2: number;
  round_ms_4: number;
  round_compute_ms: number;
  round_transfer_ms: number;
  round_aggregate_ms: number;
  gradient_bytes_per_round: number;
  train_batch: number;
}

const WORKERS = [1, 2, 4] as const;
/** Digits in the data set: a multiple of every batch used, so all rounds of an epoch are full. */
const RECORDS = 8192;
/** Rounds left out at the start of each job. */
const WARM_ROUNDS = 2;

type Log = (line: string) => void;

interface RoundSplit { wall: number; compute: number; aggregate: number; transfer: number; dispatch: number; workerIo: number; close: number; meanCompute: number }
interface Run { workers: number; recordsPerS: number; rounds: RoundSplit[]; gradientBytesPerRound: number; problems: string[] }

export async function trainingBench(flags: Flags, log: Log): Promise<TrainingFigures> {
  const quick = flags.has('quick');
  const batch = flags.int('train-batch', 2048);
  const measured = flags.int('train-rounds', quick ? 6 : 16);
  const repeats = flags.int('train-repeats', quick ? 1 : 3);
  if (RECORDS % batch !== 0) throw new Error(`--train-batch must divide ${RECORDS}`);
  const roundsPerEpoch = RECORDS / batch;
  const epochs = Math.ceil((measured + WARM_ROUNDS) / roundsPerEpoch);
  // 1, 2, 4, then 4, 2, 1: a slow drift on the shared machine then biases no configuration.
  const order = Array.from({ length: repeats }, (_, i) => (i % 2 === 0 ? [...WORKERS] : [...WORKERS].reverse())).flat();

  log(`training bench: MNIST MLP 784-128-10, SGD, global batch ${batch} split over 1, 2 or 4 worker processes ` +
    `(one shard each per round, replicas 1), ${epochs * roundsPerEpoch} rounds per job of which the first ${WARM_ROUNDS} are warm-up; ` +
    `order ${order.join(', ')}`);
  log(`load average at start: ${loadavg().map((x) => round(x, 1)).join(', ')} (${cpus()} CPUs: at most ${cpus()} workers compute at once, ` +
    'and they share them with the coordinator and anything else running here)');

  const coord = await spawnCoordinator({ args: ['--log-level', 'info'] });
  const pool = new WorkerPool(coord.url);
  try {
    const up = await uploadMnist(coord.api, { count: RECORDS });
    const runs: Run[] = [];
    for (const n of order) {
      await pool.resize(n);
      const job = await coord.api.createJob({
        kind: 'train', model: up.model, data: up.data, labels: up.labels, loss: 'cross-entropy', optimizer: 'sgd', lr: 0.05,
        batch, epochs, shardsPerRound: n, replicas: 1, maxShardsPerVolunteer: 1, minFraction: 1, evalFraction: 0, seed: 1,
      });
      await waitDone(coord, job.id, 300_000);
      const run = collect(coord, job.id, n, batch);
      runs.push(run);
      const r = summarise(run.rounds);
      log(`  ${n} worker${n > 1 ? 's' : ' '}: ${round(run.recordsPerS)} records/s, round ${round(r.wall, 1)} ms = compute ${round(r.compute, 1)} + ` +
        `transfer ${round(r.transfer, 1)} + aggregate ${round(r.aggregate, 1)} (medians)${run.problems.length ? `; ${run.problems.join('; ')}` : ''}`);
    }

    const at = (n: number) => runs.filter((r) => r.workers === n);
    const rate = (n: number) => median(at(n).map((r) => r.recordsPerS));
    // Speedups within each sweep (one run of every configuration, back to back) first, then their median:
    // the machine's load drifts between sweeps far more than within one.
    const sweeps = Array.from({ length: repeats }, (_, i) => runs.slice(i * WORKERS.length, (i + 1) * WORKERS.length));
    const speedups = (n: number) => sweeps.map((sw) => sw.find((r) => r.workers === n)!.recordsPerS / sw.find((r) => r.workers === 1)!.recordsPerS);
    const speedup = (n: number) => median(speedups(n));
    const split = (n: number) => summarise(at(n).flatMap((r) => r.rounds));
    const gradBytes = (n: number) => at(n)[0]!.gradientBytesPerRound;

    log('');
    log(table(
      ['workers', 'records/s', 'speedup', 'efficiency', 'round ms', 'compute', 'transfer', '(dispatch', 'worker io', 'close)', 'aggregate', 'mean shard compute', 'gradient B/round'],
      WORKERS.map((n) => {
        const s = split(n);
        return [n, round(rate(n)), round(speedup(n), 3), round(speedup(n) / n, 3), round(s.wall, 1), round(s.compute, 1), round(s.transfer, 1),
          round(s.dispatch, 1), round(s.workerIo, 1), round(s.close, 1), round(s.aggregate, 1), round(s.meanCompute, 1), gradBytes(n)];
      }),
    ));
    log('(medians over the measured rounds of every run of a configuration; compute = the critical copy\'s session.run, ' +
      'transfer = round - compute - aggregate, split into dispatch + worker io + close; speedup = records/s ÷ 1 worker\'s in the same sweep, ' +
      'median over the sweeps; efficiency = speedup ÷ workers)');
    log(`speedups per sweep: 2 workers ${speedups(2).map((x) => round(x, 3)).join(', ')}; 4 workers ${speedups(4).map((x) => round(x, 3)).join(', ')}`);
    const runsTable = runs.map((r, i) => [`#${i + 1}`, r.workers, round(r.recordsPerS), round(summarise(r.rounds).wall, 1)]);
    log(table(['run', 'workers', 'records/s', 'round ms'], runsTable));
    log(`load average at end: ${loadavg().map((x) => round(x, 1)).join(', ')}`);

    const top = WORKERS.at(-1)!;
    const s = split(top);
    return {
      dp_efficiency_2: round(speedup(2), 3),
      dp_efficiency_4: round(speedup(4), 3),
      dp_efficiency_per_worker_2: round(speedup(2) / 2, 3),
      dp_efficiency_per_worker_4: round(speedup(4) / 4, 3),
      train_records_per_s_1: round(rate(1)),
      train_records_per_s_2: round(rate(2)),
      train_records_per_s_4: round(rate(4)),
      round_ms_1: round(split(1).wall, 1),
      round_ms_2: round(split(2).wall, 1),
      round_ms_4: round(s.wall, 1),
      // The split of a round with the most workers: the configuration where communication matters most.
      round_compute_ms: round(s.compute, 1),
      round_transfer_ms: round(s.transfer, 1),
      round_aggregate_ms: round(s.aggregate, 1),
      gradient_bytes_per_round: gradBytes(top),
      train_batch: batch,
    };
  } finally {
    await pool.resize(0);
    await coord.stop();
  }
}

function summarise(rounds: readonly RoundSplit[]): RoundSplit {
  const m = (k: keyof RoundSplit) => median(rounds.map((r) => r[k]));
  return {
    wall: m('wall'), compute: m('compute'), aggregate: m('aggregate'), transfer: m('transfer'),
    dispatch: m('dispatch'), workerIo: m('workerIo'), close: m('close'), meanCompute: m('meanCompute'),
  };
}

async function waitDone(c: SpawnedCoordinator, id: string, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const s = await c.api.job(id);
    if (s.state === 'completed') return;
    if (s.state !== 'running') throw new Error(`training job ${id} ended ${s.state}`);
    if (Date.now() > end) throw new Error(`training job ${id} still running after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** Reads one finished job's rounds from the coordinator's log and its copies from the SQLite file (read-only). */
function collect(c: SpawnedCoordinator, jobId: string, workers: number, batch: number): Run {
  const closed = new Map<number, { at: number; aggregateMs: number }>();
  for (const l of c.logs) {
    if (l.msg === 'training round closed' && l.job === jobId) closed.set(l.round as number, { at: Date.parse(l.time as string), aggregateMs: l.aggregateMs as number });
  }
  const db = new Database(join(c.dataDir, 'tabgrid.sqlite'), { readonly: true, fileMustExist: true });
  let copies: { idx: number; compute_ms: number; assigned_at: number; returned_at: number }[];
  let spec: { shardsPerRound: number; params: { dims: number[] }[]; limits: { replicas: number } };
  try {
    copies = db.prepare(`SELECT s.idx, c.compute_ms, c.assigned_at, c.returned_at FROM copies c JOIN shards s ON s.id = c.shard_id
      WHERE c.job_id = ? AND c.state = 'returned'`).all(jobId) as typeof copies;
    spec = JSON.parse((db.prepare('SELECT spec FROM jobs WHERE id = ?').get(jobId) as { spec: string }).spec) as typeof spec;
  } finally {
    db.close();
  }
  const problems: string[] = [];
  const total = closed.size;
  const rounds: RoundSplit[] = [];
  for (let r = WARM_ROUNDS; r < total; r++) {
    const prev = closed.get(r - 1);
    const cur = closed.get(r);
    const mine = copies.filter((x) => Math.floor(x.idx / spec.shardsPerRound) === r);
    if (!prev || !cur || mine.length === 0) { problems.push(`round ${r} incomplete in the log or the database`); continue; }
    const last = mine.reduce((a, b) => (b.returned_at > a.returned_at ? b : a));
    const wall = cur.at - prev.at;
    const compute = last.compute_ms;
    rounds.push({
      wall, compute, aggregate: cur.aggregateMs, transfer: wall - compute - cur.aggregateMs,
      dispatch: last.assigned_at - prev.at,
      workerIo: last.returned_at - last.assigned_at - compute,
      close: cur.at - last.returned_at - cur.aggregateMs,
      meanCompute: mine.reduce((a, b) => a + b.compute_ms, 0) / mine.length,
    });
  }
  const first = closed.get(WARM_ROUNDS - 1)!;
  const end = closed.get(total - 1)!;
  const params = spec.params.reduce((a, p) => a + p.dims.reduce((x, y) => x * y, 1), 0);
  return {
    workers,
    recordsPerS: ((total - WARM_ROUNDS) * batch * 1000) / (end.at - first.at),
    rounds,
    // float32 gradients of every parameter, from every shard's every replica (the loss scalar aside).
    gradientBytesPerRound: params * 4 * spec.shardsPerRound * spec.limits.replicas,
    problems,
  };
}

/** `tabgrid worker --node 1` processes, one volunteer each, added and removed as configurations change. */
class WorkerPool {
  private readonly procs: { proc: ChildProcess; exited: Promise<void> }[] = [];

  constructor(private readonly server: string) {}

  async resize(n: number): Promise<void> {
    const starting: Promise<void>[] = [];
    while (this.procs.length + starting.length < n) starting.push(this.spawnOne());
    await Promise.all(starting);
    while (this.procs.length > n) {
      const p = this.procs.pop()!;
      // SIGTERM: the worker stops its volunteer (no copy is in hand between jobs) and exits.
      p.proc.kill('SIGTERM');
      const t = setTimeout(() => p.proc.kill('SIGKILL'), 10_000);
      await p.exited;
      clearTimeout(t);
    }
  }

  private spawnOne(): Promise<void> {
    const proc = spawn(process.execPath, [CLI, 'worker', '--node', '1', '--server', this.server], { cwd: REPO, stdio: ['ignore', 'ignore', 'pipe'] });
    const exited = new Promise<void>((r) => proc.once('exit', () => r()));
    let err = '';
    return new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`worker process did not say hello within 60 s: ${err.slice(-1000)}`)), 60_000);
      proc.stderr!.on('data', (chunk: Buffer) => {
        err = (err + chunk.toString()).slice(-4000);
        // The worker logs its volunteer's hello; from then on it asks for work.
        if (/volunteer 0: \S+ crediting/.test(err)) { clearTimeout(t); resolve(); }
      });
      void exited.then(() => { clearTimeout(t); reject(new Error(`worker process exited: ${err.slice(-1000)}`)); });
    }).then(() => { this.procs.push({ proc, exited }); });
  }
}
