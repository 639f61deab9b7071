/**
 * `tabgrid infer`: upload a model and its inputs, create the job, show a
 * progress bar until every shard is validated, write the outputs.
 */
import cliProgress from 'cli-progress';
import { readFile } from 'node:fs/promises';
import { TabgridClient, type JobStatus } from '../api-client.ts';
import type { InferenceJobRequest } from '../../shared/http/client.ts';
import { finishJob, followJob, submitJob, type SubmitOptions } from './follow.ts';
import { jobMetaOf } from '../job-meta.ts';
import { parseInputArg, readInput, writeOutputs } from '../tensor-files.ts';

export interface InferOptions extends SubmitOptions {
  model: string;
  input: string[];
  shardSize?: number;
  replicas?: number;
  rtol?: number;
  atol?: number;
  leaseSeconds?: number;
  backends?: ('webgpu' | 'wasm')[];
  format: 'pb' | 'npy';
}

const say = (line: string) => process.stderr.write(`${line}\n`);
/** The progress bar's word for why the job waits (followJob says the whole reason on its own line). */
const WAITING_SHORT: Record<NonNullable<JobStatus['waiting']>['code'], string> = {
  no_volunteers: 'no volunteer connected', excluded: 'no volunteer may take a copy', busy: 'volunteers busy', copy_in_flight: 'copies in flight come back first',
};

export async function waitForJob(api: TabgridClient, id: string, o: { quiet: boolean; retryFor?: number; out?: string; label?: string }): Promise<JobStatus> {
  const bar = o.quiet ? null : new cliProgress.SingleBar({
    format: `${o.label ?? 'shards'} {bar} {value}/{total} validated | copies valid {valid} invalid {invalid} pending {pending} | {state}`,
    hideCursor: true,
    noTTYOutput: !process.stderr.isTTY,
    notTTYSchedule: 5000,
    stream: process.stderr,
  }, cliProgress.Presets.shades_classic);
  let started = false;
  const status = await followJob(api, id, {
    everyMs: 300, giveUpAfterMs: (o.retryFor ?? 300) * 1000, say, ...(o.out ? { out: o.out } : {}),
    onStatus: (s) => {
      const state = s.waiting ? `waiting: ${WAITING_SHORT[s.waiting.code]}` : s.state;
      if (!started) bar?.start(s.shards.total, s.shards.validated, { ...s.copies, state });
      else bar?.update(s.shards.validated, { ...s.copies, state });
      started = true;
    },
  }).finally(() => bar?.stop());
  return status;
}

export async function downloadOutputs(api: TabgridClient, id: string, out: string, format: 'pb' | 'npy'): Promise<string[]> {
  const { outputs } = await api.outputs(id);
  const files = [];
  for (const o of outputs) files.push({ index: o.index, bytes: await api.output(id, o.index, format) });
  return writeOutputs(out, files, format);
}

export async function infer(o: InferOptions): Promise<number> {
  const api = new TabgridClient(o.server, o.token);
  const inputs = o.input.map(parseInputArg);
  const modelBytes = new Uint8Array(await readFile(o.model).catch((e) => { throw new Error(`cannot read model ${o.model}: ${e.message}`); }));
  const model = await api.uploadBlob(modelBytes);
  const uploaded: InferenceJobRequest['inputs'] = [];
  for (const i of inputs) uploaded.push({ ...(i.name ? { name: i.name } : {}), blob: await api.uploadBlob(await readInput(i)), format: i.format });
  const job = await submitJob((key) => api.createJob({
    model, inputs: uploaded,
    ...(o.shardSize !== undefined ? { shardSize: o.shardSize } : {}),
    ...(o.replicas !== undefined ? { replicas: o.replicas } : {}),
    ...(o.rtol !== undefined ? { rtol: o.rtol } : {}),
    ...(o.atol !== undefined ? { atol: o.atol } : {}),
    ...(o.leaseSeconds !== undefined ? { leaseSeconds: o.leaseSeconds } : {}),
    ...(o.deadline !== undefined ? { deadlineSeconds: o.deadline } : {}),
    ...(o.backends !== undefined ? { backends: o.backends } : {}),
    ...jobMetaOf(o),
  }, key), { ...o, say });
  // The id always, --quiet or not: it is how the job is found again.
  say(`job ${job.id}: ${job.records} records in ${job.shards.total} shards, ${job.replicas} replicas, ~${(job.flopsPerRecord / 1e6).toFixed(2)} MFLOP/record`);
  if (!o.quiet) for (const note of job.backendNotes ?? []) say(`job ${job.id} runs on ${job.backends!.join(', ')} only: ${note}`);
  for (const w of job.warnings ?? []) say(`warning: job ${job.id}: ${w}`);
  if (o.wait === false) {
    if (o.json) process.stdout.write(`${JSON.stringify({ job: job.id, state: job.state, warnings: job.warnings ?? [] })}\n`);
    else process.stdout.write(`${job.id}\n`);
    say(`not waiting; follow it with: tabgrid status ${job.id} --server ${api.server}`);
    return 0;
  }
  const done = await finishJob(api, job.id, {
    follow: () => waitForJob(api, job.id, { quiet: !!o.quiet, retryFor: o.retryFor, out: o.out }),
    download: () => downloadOutputs(api, job.id, o.out, o.format), what: 'outputs', out: o.out, retryFor: o.retryFor, json: o.json, say,
  });
  if (!done) return 1;
  const { written } = done;
  if (!o.quiet) say(`job ${job.id} completed; every output validated:\n${written.map((w) => `  ${w}`).join('\n')}`);
  process.stdout.write(o.json ? `${JSON.stringify({ job: job.id, state: 'completed', outputs: written })}\n` : `${written.join('\n')}\n`);
  return 0;
}
