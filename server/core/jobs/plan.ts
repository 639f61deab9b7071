/**
 * Turns a model signature and a project's inputs into a job plan: how inputs
 * bind to the graph, which carry records on axis 0, how many records each
 * session.run takes, and the shard ranges. Pure; every refusal says exactly
 * which input and which dimension is wrong.
 */
import type { ModelSignature, ValueInfo } from '../../../shared/onnx/model.ts';
import type { NamedTensor, Tensor } from '../../../shared/tensor/tensor.ts';
import { describe } from '../../../shared/tensor/tensor.ts';
import type { OutputSpec } from './types.ts';

export class JobInputError extends Error {
  override name = 'JobInputError';
}

export interface ProvidedInput {
  /** Graph input name; omitted binds to the next unnamed graph input in order. */
  name?: string;
  tensor: Tensor;
}

export interface JobPlan {
  inputs: NamedTensor[];
  records: number;
  batchedInputs: string[];
  runUnit: number;
  stackOutputs: boolean;
  outputs: OutputSpec[];
  shards: { start: number; end: number }[];
  shardSize: number;
}

export function bindInputs(sig: ModelSignature, provided: readonly ProvidedInput[]): NamedTensor[] {
  const graphNames = sig.inputs.map((i) => i.name);
  const byName = new Map<string, Tensor>();
  const positional: Tensor[] = [];
  for (const p of provided) {
    if (p.name === undefined) { positional.push(p.tensor); continue; }
    if (!graphNames.includes(p.name)) {
      throw new JobInputError(`input ${JSON.stringify(p.name)} is not an input of the model (its inputs: ${graphNames.join(', ') || 'none'})`);
    }
    if (byName.has(p.name)) throw new JobInputError(`input ${JSON.stringify(p.name)} is given twice`);
    byName.set(p.name, p.tensor);
  }
  const unbound = graphNames.filter((n) => !byName.has(n));
  if (positional.length > unbound.length) {
    throw new JobInputError(`${provided.length} inputs given but the model takes ${graphNames.length} (${graphNames.join(', ')})`);
  }
  positional.forEach((t, i) => byName.set(unbound[i]!, t));
  const missing = graphNames.filter((n) => !byName.has(n));
  if (missing.length) throw new JobInputError(`missing input${missing.length > 1 ? 's' : ''} ${missing.map((m) => JSON.stringify(m)).join(', ')}`);
  return sig.inputs.map((info) => {
    const t = byName.get(info.name)!;
    checkFits(info, t);
    return { name: info.name, ...t };
  });
}

function checkFits(info: ValueInfo, t: Tensor): void {
  const where = `input ${JSON.stringify(info.name)}`;
  if (info.dtype === null) throw new JobInputError(`${where} has an element type tabgrid cannot carry (ONNX type ${info.elemType})`);
  if (info.dtype !== t.dtype) throw new JobInputError(`${where} must be ${info.dtype}, got ${describe(t)}`);
  if (info.dims === null) return;
  if (info.dims.length !== t.dims.length) {
    throw new JobInputError(`${where} must have rank ${info.dims.length} ([${info.dims.map(dimText).join(',')}]), got ${describe(t)}`);
  }
  info.dims.forEach((d, axis) => {
    // Axis 0 of a fixed-batch input may hold several batches: they run one at a time.
    if (typeof d !== 'number' || d === t.dims[axis]) return;
    if (axis === 0 && d > 0 && t.dims[0]! % d === 0) return;
    throw new JobInputError(`${where} dim ${axis} must be ${d}, got ${describe(t)} (model expects [${info.dims!.map(dimText).join(',')}])`);
  });
}

const dimText = (d: number | string | null) => (d === null ? '?' : String(d));

export function planJob(sig: ModelSignature, provided: readonly ProvidedInput[], shardSize: number): JobPlan {
  if (!Number.isInteger(shardSize) || shardSize < 1) throw new JobInputError(`shard size must be a positive integer, got ${shardSize}`);
  if (sig.outputs.length === 0) throw new JobInputError('the model has no outputs');
  const inputs = bindInputs(sig, provided);
  for (const o of sig.outputs) {
    if (o.dtype === null) throw new JobInputError(`output ${JSON.stringify(o.name)} has an element type tabgrid cannot carry (ONNX type ${o.elemType})`);
  }
  const outputs: OutputSpec[] = sig.outputs.map((o) => ({
    name: o.name,
    dtype: o.dtype!,
    dims: o.dims === null ? null : o.dims.map((d) => (typeof d === 'number' && d > 0 ? d : null)),
  }));

  const split = splitLayout(sig, inputs);
  if (!split) {
    return { inputs, records: 1, batchedInputs: [], runUnit: 0, stackOutputs: false, outputs, shards: [{ start: 0, end: 1 }], shardSize: 1 };
  }
  const { records, unit } = split;
  const step = unit > 0 ? Math.max(unit, Math.floor(shardSize / unit) * unit) : shardSize;
  const shards: { start: number; end: number }[] = [];
  for (let start = 0; start < records; start += step) shards.push({ start, end: Math.min(records, start + step) });
  return {
    inputs, records, batchedInputs: inputs.map((i) => i.name), runUnit: unit,
    stackOutputs: true, outputs, shards, shardSize: step,
  };
}

/**
 * A job splits along axis 0 only when every input carries the same number of
 * records there, and every output's axis 0 follows them (free, or fixed to the
 * same batch as the inputs). Anything else runs as one shard.
 */
function splitLayout(sig: ModelSignature, inputs: NamedTensor[]): { records: number; unit: number } | null {
  if (inputs.length === 0 || inputs.some((t) => t.dims.length === 0)) return null;
  const records = inputs[0]!.dims[0]!;
  if (records < 1 || inputs.some((t) => t.dims[0] !== records)) return null;
  const axis0 = (v: ValueInfo) => (v.dims === null || v.dims.length === 0 ? undefined : v.dims[0]);
  const fixed = new Set<number>();
  for (const info of sig.inputs) {
    const d = axis0(info);
    if (d === undefined) return null;
    if (typeof d === 'number' && d > 0) fixed.add(d);
  }
  if (fixed.size > 1) return null;
  const unit = fixed.size === 1 ? [...fixed][0]! : 0;
  for (const o of sig.outputs) {
    const d = axis0(o);
    if (d === undefined) return null;
    if (typeof d === 'number' && d > 0 && d !== unit) return null;
    if (typeof d !== 'number' && unit > 0) return null;
  }
  return { records, unit };
}
