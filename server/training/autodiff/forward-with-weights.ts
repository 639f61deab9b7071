/**
 * forwardWithWeights: the original forward model with its trainable
 * initializers replaced, so any ONNX runtime can evaluate the current weights.
 * Strict on purpose: every float32 initializer must be given, with its exact
 * shape, and no unknown names.
 */
import type { Tensor } from '../../../shared/tensor/tensor.ts';
import { describe, tensorProblem } from '../../../shared/tensor/tensor.ts';
import { onnxDataType } from '../../../shared/tensor/dtypes.ts';
import { TrainStepError } from './errors.ts';
import { copyBytes, decodeModel, encodeModel, num } from './proto.ts';

export function forwardWithWeights(forwardModelBytes: Uint8Array, weights: Record<string, Tensor>): Uint8Array {
  const model = decodeModel(forwardModelBytes);
  const inits = model.graph?.initializer ?? [];
  const trainable = inits.filter((t) => t.dataType === onnxDataType('float32'));
  const known = new Set(trainable.map((t) => t.name ?? ''));
  for (const name of Object.keys(weights)) {
    if (!known.has(name)) throw new TrainStepError(`weight ${name} is not a float32 initializer of the forward model`);
  }
  for (const init of trainable) {
    const name = init.name ?? '';
    const w = weights[name];
    if (!w) throw new TrainStepError(`no value given for parameter ${name}`);
    const problem = tensorProblem(w);
    if (problem) throw new TrainStepError(`weight ${name}: ${problem}`);
    const dims = (init.dims ?? []).map(num);
    if (w.dtype !== 'float32' || w.dims.length !== dims.length || w.dims.some((d, i) => d !== dims[i])) {
      throw new TrainStepError(`weight ${name} is ${describe(w)}, the model needs float32[${dims.join(',')}]`);
    }
    init.rawData = copyBytes(w.data);
    init.floatData = [];
  }
  return encodeModel(model);
}
