/**
 * Local-steps training end to end (issue 16): volunteers take H inner steps
 * per shard and return compressed parameter changes; the coordinator
 * cross-checks replicas, aggregates robustly and takes an outer Nesterov step.
 * Also `tabgrid train` through the real CLI, and rounds closed by their
 * deadline with `minFraction` when a shard has no taker.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { io } from 'socket.io-client';
import { blobLoader, nodeCapabilities } from '../../cli/commands/worker-node.ts';
import { ort } from '../../server/models/ort-node.ts';
import type { Assignment, WeightsOffer, WireTensor } from '../../shared/protocol/events.ts';
import { PROTOCOL_VERSION, SOCKET_PATH } from '../../shared/protocol/version.ts';
import { MemoryPendingStore } from '../../shared/volunteer/pending.ts';
import { Volunteer, type VolunteerSocket } from '../../shared/volunteer/volunteer.ts';
import { ShardExecutor } from '../../shared/worker-core/executor.ts';
import { encodeNpy } from '../../shared/tensor/npy.ts';
import { tensorFromTyped, typedView } from '../../shared/tensor/tensor.ts';
import { LOCAL_OUTPUTS } from '../../shared/training/local-steps.ts';
import { buildMlp } from '../../server/training/models.ts';
import { CLI, REPO, type SpawnedCoordinator } from '../helpers/coordinator.ts';
import { mnistTrainJob, uploadMnist } from '../helpers/mnist-job.ts';
import { perTest } from '../helpers/per-test.ts';
import { AGGREGATE_RULES, liarCaughtByReplication, oneAttackerInFive } from '../helpers/training-attacks.ts';
import { historyOf, waitForJob } from '../helpers/wait.ts';

/** The sent change (int8 values, or fp32) multiplied by `factor` (-1 flips its sign); losses left honest. */
const tamperChange = (factor: number) => (outs: WireTensor[]) => outs.map((o) => {
  if (o.name !== LOCAL_OUTPUTS.update) return o;
  if (o.dtype === 'int8') {
    const v = Int8Array.from(typedView(o as WireTensor & { dtype: 'int8' }), (x) => Math.max(-127, Math.min(127, Math.round(x * factor))));
    return { ...o, data: new Uint8Array(v.buffer) };
  }
  const v = Float32Array.from(typedView(o as WireTensor & { dtype: 'float32' }), (x) => x * factor);
  return { ...o, data: new Uint8Array(v.buffer) };
});

/** One copy a watched volunteer computed: the weights it was offered and the weights blobs it fetched for it. */
interface WatchedCopy { offer: WeightsOffer; fetched: string[] }

/**
 * A volunteer whose executor (and so the weights it holds) outlives its
 * connection: stopped, it misses rounds; started again, it comes back with
 * the version it last trained from. `onCopy` runs as a copy starts.
 */
function watchedVolunteer(url: string, onCopy: (a: Assignment, self: { stop(): Promise<void> }) => void = () => {}) {
  const load = blobLoader(url);
  let fetching: string[] = [];
  const executor = new ShardExecutor({ ort, backend: 'wasm', loadBlob: (ref) => { fetching.push(ref.hash); return load(ref); } });
  const copies: WatchedCopy[] = [];
  let current: { v: Volunteer; socket: VolunteerSocket; stopped: Promise<void> | null } | null = null;
  const deferred = () => { let resolve!: () => void; const promise = new Promise<void>((r) => { resolve = r; }); return { promise, resolve }; };
  let left = deferred();
  const self = {
    copies,
    /** Resolves once the volunteer has stopped (delivered its last copy and disconnected). */
    left: () => left.promise,
    start() {
      left = deferred();
      const socket: VolunteerSocket = io(url, { path: SOCKET_PATH, auth: { protocol: PROTOCOL_VERSION }, transports: ['websocket'], autoConnect: false });
      const v = new Volunteer({
        socket, hello: { backend: 'wasm', capabilities: nodeCapabilities() }, pending: new MemoryPendingStore(),
        execute: async (a) => {
          onCopy(a, self);
          fetching = [];
          const r = await executor.run(a);
          copies.push({ offer: a.weights!, fetched: fetching.filter((h) => h !== a.model.hash) });
          return r;
        },
      });
      current = { v, socket, stopped: null };
      v.start();
    },
    /** Delivers the copy in hand, then disconnects (callable from inside a copy: not awaited there). */
    stop(): Promise<void> {
      const c = current;
      if (!c) return Promise.resolve();
      c.stopped ??= c.v.stop().then(() => { c.socket.disconnect(); if (current === c) current = null; left.resolve(); });
      return c.stopped;
    },
    async dispose() { await self.stop(); await executor.dispose(); },
  };
  return self;
}

/** The deltas of `offer` from version `held` on (the chain a volunteer holding `held` applies). */
const chainFrom = (offer: WeightsOffer, held: string) => offer.deltas.slice(offer.deltas.findIndex((d) => d.base === held));

describe('local-steps training', () => {
  const t = perTest();
  const { coordinator, volunteers, defer } = t;
  /** `tabgrid worker --node n`: the real worker command, its own process. */
  function workerProcess(c: SpawnedCoordinator, n: number): ChildProcess {
    const proc = spawn(process.execPath, [CLI, 'worker', '--node', String(n), '--server', c.url], { cwd: REPO, stdio: ['ignore', 'ignore', 'ignore'] });
    const exited = new Promise<void>((r) => proc.once('exit', () => r()));
    defer(async () => {
      proc.kill('SIGTERM');
      const t = setTimeout(() => proc.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(t);
    });
    return proc;
  }

  it('a training job\'s status says how it trains: local steps, the update format and the weights format (client, OpenAPI, `tabgrid status`)', async () => {
    const c = await coordinator();
    const up = await uploadMnist(c.api, { count: 200 });
    // No volunteer: the jobs wait, their formats are in their specs from submission on.
    const local = await c.api.createJob(mnistTrainJob(up, { optimizer: 'adam', lr: 2e-3, batch: 32, epochs: 1, localSteps: 4, updateFormat: 'int8', weightsFormat: 'fp16' }));
    const sync = await c.api.createJob(mnistTrainJob(up, { optimizer: 'sgd', lr: 0.1, batch: 32, epochs: 1 }));
    expect(local).toMatchObject({ localSteps: 4, updateFormat: 'int8', weightsFormat: 'fp16' });
    // The typed client parses the status with the contract's schema: a status without weightsFormat is a ContractError.
    expect(await c.api.job(local.id)).toMatchObject({ kind: 'train', localSteps: 4, updateFormat: 'int8', weightsFormat: 'fp16' });
    expect(await c.api.job(sync.id)).toMatchObject({ kind: 'train', localSteps: 1, updateFormat: 'fp32', weightsFormat: 'fp32' });
    // The OpenAPI document lists it among a training job status's required fields.
    type Obj = { properties?: Record<string, { enum?: unknown[] }>; required?: string[]; oneOf?: Obj[]; anyOf?: Obj[] };
    const doc = await c.api.openapi() as { paths: Record<string, { get: { responses: { 200: { content: { 'application/json': { schema: Obj } } } } } }> };
    const status = doc.paths['/api/v1/jobs/{id}']!.get.responses[200].content['application/json'].schema;
    const train = (status.oneOf ?? status.anyOf ?? []).find((o) => o.properties?.heldOut)!;
    expect(train.required).toEqual(expect.arrayContaining(['localSteps', 'updateFormat', 'weightsFormat']));
    expect(train.properties!.weightsFormat!.enum).toEqual(['fp32', 'fp16']);
    // `tabgrid status` says it in words; --json carries the fields.
    const env = { ...process.env, TABGRID_TOKEN: c.token };
    const run = promisify(execFile);
    const text = (await run(process.execPath, [CLI, 'status', local.id, '--server', c.url], { cwd: REPO, env })).stdout;
    expect(text).toContain('\nmode     local steps 4, changes up in int8, weights down as int8 deltas, full weights in fp16 to a volunteer with no usable version\n');
    expect((await run(process.execPath, [CLI, 'status', sync.id, '--server', c.url], { cwd: REPO, env })).stdout)
      .toContain('\nmode     synchronous rounds (fp32 gradients up, fp32 weights down)\n');
    const json = JSON.parse((await run(process.execPath, [CLI, 'status', local.id, '--server', c.url, '--json'], { cwd: REPO, env })).stdout) as Record<string, unknown>;
    expect(json).toMatchObject({ localSteps: 4, updateFormat: 'int8', weightsFormat: 'fp16' });
    await c.api.cancel(local.id);
    await c.api.cancel(sync.id);
  }, 120_000);

  it('reaches >= 0.93 held-out MNIST accuracy with H=8 inner AdamW steps, int8 changes and 4 `tabgrid worker --node` volunteers', async () => {
    const c = await coordinator();
    const up = await uploadMnist(c.api, { count: 10_000 });
    workerProcess(c, 4);
    const job = await c.api.createJob(mnistTrainJob(up, {
      optimizer: 'adam', lr: 2e-3, batch: 64, epochs: 10, shardsPerRound: 4, localSteps: 8, updateFormat: 'int8', evalFraction: 0.2, seed: 7, targetAccuracy: 0.93,
    }));
    expect(job.rounds).toBe(10 * Math.ceil(8000 / 512));
    const done = await waitForJob(c.api, job.id, 900_000);
    expect(done.state).toBe('completed');
    const accuracies = historyOf(done).filter((h) => h.accuracy !== null).map((h) => h.accuracy!);
    console.info(`local steps (H=8, int8): held-out accuracy by epoch ${accuracies.map((a) => a.toFixed(4)).join(', ')}; ${historyOf(done).length} rounds`);
    expect(accuracies.at(-1)!).toBeGreaterThanOrEqual(0.93);
    // Shards are replicated (default 2) and cross-checked until a volunteer has 10 agreeing results; then a trusted
    // volunteer's copy may stand alone (adaptive replication, README Trust). Every comparison agreed, int8 changes
    // with error feedback and all: none rejected.
    expect(done.copies.invalid).toBe(0);
    // The first volunteer to be trusted needed 10 results each agreed with by another: at least 10 shards had two valid copies.
    expect(done.copies.valid - done.shards.validated).toBeGreaterThanOrEqual(10);
    const closed = c.logs.filter((l) => l.msg === 'training job created' && l.job === job.id)[0]!;
    expect(closed).toMatchObject({ localSteps: 8, updateFormat: 'int8' });
  }, 900_000);

  // One shard a round and one volunteer at a time, each stopping itself from inside a copy: which rounds each
  // computes is fixed by construction. B trains rounds 0 and 1 and leaves holding version 1; C joins with nothing
  // (full weights), trains rounds 2 and 3 and leaves; B comes back holding version 1 while the job is at version 4.
  it('a volunteer joining mid-training gets the full weights; one coming back after missing rounds gets the chained deltas; both train from the coordinator\'s exact bytes', async () => {
    const c = await coordinator();
    const up = await uploadMnist(c.api, { count: 1200 });
    const b = watchedVolunteer(c.url, (_, self) => { if (b.copies.length === 1) void self.stop(); });
    const joiner = watchedVolunteer(c.url, (_, self) => { if (joiner.copies.length === 1) void self.stop(); });
    defer(async () => { await Promise.all([b.dispose(), joiner.dispose()]); });
    b.start();
    const job = await c.api.createJob(mnistTrainJob(up, {
      optimizer: 'adam', lr: 2e-3, batch: 32, epochs: 1, shardsPerRound: 1, localSteps: 4, updateFormat: 'int8', replicas: 1, evalFraction: 0.1, seed: 8,
    }));
    // 1,080 training digits, 128 a round.
    expect(job.rounds).toBe(9);
    await b.left();
    expect(b.copies).toHaveLength(2);
    // Its first copy: full weights (it held nothing); its second: one delta from the version it trained from.
    expect(b.copies[0]!.fetched).toEqual([b.copies[0]!.offer.hash]);
    expect(b.copies[1]!.fetched).toEqual(chainFrom(b.copies[1]!.offer, b.copies[0]!.offer.hash).map((d) => d.blob.hash));
    expect(b.copies[1]!.fetched).toHaveLength(1);
    const held = b.copies[1]!.offer.hash;

    joiner.start();
    await joiner.left();
    expect(joiner.copies).toHaveLength(2);
    // Joining mid-training (round 2): the full weights, not a delta.
    expect(joiner.copies[0]!.offer.deltas.length).toBeGreaterThan(0);
    expect(joiner.copies[0]!.fetched).toEqual([joiner.copies[0]!.offer.hash]);
    expect(joiner.copies[1]!.fetched).toEqual([joiner.copies[1]!.offer.deltas.at(-1)!.blob.hash]);

    b.start();
    const done = await waitForJob(c.api, job.id, 300_000);
    expect(done.state).toBe('completed');
    // Back after missing rounds 2 and 3 (versions 2, 3 and 4 made without it): the three deltas since version 1,
    // cheaper than the full weights, no full weights.
    const back = b.copies[2]!;
    const chain = chainFrom(back.offer, held);
    expect(chain).toHaveLength(3);
    expect(back.fetched).toEqual(chain.map((d) => d.blob.hash));
    expect(chain.reduce((n, d) => n + d.blob.bytes, 0)).toBeLessThan(back.offer.full.bytes);
    // Then one delta a round to the end: rounds 4 to 8.
    expect(b.copies).toHaveLength(7);
    for (const copy of b.copies.slice(3)) expect(copy.fetched).toHaveLength(1);
    expect(done.copies.invalid).toBe(0);
    expect(done.train!.accuracy!).toBeGreaterThan(0.6);
  }, 300_000);

  // One volunteer takes every copy, so each round's copies are seen in order.
  it("sends every copy the run's inner-lr schedule from its round's first inner step: cosine by default, none when asked for constant; refused in sync mode", async () => {
    const c = await coordinator();
    const up = await uploadMnist(c.api, { count: 600 });
    const plans: NonNullable<Assignment['localSteps']>[] = [];
    const w = watchedVolunteer(c.url, (a) => { plans.push(a.localSteps!); });
    defer(() => w.dispose());
    w.start();
    const common = { optimizer: 'adam' as const, lr: 2e-3, batch: 32, epochs: 1, shardsPerRound: 2, localSteps: 4, updateFormat: 'int8' as const, replicas: 1, evalFraction: 0.2, seed: 8 };
    // 480 training digits, 128 a round: 4 rounds of 4 inner steps, 16 in the run; 5% warm-up rounds to 1 step.
    const job = await c.api.createJob(mnistTrainJob(up, common));
    expect(job).toMatchObject({ rounds: 4, localSteps: 4, lrSchedule: 'cosine' });
    expect((await waitForJob(c.api, job.id, 300_000)).state).toBe('completed');
    const schedule = { kind: 'cosine', warmupSteps: 1, totalSteps: 16, minRatio: 0 };
    expect(plans.map((p) => p.lrSchedule)).toEqual([0, 0, 4, 4, 8, 8, 12, 12].map((firstStep) => ({ schedule, firstStep })));
    expect(c.logs.find((l) => l.msg === 'training job created' && l.job === job.id)).toMatchObject({ lrSchedule: schedule });

    plans.length = 0;
    const constant = await c.api.createJob(mnistTrainJob(up, { ...common, lrSchedule: 'constant' }));
    expect(constant).toMatchObject({ lrSchedule: 'constant' });
    expect((await waitForJob(c.api, constant.id, 300_000)).state).toBe('completed');
    expect(plans).toHaveLength(8);
    expect(plans.every((p) => p.lrSchedule === undefined)).toBe(true);

    // Synchronous rounds keep the coordinator's constant lr: a schedule is refused, and no job is made.
    const before = (await c.api.jobs()).jobs.length;
    await expect(c.api.createJob(mnistTrainJob(up, { ...common, localSteps: 1, updateFormat: 'fp32', lrSchedule: 'cosine' })))
      .rejects.toThrow(/lrSchedule and lrWarmup apply to local-steps training/);
    await expect(c.api.createJob(mnistTrainJob(up, { ...common, localSteps: 1, updateFormat: 'fp32', lrWarmup: 0.1 })))
      .rejects.toThrow(/lrSchedule and lrWarmup apply to local-steps training/);
    expect((await c.api.jobs()).jobs.length).toBe(before);
  }, 300_000);

  it('catches a volunteer sending a sign-flipped int8 change by replication: invalid, no credit', () => liarCaughtByReplication(t, {
    tamper: tamperChange(-1), mode: { lr: 2e-3, epochs: 2, localSteps: 4, updateFormat: 'int8' }, reason: /parameter changes disagree: .*relative L2 2\.0/,
  }), 300_000);

  // One of five volunteers sends its change scaled by -20.
  for (const [rule, converges] of AGGREGATE_RULES) {
    it(`${converges ? 'outvotes' : 'is derailed by'} a volunteer sending scaled changes without replication, with --aggregate ${rule}`, () => oneAttackerInFive(t, {
      rule, converges, tamper: tamperChange(-20), mode: { lr: 2e-3, epochs: 3, localSteps: 4 },
      // 1,980 training digits, 400 a round: 5 rounds an epoch, 5 shards each; the attacker computed one shard of every round.
      shards: 75, attackerShards: 15,
    }), 300_000);
  }

  it('closes a round at its deadline with minFraction of its shards when the rest find no taker, and not before', async () => {
    const c = await coordinator();
    const up = await uploadMnist(c.api, { count: 640 });
    // Three volunteers, at most one shard each per round, four shards a round: one shard of every round is a straggler.
    volunteers(c, 3);
    const common = mnistTrainJob(up, {
      optimizer: 'adam', lr: 2e-3, batch: 64, epochs: 1, shardsPerRound: 4, localSteps: 2, replicas: 1, maxShardsPerVolunteer: 1, evalFraction: 0, roundDeadlineSeconds: 2, seed: 3,
    });
    const waiting = await c.api.createJob({ ...common, minFraction: 1 });
    const t0 = Date.now();
    const job = await c.api.createJob({ ...common, minFraction: 0.75 });
    const done = await waitForJob(c.api, job.id, 120_000);
    expect(done.state).toBe('completed');
    const rounds = historyOf(done);
    expect(rounds.map((h) => h.shards)).toEqual([3, 3, 3, 3, 3]);
    // Each round waited out its deadline for the straggler before closing.
    const at = [t0, ...rounds.map((h) => h.at)];
    for (let i = 1; i < at.length; i++) expect(at[i]! - at[i - 1]!).toBeGreaterThanOrEqual(1900);
    // With minFraction 1 the same round never closes: it waits for the shard no one can take.
    const still = await c.api.job(waiting.id);
    expect(still.state).toBe('running');
    expect(historyOf(still)).toEqual([]);
    await c.api.cancel(waiting.id);
  }, 180_000);

  it('runs `tabgrid train` through the real CLI: local steps, int8 changes, the trained model and its history written', async () => {
    const c = await coordinator();
    volunteers(c, 2);
    const dir = mkdtempSync(join(tmpdir(), 'tabgrid-train-cli-'));
    const { loadMnist } = await import('../../server/training/mnist.ts');
    const { train } = loadMnist({ train: 600, test: 0, seed: 4 });
    writeFileSync(join(dir, 'mlp.onnx'), buildMlp({ seed: 1 }));
    writeFileSync(join(dir, 'x.npy'), encodeNpy(tensorFromTyped('float32', [600, 784], train.images)));
    writeFileSync(join(dir, 'y.npy'), encodeNpy(tensorFromTyped('int64', [600], train.labels)));
    const env = { ...process.env, TABGRID_TOKEN: c.token };
    const r = await promisify(execFile)(process.execPath, [CLI, 'train', '--server', c.url, '--model', join(dir, 'mlp.onnx'),
      '--data', join(dir, 'x.npy'), '--labels', join(dir, 'y.npy'), '--out', join(dir, 'out'), '--optimizer', 'adam', '--lr', '0.002',
      '--batch', '32', '--epochs', '2', '--shards-per-round', '2', '--local-steps', '4', '--update-format', 'int8',
      '--outer-lr', '0.7', '--outer-momentum', '0.9', '--lr-schedule', 'cosine', '--lr-warmup', '0.25', '--eval-fraction', '0.2', '--seed', '5', '--json'], { cwd: REPO, env });
    const out = JSON.parse(r.stdout.trim().split('\n').at(-1)!) as { job: string; state: string; accuracy: number; files: string[] };
    expect(out.state).toBe('completed');
    expect(out.files).toEqual([join(dir, 'out', 'model.onnx'), join(dir, 'out', 'history.json')]);
    expect(existsSync(join(dir, 'out', 'model.onnx'))).toBe(true);
    // 480 training digits, 32 x 4 a round: 4 rounds an epoch, 2 epochs.
    const history = JSON.parse(readFileSync(join(dir, 'out', 'history.json'), 'utf8')) as { round: number; accuracy: number | null }[];
    expect(history.map((h) => h.round)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(out.accuracy).toBe(history.at(-1)!.accuracy);
    expect(out.accuracy).toBeGreaterThan(0.6);
    expect(r.stderr).toMatch(/job \S+: 8 rounds/);
    // The job's status says how it trained.
    expect(await c.api.job(out.job)).toMatchObject({ state: 'completed', localSteps: 4, updateFormat: 'int8', lrSchedule: 'cosine' });
    // --lr-warmup 0.25 of the run's 8 rounds x 4 inner steps.
    expect(c.logs.find((l) => l.msg === 'training job created' && l.job === out.job)).toMatchObject({ lrSchedule: { kind: 'cosine', warmupSteps: 8, totalSteps: 32 } });
    // A flag the coordinator refuses is said plainly, and nothing is created.
    const bad = await promisify(execFile)(process.execPath, [CLI, 'train', '--server', c.url, '--model', join(dir, 'mlp.onnx'),
      '--data', join(dir, 'x.npy'), '--labels', join(dir, 'y.npy'), '--out', join(dir, 'bad'), '--outer-lr', '0.5'], { cwd: REPO, env }).catch((e: { code: number; stderr: string }) => e);
    expect((bad as { code: number }).code).not.toBe(0);
    expect((bad as { stderr: string }).stderr).toMatch(/outerLr and outerMomentum apply to local-steps training/);
  }, 300_000);
});
