/**
 * Local-steps training (DiLoCo-style), the volunteer's half: a shard carries
 * the round's weights and H micro-batches; the volunteer takes H inner
 * optimizer steps with the train-step graph (a fresh optimizer state per
 * shard, so replicas compute the same thing) and returns its losses and the
 * parameter change, compressed with error feedback. The graph only computes
 * loss and gradients; the inner step runs here in JS, so WebGPU and WASM
 * volunteers, tabs and `--node` workers all run the same arithmetic.
 */
import { type NamedTensor, sliceRecords, type Tensor, typedView } from '../tensor/tensor.ts';
import { initOptimizerState, type OptimizerConfig, optimizerStep, type Params } from './optimizer.ts';
import { type LrSchedule, lrFactor } from './lr-schedule.ts';
import { compressWithFeedback, type UpdateFormat } from './update-codec.ts';

export interface LocalStepsPlan {
  /** Inner steps H: the shard's records split into H near-equal contiguous micro-batches. */
  steps: number;
  optimizer: OptimizerConfig;
  /** Parameter inputs of the train-step graph, in the order of the flat update. */
  params: string[];
  /** The graph's loss output and gradient outputs (aligned with `params`). */
  loss: string;
  grads: string[];
  /** Inputs split into micro-batches along axis 0 (data, labels). */
  batched: string[];
  updateFormat: UpdateFormat;
  blockSize: number;
  /**
   * The inner lr over the run: inner step k of this shard uses optimizer.lr ×
   * lrFactor(schedule, firstStep + k). Absent: the optimizer's lr at every step.
   */
  lrSchedule?: { schedule: LrSchedule; firstStep: number };
}

/** The outputs a local-steps copy returns, in order (`scales` only for fp16 and int8). */
export const LOCAL_OUTPUTS = { losses: 'local.losses', update: 'local.update', scales: 'local.scales' } as const;

export function localOutputNames(format: UpdateFormat): string[] {
  return format === 'fp32' ? [LOCAL_OUTPUTS.losses, LOCAL_OUTPUTS.update] : [LOCAL_OUTPUTS.losses, LOCAL_OUTPUTS.update, LOCAL_OUTPUTS.scales];
}

/** [start, end) of each micro-batch: `parts` near-equal contiguous ranges of `records` (fewer when records < parts). */
export function microBatches(records: number, parts: number): { start: number; end: number }[] {
  const k = Math.max(1, Math.min(parts, records));
  return Array.from({ length: k }, (_, i) => ({ start: Math.floor((i * records) / k), end: Math.floor(((i + 1) * records) / k) }));
}

const f32 = (t: Tensor) => typedView(t as Tensor & { dtype: 'float32' });
const bytes = (a: Float32Array | Uint16Array | Int8Array) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

/** Runs the train-step graph once on these feeds and returns the named outputs, in order. */
export type RunStep = (feeds: Record<string, Tensor>, outputs: string[]) => Promise<NamedTensor[]>;

/**
 * H inner steps from the fed weights; returns [losses, update(, scales)] and
 * the new error-feedback residual (keep it for this job's next shard).
 */
export async function runLocalSteps(plan: LocalStepsPlan, feeds: Record<string, Tensor>, run: RunStep, residual: Float32Array | null): Promise<{ outputs: NamedTensor[]; residual: Float32Array }> {
  const records = feeds[plan.batched[0]!]?.dims[0] ?? 0;
  if (records < 1) throw new Error('local steps: the shard has no records');
  let params: Params = {};
  const dims: Record<string, number[]> = {};
  let total = 0;
  for (const name of plan.params) {
    const t = feeds[name];
    if (!t || t.dtype !== 'float32') throw new Error(`local steps: parameter ${name} is not fed as float32`);
    params[name] = Float32Array.from(f32(t));
    dims[name] = t.dims;
    total += params[name]!.length;
  }
  const start = params;
  let state = initOptimizerState(plan.optimizer, params);
  const batches = microBatches(records, plan.steps);
  const losses = new Float32Array(batches.length);
  for (const [k, b] of batches.entries()) {
    const step: Record<string, Tensor> = { ...feeds };
    for (const name of plan.batched) step[name] = sliceRecords(feeds[name]!, b.start, b.end);
    for (const name of plan.params) step[name] = { dtype: 'float32', dims: dims[name]!, data: bytes(params[name]!) };
    const outs = await run(step, [plan.loss, ...plan.grads]);
    const loss = f32(outs[0]!)[0]!;
    if (!Number.isFinite(loss)) throw new Error(`local steps diverged: loss ${loss} at inner step ${k + 1} of ${batches.length}`);
    losses[k] = loss;
    const grads: Params = {};
    plan.params.forEach((name, i) => { grads[name] = f32(outs[i + 1]!); });
    const lr = plan.lrSchedule ? plan.optimizer.lr * lrFactor(plan.lrSchedule.schedule, plan.lrSchedule.firstStep + k) : plan.optimizer.lr;
    ({ params, state } = optimizerStep(state, params, grads, lr));
  }
  const change = new Float32Array(total);
  let off = 0;
  for (const name of plan.params) {
    const a = start[name]!, b = params[name]!;
    for (let i = 0; i < a.length; i++) change[off + i] = b[i]! - a[i]!;
    off += a.length;
  }
  for (let i = 0; i < change.length; i++) {
    if (!Number.isFinite(change[i]!)) throw new Error(`local steps diverged: the parameter change holds ${change[i]} at ${i}`);
  }
  const { sent, residual: next } = compressWithFeedback(change, residual, plan.updateFormat, plan.blockSize);
  const valuesDtype = plan.updateFormat === 'fp32' ? 'float32' : plan.updateFormat === 'fp16' ? 'float16' : 'int8';
  const outputs: NamedTensor[] = [
    { name: LOCAL_OUTPUTS.losses, dtype: 'float32', dims: [losses.length], data: bytes(losses) },
    { name: LOCAL_OUTPUTS.update, dtype: valuesDtype, dims: [total], data: bytes(sent.values) },
  ];
  if (plan.updateFormat !== 'fp32') outputs.push({ name: LOCAL_OUTPUTS.scales, dtype: 'float32', dims: [sent.scales.length], data: bytes(sent.scales) });
  return { outputs, residual: next };
}
