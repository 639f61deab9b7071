/**
 * `tabgrid train`: upload a forward model, data and labels; the coordinator
 * generates the train-step graph and runs data-parallel rounds on volunteers.
 * Shows a bar per round with loss and held-out accuracy, then writes the
 * trained forward model and the history.
 */
import cliProgress from 'cli-progress';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ApiClient, type JobStatus } from '../api-client.ts';
import { parseInputArg, readInput } from '../tensor-files.ts';

export interface TrainOptions {
  server: string;
  token: string;
  model: string;
  data: string;
  labels: string;
  loss: 'cross-entropy' | 'mse';
  optimizer: 'sgd' | 'adam';
  lr?: number;
  batch?: number;
  epochs?: number;
  shardsPerRound?: number;
  replicas?: number;
  aggregate?: 'mean' | 'trimmed-mean' | 'median';
  evalFraction?: number;
  seed?: number;
  targetAccuracy?: number;
  out: string;
  quiet?: boolean;
}

export async function waitForTraining(api: ApiClient, id: string, quiet: boolean): Promise<JobStatus> {
  const bar = quiet ? null : new cliProgress.SingleBar({
    format: 'rounds {bar} {value}/{total} | loss {loss} | held-out accuracy {acc} | {state}',
    hideCursor: true, noTTYOutput: !process.stderr.isTTY, notTTYSchedule: 5000, stream: process.stderr,
  }, cliProgress.Presets.shades_classic);
  let s = await api.job(id);
  const fmt = (x: JobStatus) => ({
    loss: x.train?.loss?.toFixed(4) ?? '-', acc: x.train?.accuracy?.toFixed(4) ?? '-', state: x.state,
  });
  bar?.start(s.train?.rounds ?? 0, s.train?.round ?? 0, fmt(s));
  while (s.state === 'running') {
    await new Promise((r) => setTimeout(r, 500));
    s = await api.job(id);
    bar?.update(s.train?.round ?? 0, fmt(s));
  }
  bar?.stop();
  return s;
}

export async function downloadTrained(api: ApiClient, id: string, out: string): Promise<string[]> {
  await mkdir(out, { recursive: true });
  const model = join(out, 'model.onnx');
  const history = join(out, 'history.json');
  await writeFile(model, await api.raw(`/api/v1/jobs/${encodeURIComponent(id)}/model`));
  await writeFile(history, `${JSON.stringify((await api.job(id)).history ?? [], null, 2)}\n`);
  return [model, history];
}

export async function train(o: TrainOptions): Promise<number> {
  const api = new ApiClient(o.server, o.token);
  const data = parseInputArg(o.data);
  const labels = parseInputArg(o.labels);
  const modelBytes = new Uint8Array(await readFile(o.model).catch((e) => { throw new Error(`cannot read model ${o.model}: ${e.message}`); }));
  const job = await api.createJob({
    kind: 'train', loss: o.loss, optimizer: o.optimizer,
    model: await api.uploadBlob(modelBytes),
    data: { blob: await api.uploadBlob(await readInput(data)), format: data.format },
    labels: { blob: await api.uploadBlob(await readInput(labels)), format: labels.format },
    ...Object.fromEntries(Object.entries({
      lr: o.lr, batch: o.batch, epochs: o.epochs, shardsPerRound: o.shardsPerRound, replicas: o.replicas,
      aggregate: o.aggregate, evalFraction: o.evalFraction, seed: o.seed, targetAccuracy: o.targetAccuracy,
    }).filter(([, v]) => v !== undefined)),
  });
  if (!o.quiet) process.stderr.write(`job ${job.id}: ${job.rounds} rounds; follow it with: tabgrid status ${job.id}\n`);
  const s = await waitForTraining(api, job.id, !!o.quiet);
  if (s.state !== 'completed') {
    process.stderr.write(`job ${job.id} ${s.state}${s.error ? `: ${s.error}` : ''}\n`);
    return 1;
  }
  const written = await downloadTrained(api, job.id, o.out);
  if (!o.quiet) {
    process.stderr.write(`job ${job.id} completed: held-out accuracy ${s.train?.accuracy ?? 'n/a'}\n${written.map((w) => `  ${w}`).join('\n')}\n`);
    process.stdout.write(`${JSON.stringify({ job: job.id, accuracy: s.train?.accuracy ?? null, files: written })}\n`);
  }
  return 0;
}
