/**
 * A training job's checkpoint as bytes: the weights (an encoded tensor list,
 * one float32 tensor per parameter, the form volunteers feed), the optimizer
 * state (one tensor per parameter and slot, named `param\0slot`), and the
 * gradients volunteers return ([loss, ...one per parameter], flattened in
 * parameter order for the aggregator and cut back to parameters after it).
 */
import { decodeTensors, encodeTensors } from '../../shared/tensor/codec.ts';
import { type NamedTensor, type Tensor, typedView } from '../../shared/tensor/tensor.ts';
import { flattenGradients } from '../core/validation/gradients.ts';
import type { OptimizerConfig, OptimizerState, Params } from './optimizer.ts';
import { paramsToTensors, tensorsToParams } from './params.ts';

export interface ParamShape {
  name: string;
  dims: number[];
}

/** Parameters as named tensors, in the job's parameter order. */
export function paramTensors(params: Params, specs: readonly ParamShape[]): NamedTensor[] {
  const t = paramsToTensors(params, specs);
  return specs.map((p) => ({ name: p.name, ...t[p.name]! }));
}

export function encodeWeights(params: Params, specs: readonly ParamShape[]): Uint8Array {
  return encodeTensors(paramTensors(params, specs));
}

export function decodeWeights(bytes: Uint8Array): Params {
  return tensorsToParams(Object.fromEntries(decodeTensors(bytes).map((t) => [t.name, t])));
}

export function encodeOptimizer(s: OptimizerState): Uint8Array {
  const out: NamedTensor[] = [];
  for (const [param, slots] of Object.entries(s.slots)) {
    for (const [slot, v] of Object.entries(slots)) out.push({ name: `${param}\u0000${slot}`, dtype: 'float32', dims: [v.length], data: new Uint8Array(v.buffer, v.byteOffset, v.byteLength) });
  }
  return encodeTensors(out);
}

/** The state `encodeOptimizer` wrote, with the config and step count the checkpoint keeps beside it. */
export function decodeOptimizer(bytes: Uint8Array, params: readonly ParamShape[], config: OptimizerConfig, step: number): OptimizerState {
  const slots: OptimizerState['slots'] = {};
  for (const param of params) slots[param.name] = {};
  for (const t of decodeTensors(bytes)) {
    const [param, slot] = t.name.split('\u0000') as [string, string];
    slots[param]![slot] = new Float32Array(typedView(t as NamedTensor & { dtype: 'float32' }));
  }
  return { config, step, slots };
}

const scalar = (t: Tensor) => Number(typedView(t as Tensor & { dtype: 'float32' })[0]);

/** A volunteer's training result: its mean loss and its gradients as one vector in parameter order. */
export function decodeGradients(encoded: Uint8Array): { loss: number; gradient: Float32Array } {
  const outs = decodeTensors(encoded);
  return {
    loss: scalar(outs[0]!),
    gradient: flattenGradients(outs.slice(1).map((t) => typedView(t as NamedTensor & { dtype: 'float32' }))),
  };
}

/** One flat vector cut back into per-parameter views (no copy). */
export function unflattenGradients(flat: Float32Array, params: readonly ParamShape[]): Params {
  const out: Params = {};
  let off = 0;
  for (const param of params) {
    const n = param.dims.reduce((a, b) => a * b, 1);
    out[param.name] = flat.subarray(off, off + n);
    off += n;
  }
  return out;
}
