/**
 * buildTrainStep: turns a forward ONNX model into a train-step model whose
 * inputs are the batch, the labels and every trainable parameter, and whose
 * outputs are the mean batch loss and one gradient per parameter. It runs on a
 * plain onnxruntime-web InferenceSession (no training API), and contains only
 * operators on the WebGPU∩WASM allow-list.
 */
import type { Tensor } from '../../../shared/tensor/tensor.ts';
import { buildBackward } from './backward.ts';
import { GraphBuilder, toModelBytes } from './builder.ts';
import type { IrNode } from './ir.ts';
import { emitForwardNode } from './emit-forward.ts';
import { TrainStepError } from './errors.ts';
import { inferShapes } from './infer-shapes.ts';
import { buildLoss } from './losses.ts';
import type { LossKind } from './losses.ts';
import { parseForward } from './parse-forward.ts';
import { intValues } from './proto.ts';
import type { Dim } from './proto.ts';
import { TRAIN_GRAPH_OPSET, webgpuWasmProblem } from './webgpu-allowlist.ts';

export interface TrainStepOptions {
  loss: LossKind;
  /** Forward output the loss applies to; default the first graph output. */
  output?: string;
}

export interface TrainStepParam {
  name: string;
  dtype: 'float32';
  dims: number[];
}

export interface TrainStep {
  /** Serialized train-step ModelProto (opset TRAIN_GRAPH_OPSET). */
  model: Uint8Array;
  /** The forward graph's float32 initializers, now graph inputs of the train step. */
  params: TrainStepParam[];
  /** Names of the batch inputs: data as the forward model takes it, labels per the loss. */
  inputs: { data: string; labels: string };
  /**
   * loss: scalar float32, the MEAN loss over the batch (weight shards by their size when combining).
   * grads: d(loss)/d(param), aligned with `params`.
   * prediction: the forward output the loss was computed on (e.g. logits), for accuracy bookkeeping.
   */
  outputs: { loss: string; grads: string[]; prediction: string };
  /** Declared shapes of the batch inputs; the first (batch) dim is symbolic. */
  batch: {
    data: { dtype: 'float32'; dims: Dim[] };
    labels: { dtype: 'int64' | 'float32'; dims: Dim[] };
  };
  /** Parameter values stored in the forward model. */
  initialParams: Record<string, Tensor>;
}

export function buildTrainStep(forwardModelBytes: Uint8Array, opts: TrainStepOptions): TrainStep {
  const fwd = parseForward(forwardModelBytes);
  const shapes = inferShapes(fwd);

  const out = opts.output === undefined
    ? fwd.outputs[0]!
    : fwd.outputs.find((o) => o.declared === opts.output);
  if (!out) {
    throw new TrainStepError(
      `output ${JSON.stringify(opts.output)} is not a graph output; outputs are ${fwd.outputs.map((o) => o.declared).join(', ')}`,
    );
  }
  const outShape = shapes.get(out.tensor);
  if (!outShape) throw new TrainStepError(`output ${out.declared} is not computed by the graph`);
  if (!fwd.params.length) throw new TrainStepError('the forward model has no float32 initializers to train');

  const reserved = new Set<string>([fwd.data.name, ...fwd.params.map((p) => p.name), ...fwd.constants.keys()]);
  for (const n of fwd.nodes) n.outputs.forEach((o) => reserved.add(o));
  const b = new GraphBuilder(reserved);
  for (const [name, t] of fwd.constants) b.namedInitializer(name, t);
  const shapeOf = (n: string) => shapes.get(n)!;
  for (const n of fwd.nodes) emitForwardNode(b, n, shapeOf);

  const labels = b.fresh('labels');
  const head = buildLoss(b, opts.loss, out.tensor, outShape, labels, b.fresh('loss'), (n) => shapes.get(n)!);
  const constant = (name: string): number[] | undefined => {
    const t = fwd.constants.get(name);
    return t && (t.dtype === 'int64' || t.dtype === 'int32') ? intValues(t) : undefined;
  };
  const grads = buildBackward(b, fwd.nodes, shapes, { tensor: out.tensor, grad: head.seed }, fwd.params.map((p) => p.name), constant);

  const gradNames = fwd.params.map((p) => {
    const name = b.fresh(`${p.name}_grad`);
    const g = grads.get(p.name) ?? null;
    // a named final node per gradient: pins its shape and keeps every output a distinct tensor
    if (g) b.opNamed('Reshape', [g, b.i64(p.dims)], name);
    else b.opNamed('Expand', [b.f32(0), b.i64(p.dims)], name); // parameter does not reach the loss
    return name;
  });

  // keep the declared output name even when Identity/Dropout produced it (a Reshape to its own shape is a free copy)
  let prediction = out.tensor;
  if (out.declared !== out.tensor && !b.isUsed(out.declared)) {
    const shape = outShape.every((d) => typeof d === 'number') ? b.i64(outShape as number[]) : b.op('Shape', [out.tensor]);
    prediction = b.opNamed('Reshape', [out.tensor, shape], out.declared);
  }

  const labelDims: Dim[] = [...head.labels.dims];
  assertWebgpuWasmOnly(b.nodes);
  const model = toModelBytes(b, {
    inputs: [
      { name: fwd.data.name, dtype: 'float32', dims: fwd.data.dims },
      { name: labels, dtype: head.labels.dtype, dims: labelDims },
      ...fwd.params.map((p) => ({ name: p.name, dtype: 'float32' as const, dims: p.dims })),
    ],
    outputs: [
      { name: head.loss, dtype: 'float32', dims: [] },
      ...fwd.params.map((p, i) => ({ name: gradNames[i]!, dtype: 'float32' as const, dims: p.dims })),
      { name: prediction, dtype: 'float32', dims: outShape },
    ],
  }, {
    opset: TRAIN_GRAPH_OPSET,
    name: 'train_step',
    doc: `tabgrid train step: ${opts.loss} loss (mean over the batch) on output ${out.declared}, gradients for ${fwd.params.length} parameters`,
  });

  return {
    model,
    params: fwd.params.map((p) => ({ name: p.name, dtype: 'float32', dims: [...p.dims] })),
    inputs: { data: fwd.data.name, labels },
    outputs: { loss: head.loss, grads: gradNames, prediction },
    batch: {
      data: { dtype: 'float32', dims: [...fwd.data.dims] },
      labels: { dtype: head.labels.dtype, dims: labelDims },
    },
    initialParams: Object.fromEntries(fwd.params.map((p) => [p.name, fwd.paramValues.get(p.name)!])),
  };
}

/** Guards the generator itself: a node outside the allow-list is a bug here, not in the caller's model. */
function assertWebgpuWasmOnly(nodes: readonly IrNode[]): void {
  for (const n of nodes) {
    const problem = webgpuWasmProblem(n, TRAIN_GRAPH_OPSET);
    if (problem) throw new Error(`internal: generated node ${n.name} violates the WebGPU/WASM allow-list: ${problem}`);
  }
}
