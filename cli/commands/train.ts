/**
 * `tabgrid train`: upload a forward model, data and labels; the coordinator
 * generates the train-step graph and runs data-parallel rounds on volunteers.
 * Shows a bar per round with loss and held-out accuracy, then writes the
 * trained forward model and the history.
 *
 * `--task reverse` brings its own model and data instead of --model, --data
 * and --labels: a small causal transformer and a seeded synthetic sequence
 * task (server/training/sequence-task.ts), generated here and uploaded like
 * any other job's files; held-out accuracy is then exact match.
 */
import cliProgress from 'cli-progress';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { TabgridClient, type JobStatus } from '../api-client.ts';
import type { TrainJobRequest } from '../../shared/http/client.ts';
import { parseInputArg, readInput } from '../tensor-files.ts';
import { encodeTensors } from '../../shared/tensor/codec.ts';
import { tensorFromTyped } from '../../shared/tensor/tensor.ts';
import { generateSequenceTask, type SequenceTaskName } from '../../server/training/sequence-task.ts';
import { buildTransformer } from '../../server/training/transformer.ts';
import { finishJob, followJob, submitJob, type SubmitOptions } from './follow.ts';

export interface TrainOptions extends SubmitOptions {
  model?: string;
  data?: string;
  labels?: string;
  /** A built-in sequence task instead of --model/--data/--labels. */
  task?: SequenceTaskName;
  digits?: number;
  records?: number;
  width?: number;
  layers?: number;
  heads?: number;
  loss: 'cross-entropy' | 'mse';
  optimizer: 'sgd' | 'adam';
  lr?: number;
  batch?: number;
  epochs?: number;
  shardsPerRound?: number;
  replicas?: number;
  aggregate?: 'mean' | 'trimmed-mean' | 'median';
  localSteps?: number;
  updateFormat?: 'fp32' | 'fp16' | 'int8';
  weightsFormat?: 'fp32' | 'fp16';
  outerLr?: number;
  outerMomentum?: number;
  lrSchedule?: 'constant' | 'cosine';
  lrWarmup?: number;
  weightDecay?: number;
  minFraction?: number;
  roundDeadline?: number;
  evalFraction?: number;
  seed?: number;
  targetAccuracy?: number;
}

const say = (line: string) => process.stderr.write(`${line}\n`);

export async function waitForTraining(api: TabgridClient, id: string, o: { quiet: boolean; retryFor?: number; out?: string }): Promise<JobStatus> {
  const bar = o.quiet ? null : new cliProgress.SingleBar({
    format: 'rounds {bar} {value}/{total} | loss {loss} | held-out accuracy {acc} | {state}',
    hideCursor: true, noTTYOutput: !process.stderr.isTTY, notTTYSchedule: 5000, stream: process.stderr,
  }, cliProgress.Presets.shades_classic);
  const fmt = (x: JobStatus) => ({
    loss: x.train?.loss?.toFixed(4) ?? '-', acc: x.train?.accuracy?.toFixed(4) ?? '-', state: x.waiting ? `waiting (${x.waiting.code})` : x.state,
  });
  let started = false;
  return followJob(api, id, {
    everyMs: 500, giveUpAfterMs: (o.retryFor ?? 300) * 1000, say, ...(o.out ? { out: o.out } : {}),
    onStatus: (s) => {
      if (!started) bar?.start(s.train?.rounds ?? 0, s.train?.round ?? 0, fmt(s));
      else bar?.update(s.train?.round ?? 0, fmt(s));
      started = true;
    },
  }).finally(() => bar?.stop());
}

export async function downloadTrained(api: TabgridClient, id: string, out: string): Promise<string[]> {
  await mkdir(out, { recursive: true });
  const model = join(out, 'model.onnx');
  const history = join(out, 'history.json');
  await writeFile(model, await api.model(id));
  const s = await api.job(id);
  await writeFile(history, `${JSON.stringify(s.kind === 'train' ? s.history : [], null, 2)}\n`);
  return [model, history];
}

/** What a job trains on: the model, data and labels as bytes, and their formats. */
interface TrainFiles {
  model: Uint8Array;
  data: { bytes: Uint8Array; format: 'npy' | 'pb' | 'tensors' };
  labels: { bytes: Uint8Array; format: 'npy' | 'pb' | 'tensors' };
}

async function filesOf(o: TrainOptions): Promise<TrainFiles> {
  if (o.task) {
    if (o.model || o.data || o.labels) throw new Error('--task brings its own model and data: leave out --model, --data and --labels');
    if (o.loss !== 'cross-entropy') throw new Error(`--task ${o.task} is scored by cross-entropy; --loss ${o.loss} does not apply`);
    const t = generateSequenceTask({ task: o.task, digits: o.digits, count: o.records ?? 5000, seed: o.seed });
    const model = buildTransformer({ vocab: t.vocab, length: t.length, width: o.width ?? 64, layers: o.layers ?? 2, heads: o.heads ?? 4, seed: o.seed });
    if (!o.quiet) {
      say(`task ${t.task}: ${t.count} distinct ${t.digits}-digit sequences (seed ${o.seed ?? 0}), ${t.length} tokens each; ` +
        `a causal transformer of ${o.layers ?? 2} layers, width ${o.width ?? 64}; held-out accuracy is exact match of the whole answer (teacher-forced)`);
    }
    return {
      model,
      data: { bytes: encodeTensors([{ name: 'tokens', ...tensorFromTyped('float32', [t.count, t.length], t.tokens) }]), format: 'tensors' },
      labels: { bytes: encodeTensors([{ name: 'labels', ...tensorFromTyped('int64', [t.count, t.length], t.labels) }]), format: 'tensors' },
    };
  }
  const missing = (['model', 'data', 'labels'] as const).filter((k) => !o[k]);
  if (missing.length) throw new Error(`give ${missing.map((k) => `--${k}`).join(', ')} (or --task for a built-in task)`);
  for (const k of ['digits', 'records', 'width', 'layers', 'heads'] as const) if (o[k] !== undefined) throw new Error(`--${k} applies to --task only`);
  const data = parseInputArg(o.data!);
  const labels = parseInputArg(o.labels!);
  return {
    model: new Uint8Array(await readFile(o.model!).catch((e) => { throw new Error(`cannot read model ${o.model}: ${e.message}`); })),
    data: { bytes: await readInput(data), format: data.format },
    labels: { bytes: await readInput(labels), format: labels.format },
  };
}

export async function train(o: TrainOptions): Promise<number> {
  const api = new TabgridClient(o.server, o.token);
  const files = await filesOf(o);
  const request: TrainJobRequest = {
    kind: 'train', loss: o.loss, optimizer: o.optimizer,
    model: await api.uploadBlob(files.model),
    data: { blob: await api.uploadBlob(files.data.bytes), format: files.data.format },
    labels: { blob: await api.uploadBlob(files.labels.bytes), format: files.labels.format },
    ...Object.fromEntries(Object.entries({
      lr: o.lr, batch: o.batch, epochs: o.epochs, shardsPerRound: o.shardsPerRound, replicas: o.replicas,
      aggregate: o.aggregate, localSteps: o.localSteps, updateFormat: o.updateFormat, weightsFormat: o.weightsFormat, outerLr: o.outerLr, outerMomentum: o.outerMomentum,
      lrSchedule: o.lrSchedule, lrWarmup: o.lrWarmup, weightDecay: o.weightDecay, minFraction: o.minFraction, roundDeadlineSeconds: o.roundDeadline, evalFraction: o.evalFraction, seed: o.seed, targetAccuracy: o.targetAccuracy, deadlineSeconds: o.deadline,
      name: o.name, tags: o.tag, priority: o.priority,
    }).filter(([, v]) => v !== undefined)),
  };
  const job = await submitJob((key) => api.createJob(request, key), { ...o, say });
  say(`job ${job.id}: ${job.rounds} rounds; follow it with: tabgrid status ${job.id} --server ${api.server}`);
  for (const w of job.warnings ?? []) say(`warning: job ${job.id}: ${w}`);
  if (o.wait === false) {
    process.stdout.write(o.json ? `${JSON.stringify({ job: job.id, state: job.state, warnings: job.warnings ?? [] })}\n` : `${job.id}\n`);
    return 0;
  }
  const done = await finishJob(api, job.id, {
    follow: () => waitForTraining(api, job.id, { quiet: !!o.quiet, retryFor: o.retryFor, out: o.out }),
    download: () => downloadTrained(api, job.id, o.out), what: 'model', out: o.out, retryFor: o.retryFor, json: o.json, say,
  });
  if (!done) return 1;
  const { status: s, written } = done;
  if (!o.quiet) say(`job ${job.id} completed: held-out accuracy ${s.train?.accuracy ?? 'n/a'}\n${written.map((w) => `  ${w}`).join('\n')}`);
  process.stdout.write(o.json ? `${JSON.stringify({ job: job.id, state: 'completed', accuracy: s.train?.accuracy ?? null, files: written })}\n` : `${written.join('\n')}\n`);
  return 0;
}
