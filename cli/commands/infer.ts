/**
 * `tabgrid infer`: upload a model and its inputs, create the job, show a
 * progress bar until every shard is validated, write the outputs.
 */
import cliProgress from 'cli-progress';
import { readFile } from 'node:fs/promises';
import { ApiClient, type JobStatus } from '../api-client.ts';
import { parseInputArg, readInput, writeOutputs } from '../tensor-files.ts';

export interface InferOptions {
  server: string;
  token: string;
  model: string;
  input: string[];
  shardSize?: number;
  replicas?: number;
  rtol?: number;
  atol?: number;
  leaseSeconds?: number;
  backends?: ('webgpu' | 'wasm')[];
  format: 'pb' | 'npy';
  out: string;
  quiet?: boolean;
}

export async function waitForJob(api: ApiClient, id: string, quiet: boolean, label = 'shards'): Promise<JobStatus> {
  const bar = quiet ? null : new cliProgress.SingleBar({
    format: `${label} {bar} {value}/{total} validated | copies valid {valid} invalid {invalid} pending {pending} | {state}`,
    hideCursor: true,
    noTTYOutput: !process.stderr.isTTY,
    notTTYSchedule: 5000,
    stream: process.stderr,
  }, cliProgress.Presets.shades_classic);
  let status = await api.job(id);
  bar?.start(status.shards.total, status.shards.validated, { ...status.copies, state: status.state });
  while (status.state === 'running') {
    await new Promise((r) => setTimeout(r, 300));
    status = await api.job(id);
    bar?.update(status.shards.validated, { ...status.copies, state: status.state });
  }
  bar?.stop();
  return status;
}

export async function downloadOutputs(api: ApiClient, id: string, out: string, format: 'pb' | 'npy'): Promise<string[]> {
  const { outputs } = await api.outputs(id);
  const files = [];
  for (const o of outputs) files.push({ index: o.index, bytes: await api.output(id, o.index, format) });
  return writeOutputs(out, files, format);
}

export async function infer(o: InferOptions): Promise<number> {
  const api = new ApiClient(o.server, o.token);
  const inputs = o.input.map(parseInputArg);
  const modelBytes = new Uint8Array(await readFile(o.model).catch((e) => { throw new Error(`cannot read model ${o.model}: ${e.message}`); }));
  const model = await api.uploadBlob(modelBytes);
  const uploaded = [];
  for (const i of inputs) uploaded.push({ ...(i.name ? { name: i.name } : {}), blob: await api.uploadBlob(await readInput(i)), format: i.format });
  const job = await api.createJob({
    model, inputs: uploaded,
    ...(o.shardSize !== undefined ? { shardSize: o.shardSize } : {}),
    ...(o.replicas !== undefined ? { replicas: o.replicas } : {}),
    ...(o.rtol !== undefined ? { rtol: o.rtol } : {}),
    ...(o.atol !== undefined ? { atol: o.atol } : {}),
    ...(o.leaseSeconds !== undefined ? { leaseSeconds: o.leaseSeconds } : {}),
    ...(o.backends !== undefined ? { backends: o.backends } : {}),
  });
  if (!o.quiet) {
    process.stderr.write(`job ${job.id}: ${job.records} records in ${job.shards.total} shards, ${job.replicas} replicas, ~${(job.flopsPerRecord / 1e6).toFixed(2)} MFLOP/record\n`);
    for (const note of job.backendNotes ?? []) process.stderr.write(`job ${job.id} runs on ${job.backends!.join(', ')} only: ${note}\n`);
  }
  const status = await waitForJob(api, job.id, !!o.quiet);
  if (status.state !== 'completed') {
    process.stderr.write(`job ${job.id} ${status.state}${status.error ? `: ${status.error}` : ''}\n`);
    return 1;
  }
  const written = await downloadOutputs(api, job.id, o.out, o.format);
  if (!o.quiet) {
    process.stderr.write(`job ${job.id} completed; every output validated:\n${written.map((w) => `  ${w}`).join('\n')}\n`);
    process.stdout.write(`${JSON.stringify({ job: job.id, outputs: written })}\n`);
  }
  return 0;
}
