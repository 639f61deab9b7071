/**
 * Synchronous fp32 rounds vs local steps (H inner steps, int8 changes), side
 * by side in one run on one coordinator: bytes moved per trained sample, held-
 * out accuracy after the same number of epochs, and wall time to a target
 * accuracy over a simulated volunteer link.
 *
 * Both modes train the MNIST MLP (784-128-10, 101,770 parameters) on the same
 * digits with the same seed, 4 shards a round computed by 4 volunteers (in
 * this process, onnxruntime-web WASM, one shard each a round, replicas 1):
 *   sync   batch 64 a round (16 digits a shard), AdamW lr 1e-3 on the coordinator
 *   local  H inner AdamW steps (lr 1e-3) of 16 digits a shard, so a round trains
 *          on 64·H digits; outer Nesterov step lr 0.7, momentum 0.9; int8 changes;
 *          weights down as deflated int8 deltas from the version the volunteer
 *          holds, fp16 full weights for its first round (--weights-format fp16)
 *
 * Bytes are counted at the volunteers, as they arrive and leave: blobs fetched
 * (the train-step model once; in sync mode the round's weights once a round per
 * volunteer, in local mode full weights or the deltas since the version held),
 * a copy's inline inputs (the digits), and the outputs it uploads
 * (gradients, or losses + change + scales). Protocol framing (socket.io, HTTP
 * headers, JSON fields of the assignment) is left out in both modes alike.
 *   parameter bytes = weights down + gradients or changes up
 *   total bytes     = parameter bytes + inputs + the model
 * per trained sample = divided by the records the job trained on.
 *
 * Link shaping is done here, in the bench, not by the kernel: each volunteer
 * has its own simulated link of --link-mbit (10) Mbit/s and --link-rtt-ms (50)
 * ms round trip. Before a copy's result is handed back, its volunteer waits
 * what its bytes would take on that link: two round trips (claim with inputs,
 * result upload) plus one per blob fetched, plus bytes × 8 / rate for
 * everything it moved for that copy. The coordinator's own work is real.
 * Held-out accuracy is evaluated by the coordinator at epoch ends, so time to
 * target is the time to the first epoch end at or above it.
 */
import { io } from 'socket.io-client';
import { loadavg } from 'node:os';
import { transient } from '../cli/commands/follow.ts';
import { blobLoader, nodeCapabilities } from '../cli/commands/worker-node.ts';
import { ort } from '../server/models/ort-node.ts';
import type { Assignment, BlobRef } from '../shared/protocol/events.ts';
import { PROTOCOL_VERSION, SOCKET_PATH } from '../shared/protocol/version.ts';
import { MemoryPendingStore } from '../shared/volunteer/pending.ts';
import { Volunteer, type VolunteerSocket } from '../shared/volunteer/volunteer.ts';
import { ShardExecutor } from '../shared/worker-core/executor.ts';
import { encodeTensors } from '../shared/tensor/codec.ts';
import { tensorFromTyped } from '../shared/tensor/tensor.ts';
import { generateSequenceTask } from '../server/training/sequence-task.ts';
import { buildTransformer } from '../server/training/transformer.ts';
import { spawnCoordinator, type SpawnedCoordinator } from '../test/helpers/coordinator.ts';
import { uploadMnist } from '../test/helpers/mnist-job.ts';
import { historyOf } from '../test/helpers/wait.ts';
import type { Flags } from './lib/flags.ts';
import { round, table } from './lib/stats.ts';
import { wireParser } from '../shared/protocol/wire-parser.ts';

export const TRAINING_MODES_FLAGS = ['modes-records', 'modes-epochs', 'modes-h', 'modes-target', 'link-mbit', 'link-rtt-ms'] as const;

export interface TrainingModesFigures {
  sync_param_bytes_per_sample: number;
  local_param_bytes_per_sample: number;
  param_bytes_ratio: number;
  sync_total_bytes_per_sample: number;
  local_total_bytes_per_sample: number;
  total_bytes_ratio: number;
  sync_accuracy: number;
  local_accuracy: number;
  accuracy_drop_points: number;
  sync_seconds_to_target: number | null;
  local_seconds_to_target: number | null;
  time_to_target_speedup: number | null;
  target_accuracy: number;
  local_steps: number;
  /** Rounds each mode ran: local steps' bytes include every volunteer's first full-weights fetch, which more rounds amortize. */
  sync_rounds: number;
  local_rounds: number;
  /** Share of local steps' parameter bytes that were full-weights fetches (the first one per volunteer, or a resync). */
  local_full_weights_share: number;
}

type Log = (line: string) => void;

/** weights = full + deltas: full weights fetched (every round in sync mode; in local mode when a volunteer holds no usable version), deltas. */
interface Traffic { weights: number; full: number; deltas: number; fullFetches: number; params: number; inputs: number; model: number; blobs: number; copies: number }

const bytesOf = (ts: { data: Uint8Array }[]) => ts.reduce((n, t) => n + t.data.byteLength, 0);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Volunteers in this process, each on its own shaped link, counting the bytes they move. */
function shapedVolunteers(server: string, n: number, link: { bytesPerMs: number; rttMs: number }, traffic: Traffic) {
  const load = blobLoader(server);
  const volunteers: Volunteer[] = [];
  const sockets: VolunteerSocket[] = [];
  const executors: ShardExecutor[] = [];
  for (let i = 0; i < n; i++) {
    // One executor (and blob cache) per volunteer: each fetches the round's weights over its own link.
    const seen = new Set<string>();
    let fetched: BlobRef[] = [];
    const executor = new ShardExecutor({
      ort, backend: 'wasm', maxSessions: 2,
      loadBlob: async (ref) => {
        const bytes = await load(ref);
        if (!seen.has(ref.hash)) { seen.add(ref.hash); fetched.push({ ...ref, bytes: bytes.byteLength }); }
        return bytes;
      },
    });
    executors.push(executor);
    const socket: VolunteerSocket = io(server, { path: SOCKET_PATH, auth: { protocol: PROTOCOL_VERSION }, transports: ['websocket'], autoConnect: false, parser: wireParser });
    const v = new Volunteer({
      socket,
      hello: { backend: 'wasm', capabilities: nodeCapabilities() },
      execute: async (a: Assignment) => {
        fetched = [];
        const r = await executor.run(a);
        const model = fetched.filter((b) => b.hash === a.model.hash).reduce((s, b) => s + b.bytes, 0);
        const weights = fetched.filter((b) => b.hash !== a.model.hash).reduce((s, b) => s + b.bytes, 0);
        const deltas = fetched.filter((b) => a.weights?.deltas.some((d) => d.blob.hash === b.hash)).reduce((s, b) => s + b.bytes, 0);
        traffic.fullFetches += fetched.filter((b) => b.hash !== a.model.hash && !a.weights?.deltas.some((d) => d.blob.hash === b.hash)).length;
        traffic.full += weights - deltas;
        traffic.deltas += deltas;
        const inputs = bytesOf(a.inputs);
        const out = bytesOf(r.outputs);
        traffic.model += model;
        traffic.weights += weights;
        traffic.params += weights + out;
        traffic.inputs += inputs;
        traffic.blobs += fetched.length;
        traffic.copies++;
        await sleep((2 + fetched.length) * link.rttMs + (model + weights + inputs + out) / link.bytesPerMs);
        return r;
      },
      pending: new MemoryPendingStore(),
    });
    volunteers.push(v);
    sockets.push(socket);
    v.start();
  }
  return {
    async stop() {
      await Promise.all(volunteers.map((v) => v.stop()));
      for (const s of sockets) s.disconnect();
      await Promise.all(executors.map((e) => e.dispose()));
    },
  };
}

/** One task both modes train: its job's data, and how a round is cut. */
interface ModesTask {
  /** What the log and table call it. */
  name: string;
  records: number;
  epochs: number;
  target: number;
  lr: number;
  evalFraction: number;
  upload(api: SpawnedCoordinator['api']): Promise<{ model: string; data: FileRef; labels: FileRef }>;
}
type FileRef = { blob: string; format: 'tensors' };

interface ModeResult { name: string; traffic: Traffic; trained: number; accuracy: number; toTarget: number | null; wall: number; rounds: number; accuracies: number[] }

/** Trains `task` in sync fp32 and with local steps (H, int8) on one coordinator, one after the other; figures side by side. */
async function compareModes(task: ModesTask, H: number, link: { bytesPerMs: number; rttMs: number }, log: Log, only?: 'local'): Promise<TrainingModesFigures> {
  const coord = await spawnCoordinator({ args: ['--log-level', 'info'] });
  try {
    const up = await task.upload(coord.api);
    const common = {
      kind: 'train' as const, model: up.model, data: up.data, labels: up.labels, loss: 'cross-entropy' as const, optimizer: 'adam' as const, lr: task.lr,
      batch: 64, epochs: task.epochs, shardsPerRound: 4, replicas: 1, maxShardsPerVolunteer: 1, evalFraction: task.evalFraction, seed: 1,
    };
    const modes = [
      { name: 'sync fp32', req: common },
      { name: `local H=${H} int8`, req: { ...common, localSteps: H, updateFormat: 'int8' as const, weightsFormat: 'fp16' as const } },
    ];
    const results: ModeResult[] = [];
    for (const m of only === 'local' ? modes.slice(1) : modes) {
      const traffic: Traffic = { weights: 0, full: 0, deltas: 0, fullFetches: 0, params: 0, inputs: 0, model: 0, blobs: 0, copies: 0 };
      const pool = shapedVolunteers(coord.url, 4, link, traffic);
      try {
        const t0 = Date.now();
        const job = await coord.api.createJob(m.req);
        for (;;) {
          // The volunteers' compute blocks this process's event loop for seconds, so undici may reuse a keep-alive
          // socket the coordinator has already closed as idle: a status poll that fails that way is simply retried.
          const s = await coord.api.job(job.id).catch((e: unknown) => { if (transient(e)) return null; throw e; });
          if (s === null) { await sleep(250); continue; }
          if (s.state === 'completed') break;
          if (s.state !== 'running') throw new Error(`${task.name}, ${m.name}: job ${job.id} ended ${s.state}: ${s.error}`);
          await sleep(250);
        }
        const s = await coord.api.job(job.id);
        const history = historyOf(s);
        const evals = history.filter((h) => h.accuracy !== null);
        const hit = evals.find((h) => h.accuracy! >= task.target);
        const trained = Math.round(task.records * (1 - task.evalFraction)) * task.epochs;
        results.push({
          name: m.name, traffic, trained, accuracy: evals.at(-1)!.accuracy!, toTarget: hit ? (hit.at - t0) / 1000 : null,
          wall: (history.at(-1)!.at - t0) / 1000, rounds: history.length, accuracies: evals.map((h) => h.accuracy!),
        });
        log(`  ${task.name}, ${m.name}: ${history.length} rounds in ${round((history.at(-1)!.at - t0) / 1000, 1)} s, held-out accuracy by epoch ${evals.map((h) => round(h.accuracy!, 4)).join(', ')}`);
      } finally {
        await pool.stop();
      }
    }
    const per = (r: ModeResult, k: 'params' | 'total') => (k === 'params' ? r.traffic.params : r.traffic.params + r.traffic.inputs + r.traffic.model) / r.trained;
    log('');
    log(table(
      ['mode', 'rounds', 'full weights B (fetches)', 'deltas B', 'up B', 'inputs B', 'param B/sample', 'total B/sample', 'accuracy', `s to ${task.target}`, 'wall s'],
      results.map((r) => [r.name, r.rounds, `${r.traffic.full} (${r.traffic.fullFetches})`, r.traffic.deltas, r.traffic.params - r.traffic.weights, r.traffic.inputs,
        round(per(r, 'params'), 1), round(per(r, 'total'), 1),
        round(r.accuracy, 4), r.toTarget === null ? 'not reached' : round(r.toTarget, 1), round(r.wall, 1)]),
    ));
    log('(params = weights fetched + gradients or changes uploaded; total adds the records sent with each copy and the model; ' +
      'samples = training records x epochs; link shaping simulated in the bench)');
    log(`load average at end: ${loadavg().map((x) => round(x, 1)).join(', ')}`);
    if (only === 'local') {
      // The local half alone (--transformer-modes local): no side-by-side ratios.
      const [local] = results as [ModeResult];
      return {
        local_param_bytes_per_sample: round(per(local, 'params'), 1), local_total_bytes_per_sample: round(per(local, 'total'), 1),
        local_accuracy: round(local.accuracy, 4), local_seconds_to_target: local.toTarget === null ? null : round(local.toTarget, 1),
        target_accuracy: task.target, local_steps: H, local_rounds: local.rounds, local_full_weights_share: round(local.traffic.full / local.traffic.params, 3),
      } as unknown as TrainingModesFigures;
    }
    const [sync, local] = results as [ModeResult, ModeResult];
    const speed = sync.toTarget !== null && local.toTarget !== null ? sync.toTarget / local.toTarget : null;
    return {
      sync_param_bytes_per_sample: round(per(sync, 'params'), 1),
      local_param_bytes_per_sample: round(per(local, 'params'), 1),
      param_bytes_ratio: round(per(sync, 'params') / per(local, 'params'), 1),
      sync_total_bytes_per_sample: round(per(sync, 'total'), 1),
      local_total_bytes_per_sample: round(per(local, 'total'), 1),
      total_bytes_ratio: round(per(sync, 'total') / per(local, 'total'), 2),
      sync_accuracy: round(sync.accuracy, 4),
      local_accuracy: round(local.accuracy, 4),
      accuracy_drop_points: round((sync.accuracy - local.accuracy) * 100, 2),
      sync_seconds_to_target: sync.toTarget === null ? null : round(sync.toTarget, 1),
      local_seconds_to_target: local.toTarget === null ? null : round(local.toTarget, 1),
      time_to_target_speedup: speed === null ? null : round(speed, 2),
      target_accuracy: task.target,
      local_steps: H,
      sync_rounds: sync.rounds,
      local_rounds: local.rounds,
      local_full_weights_share: round(local.traffic.full / local.traffic.params, 3),
    };
  } catch (e) {
    if (coord.proc.exitCode !== null || coord.proc.signalCode !== null) {
      log(`the coordinator exited (${coord.proc.exitCode ?? coord.proc.signalCode}): ${coord.stderr.join('').slice(-3000)}`);
    }
    log(`last coordinator log lines:\n${coord.logs.slice(-5).map((l) => JSON.stringify(l)).join('\n')}`);
    throw e;
  } finally {
    await coord.stop();
  }
}

function linkOf(flags: Flags) {
  const mbit = flags.number('link-mbit', 10);
  const rttMs = flags.number('link-rtt-ms', 50);
  return { link: { bytesPerMs: (mbit * 1e6) / 8 / 1000, rttMs }, said: `link shaped in the bench: ${mbit} Mbit/s, ${rttMs} ms RTT per volunteer` };
}

export async function trainingModesBench(flags: Flags, log: Log): Promise<TrainingModesFigures> {
  const quick = flags.has('quick');
  const records = flags.int('modes-records', quick ? 3000 : 6000);
  const epochs = flags.int('modes-epochs', quick ? 2 : 3);
  const H = flags.int('modes-h', 32);
  const { link, said } = linkOf(flags);
  const evalFraction = 1 / 6;
  log(`training modes: MNIST MLP, ${records} digits (${Math.round(records * evalFraction)} held out), ${epochs} epochs, 4 volunteers in this process, ` +
    `one shard each a round, replicas 1; sync fp32 (batch 64) vs local steps (H=${H} x 16 digits a shard, int8 changes); ${said}`);
  log(`load average at start: ${loadavg().map((x) => round(x, 1)).join(', ')}`);
  return compareModes({
    name: 'MNIST MLP', records, epochs, target: flags.number('modes-target', 0.9), lr: 1e-3, evalFraction,
    upload: (api) => uploadMnist(api, { count: records }),
  }, H, link, log);
}

export const TRANSFORMER_FLAGS = ['transformer-records', 'transformer-epochs', 'transformer-digits', 'transformer-width', 'transformer-target', 'transformer-modes'] as const;

/** The same comparison on the transformer task (issue 16), figures prefixed `transformer_`. */
export async function transformerModesBench(flags: Flags, log: Log): Promise<Record<string, number | boolean | null>> {
  const quick = flags.has('quick');
  const records = flags.int('transformer-records', quick ? 2000 : 4000);
  // 8 epochs of 4,000 sequences make 16 local-steps rounds (2 an epoch at 4 x 32 x 16 sequences a round), a realistic
  // run in which each volunteer's one full-weights fetch is amortized; at 2 epochs (4 rounds) that fetch was 22% of
  // its bytes. Sync trains the same data and epochs, so the comparison stays per trained sample, side by side.
  const epochs = flags.int('transformer-epochs', quick ? 2 : 8);
  const digits = flags.int('transformer-digits', 6);
  const width = flags.int('transformer-width', 64);
  const H = flags.int('modes-h', 32);
  const { link, said } = linkOf(flags);
  const evalFraction = 1 / 6;
  const target = flags.number('transformer-target', 0.95);
  // --transformer-modes local: the local-steps half alone (no sync run, no ratios), for repeating it on a busy machine.
  const modesFlag = flags.string('transformer-modes');
  if (modesFlag !== undefined && modesFlag !== 'local' && modesFlag !== 'sync,local') throw new Error(`--transformer-modes takes local or sync,local, got ${JSON.stringify(modesFlag)}`);
  const only = modesFlag === 'local' ? 'local' as const : undefined;
  log(`training modes: causal transformer (2 layers, width ${width}, 4 heads) reversing ${digits} digits, ${records} distinct sequences ` +
    `(${Math.round(records * evalFraction)} held out, scored by teacher-forced exact match of the whole answer), ${epochs} epochs, 4 volunteers in this process, ` +
    `one shard each a round, replicas 1; sync fp32 (batch 64) vs local steps (H=${H} x 16 sequences a shard, int8 changes); ${said}`);
  log(`load average at start: ${loadavg().map((x) => round(x, 1)).join(', ')}`);
  const f = await compareModes({
    name: 'transformer', records, epochs, target, lr: 3e-3, evalFraction,
    upload: async (api) => {
      const t = generateSequenceTask({ task: 'reverse', digits, count: records, seed: 1 });
      const put = (name: string, dtype: 'float32' | 'int64', v: Float32Array | BigInt64Array) =>
        api.uploadBlob(encodeTensors([{ name, ...tensorFromTyped(dtype, [records, t.length], v) }]));
      return {
        model: await api.uploadBlob(buildTransformer({ vocab: t.vocab, length: t.length, width, heads: 4, layers: 2, seed: 1 })),
        data: { blob: await put('tokens', 'float32', t.tokens), format: 'tensors' },
        labels: { blob: await put('labels', 'int64', t.labels), format: 'tensors' },
      };
    },
  }, H, link, log, only);
  if (only) {
    log(`transformer held-out exact match, local steps alone: ${f.local_accuracy}; ${f.local_rounds} rounds`);
    return Object.fromEntries(Object.entries(f).map(([k, v]) => [`transformer_${k}`, v]));
  }
  const reached = Math.max(f.sync_accuracy, f.local_accuracy) >= 0.95;
  log(`transformer held-out exact match: sync ${f.sync_accuracy}, local steps ${f.local_accuracy}${reached ? '' : ' (below 0.95)'}; ` +
    `${f.local_rounds} local-steps rounds (sync ${f.sync_rounds}), full-weights fetches ${round(f.local_full_weights_share * 100, 1)}% of local steps' parameter bytes (included in the ratio)`);
  return { ...Object.fromEntries(Object.entries(f).map(([k, v]) => [`transformer_${k}`, v])), transformer_exact_match_at_least_095: f.sync_accuracy >= 0.95 && f.local_accuracy >= 0.95 };
}
