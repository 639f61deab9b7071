/**
 * Why does a local-steps run of the transformer task waver, and why do two
 * runs with the same data, order and seeds differ? This section replays a
 * local-steps job's arithmetic in this process, round by round, with the code
 * the coordinator and volunteers run (shared/training/local-steps.ts for the
 * inner steps, error feedback and int8 changes; server/core/training/
 * outer-step.ts and broadcast.ts for the outer Nesterov step and the int8
 * weight deltas down; the coordinator's epoch order, shard split and held-out
 * exact match), but with no sockets, so each suspect can be switched on and
 * off alone and every run repeated:
 *
 *   arrival   which of the 4 volunteers takes which shard of a round: `arrival`
 *             draws a permutation per round from the repeat's seed (as claims
 *             arrive in a real run), `fixed` gives shard k to volunteer k;
 *   feedback  each volunteer's int8 error-feedback residual, kept per volunteer
 *             and added to its next change (`ef`), or dropped (`no-ef`);
 *   format    int8 or fp32 changes (fp32: full fp16 weights down every round,
 *             as the coordinator sends them without deltas);
 *   schedule  the inner AdamW lr: constant, or cosine decay over the run's
 *             inner steps after a linear warm-up (DiLoCo's).
 *
 * Only the arrival permutation differs between the repeats of a variant: with
 * `fixed` every repeat is the same run, bit for bit. Figures: exact match at
 * each epoch end, per repeat, and the spread over repeats.
 *
 * `npm run bench -- --only local-runs` (flags: --local-runs-variants a,b,...,
 * --local-runs-repeats N, --local-runs-epochs, --local-runs-records, plus
 * --transformer-digits/--transformer-width and --modes-h). Variant names:
 * the words above joined by `+`, e.g. `arrival+ef+int8+constant` (today's
 * default), `fixed+ef+int8+constant`, `arrival+no-ef+int8+constant`,
 * `arrival+ef+fp32+constant`, `arrival+ef+int8+cosine`.
 */
import { loadavg } from 'node:os';
import { outerOptimizer, outerStep } from '../server/core/training/outer-step.ts';
import { type BroadcastStep, type Downstream, firstBroadcast, nextBroadcast } from '../server/core/training/broadcast.ts';
import { epochOrder, holdOut, roundBatch, roundsPerEpoch, splitRange, totalRounds } from '../server/core/training/schedule.ts';
import { ort } from '../server/models/ort-node.ts';
import { aggregate } from '../server/training/aggregate.ts';
import { buildTrainStep, forwardWithWeights } from '../server/training/autodiff/index.ts';
import { unflattenGradients } from '../server/training/checkpoint-codec.ts';
import { evaluateModel } from '../server/training/evaluate.ts';
import { initOptimizerState, type Params } from '../server/training/optimizer.ts';
import { createRng, permutation } from '../server/training/rng.ts';
import { generateSequenceTask } from '../server/training/sequence-task.ts';
import { buildTransformer } from '../server/training/transformer.ts';
import { tensorFromTyped, gatherRecords, type NamedTensor, type Tensor } from '../shared/tensor/tensor.ts';
import { type LocalStepsPlan, runLocalSteps } from '../shared/training/local-steps.ts';
import { type LrSchedule } from '../shared/training/lr-schedule.ts';
import { decodeUpdate, DEFAULT_BLOCK_SIZE, type EncodedUpdate } from '../shared/training/update-codec.ts';
import { DEFAULT_DELTA_CHAIN, DELTA_BLOCK_SIZE, weightsFeeds, type Weights } from '../shared/training/weights-delta.ts';
import { readLocalResult } from '../server/core/validation/updates.ts';
import { fromOrtTensor, toOrtTensor } from '../shared/worker-core/ort-tensors.ts';
import type { Flags } from './lib/flags.ts';
import { round, table } from './lib/stats.ts';

export const LOCAL_RUNS_FLAGS = ['local-runs-variants', 'local-runs-repeats', 'local-runs-epochs', 'local-runs-records', 'local-runs-lr', 'local-runs-warmup'] as const;

type Log = (line: string) => void;

export interface Variant {
  name: string;
  arrival: 'arrival' | 'fixed';
  feedback: boolean;
  format: 'int8' | 'fp32';
  schedule: 'constant' | 'cosine';
}

export function parseVariant(name: string): Variant {
  const words = name.split('+');
  const v: Variant = { name, arrival: 'arrival', feedback: true, format: 'int8', schedule: 'constant' };
  for (const w of words) {
    if (w === 'arrival' || w === 'fixed') v.arrival = w;
    else if (w === 'ef' || w === 'no-ef') v.feedback = w === 'ef';
    else if (w === 'int8' || w === 'fp32') v.format = w;
    else if (w === 'constant' || w === 'cosine') v.schedule = w;
    else throw new Error(`local-runs variant ${JSON.stringify(name)}: unknown word ${JSON.stringify(w)} (arrival|fixed, ef|no-ef, int8|fp32, constant|cosine)`);
  }
  return v;
}

interface Setup {
  records: number; epochs: number; digits: number; width: number; H: number; lr: number; warmupShare: number;
  shards: number; perStep: number; evalFraction: number;
}

interface RunResult { accuracies: number[]; evalLosses: number[]; changeNorms: number[] }

/** One local-steps job, replayed: `repeat` seeds the arrival order only. */
async function replay(s: Setup, v: Variant, repeat: number): Promise<RunResult> {
  const task = generateSequenceTask({ task: 'reverse', digits: s.digits, count: s.records, seed: 1 });
  const forward = buildTransformer({ vocab: task.vocab, length: task.length, width: s.width, heads: 4, layers: 2, seed: 1 });
  const step = buildTrainStep(forward, { loss: 'cross-entropy' });
  const data = tensorFromTyped('float32', [s.records, task.length], task.tokens);
  const labels = tensorFromTyped('int64', [s.records, task.length], task.labels);
  const split = holdOut(s.records, s.evalFraction, 1);
  const train = { data: gatherRecords(data, split.train), labels: gatherRecords(labels, split.train) };
  const evalSet = { data: gatherRecords(data, split.eval), labels: gatherRecords(labels, split.eval) };
  const layout = step.params.map((p) => ({ name: p.name, dims: p.dims }));
  const schedule = { records: split.train.length, batch: s.perStep * s.shards * s.H, shardsPerRound: s.shards, epochs: s.epochs, seed: 1 };
  const rounds = totalRounds(schedule);
  const lrSchedule: LrSchedule = v.schedule === 'cosine'
    ? { kind: 'cosine', warmupSteps: Math.round(s.warmupShare * rounds * s.H), totalSteps: rounds * s.H, minRatio: 0 }
    : { kind: 'constant' };
  const downstream: Downstream = { weightsFormat: 'fp16', deltaFormat: v.format === 'int8' ? 'int8' : null, blockSize: DELTA_BLOCK_SIZE, keep: DEFAULT_DELTA_CHAIN };

  const flat = (p: Params) => {
    const out = new Float32Array(layout.reduce((n, l) => n + p[l.name]!.length, 0));
    let off = 0;
    for (const l of layout) { out.set(p[l.name]!, off); off += p[l.name]!.length; }
    return out;
  };
  let b: BroadcastStep = firstBroadcast(layout, flat(Object.fromEntries(step.params.map((p) => [p.name, new Float32Array(step.initialParams[p.name]!.data.slice().buffer)]))), downstream);
  let master: Params = unflattenGradients(b.weights.flat, layout);
  let outer = initOptimizerState(outerOptimizer(), master);
  const session = await ort.InferenceSession.create(step.model, { executionProviders: ['wasm'], logSeverityLevel: 3 });
  const run = async (feeds: Record<string, Tensor>, names: string[]): Promise<NamedTensor[]> => {
    const f: Record<string, ReturnType<typeof toOrtTensor>> = {};
    for (const [n, t] of Object.entries(feeds)) f[n] = toOrtTensor(ort, t);
    const out = await session.run(f, names);
    return names.map((n) => fromOrtTensor(n, out[n]!));
  };
  const residuals: (Float32Array | null)[] = Array.from({ length: s.shards }, () => null);
  const arrivals = createRng(1000 + repeat);
  const result: RunResult = { accuracies: [], evalLosses: [], changeNorms: [] };
  let norms: number[] = [];
  try {
    for (let r = 0; r < rounds; r++) {
      const rb = roundBatch(schedule, r);
      const order = epochOrder(schedule.seed, rb.epoch, schedule.records);
      const parts = splitRange(rb.start, rb.end, s.shards);
      const who = v.arrival === 'fixed' ? Array.from({ length: s.shards }, (_, i) => i) : Array.from(permutation(s.shards, arrivals));
      const changes: Float32Array[] = [];
      const sizes: number[] = [];
      for (const [k, part] of parts.entries()) {
        const rows = order.subarray(part.start, part.end);
        const feeds: Record<string, Tensor> = {};
        for (const t of weightsFeeds(b.weights)) feeds[t.name] = t;
        feeds[step.inputs.data] = gatherRecords(train.data, rows);
        feeds[step.inputs.labels] = gatherRecords(train.labels, rows);
        const plan: LocalStepsPlan = {
          steps: s.H, optimizer: { kind: 'adam', lr: s.lr }, params: layout.map((l) => l.name), loss: step.outputs.loss, grads: step.outputs.grads,
          batched: [step.inputs.data, step.inputs.labels], updateFormat: v.format, blockSize: DEFAULT_BLOCK_SIZE,
          ...(v.schedule === 'cosine' ? { lrSchedule: { schedule: lrSchedule, firstStep: r * s.H } } : {}),
        };
        const volunteer = who[k]!;
        const out = await runLocalSteps(plan, feeds, run, v.feedback ? residuals[volunteer]! : null);
        residuals[volunteer] = out.residual;
        const update: EncodedUpdate = readLocalResult(out.outputs, v.format, DEFAULT_BLOCK_SIZE).update;
        changes.push(decodeUpdate(update));
        sizes.push(part.end - part.start);
      }
      const mean = aggregate(changes, sizes, 'mean');
      norms.push(Math.sqrt(mean.reduce((a, x) => a + x * x, 0)));
      const stepped = outerStep(outer, master, unflattenGradients(mean, layout));
      master = stepped.params;
      outer = stepped.state;
      b = nextBroadcast(b.state, b.weights as Weights, flat(master), downstream);
      if ((r + 1) % roundsPerEpoch(schedule) === 0 || r === rounds - 1) {
        const model = forwardWithWeights(forward, Object.fromEntries(layout.map((l) => [l.name, tensorFromTyped('float32', l.dims, master[l.name]!)])));
        const e = await evaluateModel(ort, model, evalSet.data, evalSet.labels, 'cross-entropy');
        result.accuracies.push(e.accuracy!);
        result.evalLosses.push(e.loss);
        result.changeNorms.push(Math.max(...norms));
        norms = [];
      }
    }
  } finally {
    await session.release();
  }
  return result;
}

const DEFAULT_VARIANTS = ['arrival+ef+int8+constant', 'fixed+ef+int8+constant', 'arrival+no-ef+int8+constant', 'arrival+ef+fp32+constant', 'arrival+ef+int8+cosine'];

export async function localRunsBench(flags: Flags, log: Log): Promise<Record<string, number | string | null>> {
  const s: Setup = {
    records: flags.int('local-runs-records', 4000), epochs: flags.int('local-runs-epochs', 8), digits: flags.int('transformer-digits', 6),
    width: flags.int('transformer-width', 64), H: flags.int('modes-h', 32), lr: flags.number('local-runs-lr', 3e-3),
    warmupShare: flags.has('local-runs-warmup') ? Number(flags.string('local-runs-warmup')) : 0.05, shards: 4, perStep: 16, evalFraction: 1 / 6,
  };
  if (!(s.warmupShare >= 0 && s.warmupShare < 1)) throw new Error(`--local-runs-warmup takes a share of the run's inner steps in [0, 1), got ${s.warmupShare}`);
  const variants = (flags.list('local-runs-variants') ?? DEFAULT_VARIANTS).map(parseVariant);
  const repeats = flags.int('local-runs-repeats', 3);
  log(`local-steps runs replayed in this process: transformer (width ${s.width}) reversing ${s.digits} digits, ${s.records} sequences, ${s.epochs} epochs, ` +
    `4 shards a round x H=${s.H} inner AdamW steps (lr ${s.lr}) of ${s.perStep} sequences, outer Nesterov 0.7/0.9; cosine: ${s.warmupShare * 100}% warm-up, decay to 0; ` +
    `${repeats} repeats a variant (they differ only in arrival order)`);
  log(`load average at start: ${loadavg().map((x) => round(x, 1)).join(', ')}`);
  const figures: Record<string, number | string | null> = {};
  const rows: (string | number)[][] = [];
  for (const v of variants) {
    const finals: number[] = [];
    const minsAfter1: number[] = [];
    for (let i = 0; i < repeats; i++) {
      const t0 = performance.now();
      const r = await replay(s, v, i);
      finals.push(r.accuracies.at(-1)!);
      minsAfter1.push(Math.min(...r.accuracies.slice(1)));
      log(`  ${v.name} #${i + 1}: exact match by epoch ${r.accuracies.map((a) => round(a, 4)).join(', ')}; held-out loss ${r.evalLosses.map((a) => round(a, 3)).join(', ')}; ` +
        `largest mean change (L2) per epoch ${r.changeNorms.map((a) => round(a, 3)).join(', ')} (${round((performance.now() - t0) / 1000)} s)`);
    }
    rows.push([v.name, finals.map((a) => round(a, 4)).join(' / '), round(Math.min(...finals), 4), round(Math.min(...minsAfter1), 4)]);
    figures[`local_runs_${v.name.replaceAll('+', '_').replaceAll('-', '_')}_worst_final`] = round(Math.min(...finals), 4);
  }
  log('');
  log(table(['variant', 'final exact match per repeat', 'worst final', 'worst after epoch 1'], rows));
  log(`load average at end: ${loadavg().map((x) => round(x, 1)).join(', ')}`);
  return figures;
}
