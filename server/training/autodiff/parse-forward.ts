/**
 * Reads a forward ONNX model into tabgrid's normalised graph: float
 * initializers become trainable parameters, other initializers and Constant
 * nodes become constants, Identity/Dropout disappear (their outputs alias
 * their inputs) and opset-dependent attribute forms are unified (reduce axes
 * always in `axes`, Softmax axis explicit).
 */
import type { Tensor } from '../../../shared/tensor/tensor.ts';
import { UnsupportedOpError, TrainStepError } from './errors.ts';
import { GRAD_RULES, PASS_THROUGH_OPS } from './grad-rules.ts';
import type { IrNode } from './ir.ts';
import { attrInt, attrInts, attrTensor } from './ir.ts';
import {
  attr, decodeModel, defaultOpset, float32Tensor, int64Tensor, intValues, readAttr, readValueInfo, tensorFromProto,
} from './proto.ts';
import type { Attrs, Dim } from './proto.ts';

/** Operators the train-step builder can differentiate (or pass through, for Identity/Dropout/Constant). */
export const SUPPORTED_OPS: readonly string[] = [...Object.keys(GRAD_RULES), ...PASS_THROUGH_OPS];

/** Forward-model opsets whose semantics for SUPPORTED_OPS the builder knows. */
export const MIN_FORWARD_OPSET = 11;
export const MAX_FORWARD_OPSET = 18;

export interface ForwardGraph {
  opset: number;
  nodes: IrNode[];
  /** Trainable parameters (float32 initializers) in initializer order. */
  params: { name: string; dims: number[] }[];
  paramValues: Map<string, Tensor>;
  /** Non-trainable constant tensors by name (non-float initializers, Constant outputs). */
  constants: Map<string, Tensor>;
  data: { name: string; dims: Dim[] };
  /** Graph outputs, names resolved through Identity/Dropout aliases. */
  outputs: { declared: string; tensor: string }[];
  /** Original node index of each normalised node, for error messages. */
  nodeIndex: Map<IrNode, number>;
}

const supportedText = (): string => `supported: ${SUPPORTED_OPS.join(', ')}`;

export function parseForward(bytes: Uint8Array): ForwardGraph {
  const model = decodeModel(bytes);
  const graph = model.graph;
  if (!graph) throw new TrainStepError('the ONNX model has no graph');
  const opset = defaultOpset(model);
  if (opset === null || opset < MIN_FORWARD_OPSET || opset > MAX_FORWARD_OPSET) {
    throw new TrainStepError(
      `forward model imports ai.onnx opset ${opset ?? 'none'}; the train-step builder supports opsets ${MIN_FORWARD_OPSET}-${MAX_FORWARD_OPSET}`,
    );
  }

  const params: ForwardGraph['params'] = [];
  const paramValues = new Map<string, Tensor>();
  const constants = new Map<string, Tensor>();
  for (const init of graph.initializer ?? []) {
    const name = init.name ?? '';
    const t = tensorFromProto(init);
    if (t.dtype === 'float32') {
      params.push({ name, dims: [...t.dims] });
      paramValues.set(name, t);
    } else if (t.dtype === 'float16' || t.dtype === 'float64') {
      throw new TrainStepError(`initializer ${name} is ${t.dtype}; only float32 parameters can be trained`);
    } else {
      constants.set(name, t);
    }
  }

  const dataInputs = (graph.input ?? []).filter((i) => !paramValues.has(i.name ?? '') && !constants.has(i.name ?? ''));
  if (dataInputs.length !== 1) {
    throw new TrainStepError(
      `the forward model must have exactly one data input (non-initializer graph input), found ${dataInputs.length}: ${dataInputs.map((i) => i.name).join(', ')}`,
    );
  }
  const dataInfo = readValueInfo(dataInputs[0]!);
  if (dataInfo.dtype !== 'float32') {
    throw new TrainStepError(`data input ${dataInputs[0]!.name} must be float32, is ${dataInfo.dtype ?? 'untyped'}`);
  }
  if (!dataInfo.dims || dataInfo.dims.length === 0) {
    throw new TrainStepError(`data input ${dataInputs[0]!.name} must declare its shape, batch dimension first`);
  }
  // The batch dimension is always symbolic in the train step, whatever the export said.
  const batch: Dim = typeof dataInfo.dims[0] === 'string' ? dataInfo.dims[0] : 'N';
  const data = { name: dataInputs[0]!.name ?? '', dims: [batch, ...dataInfo.dims.slice(1)] };

  const alias = new Map<string, string>();
  const resolve = (n: string): string => {
    let cur = n;
    while (alias.has(cur)) cur = alias.get(cur)!;
    return cur;
  };
  const constantValue = (name: string): Tensor | undefined => constants.get(resolve(name));

  const nodes: IrNode[] = [];
  const nodeIndex = new Map<IrNode, number>();
  const rawNodes = graph.node ?? [];
  // Tensors some later node (or the graph) consumes: Dropout's mask and MaxPool's indices must not be.
  const consumed = new Set<string>([...(graph.output ?? []).map((o) => o.name ?? '')]);
  for (const n of rawNodes) for (const i of n.input ?? []) consumed.add(i);

  rawNodes.forEach((raw, index) => {
    const op = raw.opType ?? '';
    const name = raw.name || `${op}_${index}`;
    const fail = (detail: string): never => { throw new UnsupportedOpError(op, name, index, detail); };
    if (raw.domain && raw.domain !== 'ai.onnx') fail(`domain ${raw.domain} is not supported (ai.onnx only); ${supportedText()}`);
    if (!SUPPORTED_OPS.includes(op)) fail(supportedText());

    const attrs: Attrs = {};
    for (const a of raw.attribute ?? []) {
      const v = readAttr(a);
      if (v === null) fail(`attribute ${a.name} has a kind tabgrid cannot read`);
      else attrs[a.name ?? ''] = v;
    }
    const inputs = (raw.input ?? []).map((i) => (i ? resolve(i) : ''));
    const outputs = [...(raw.output ?? [])];
    const node: IrNode = { op, name, inputs, outputs, attrs };

    switch (op) {
      case 'Identity':
        alias.set(outputs[0]!, inputs[0]!);
        return;
      case 'Dropout':
        if (outputs[1] && consumed.has(outputs[1])) fail('the Dropout mask output is used; only inference-mode Dropout (identity) is supported');
        alias.set(outputs[0]!, inputs[0]!);
        return;
      case 'Constant': {
        constants.set(outputs[0]!, constantFromNode(node, fail));
        return;
      }
      case 'ReduceSum':
      case 'ReduceMean': {
        const axesAsInput = op === 'ReduceSum' ? opset >= 13 : opset >= 18;
        let axes: number[] | null;
        if (axesAsInput) {
          if (inputs[1]) {
            const t = constantValue(inputs[1]);
            if (!t) fail('the axes input must be a constant (initializer or Constant node)');
            axes = intValues(t!);
          } else axes = null;
        } else axes = attrInts(node, 'axes');
        const noop = attrInt(node, 'noop_with_empty_axes', 0);
        if ((axes === null || axes.length === 0) && noop === 1) {
          alias.set(outputs[0]!, inputs[0]!);
          return;
        }
        node.inputs = [inputs[0]!];
        node.attrs = { keepdims: attr.int(attrInt(node, 'keepdims', 1)) };
        // empty axes = reduce over every axis; resolved once the rank is known
        if (axes && axes.length > 0) node.attrs.axes = attr.ints(axes);
        break;
      }
      case 'Reshape':
        if (!constantValue(inputs[1] ?? '')) fail('the shape input must be a constant (initializer or Constant node)');
        break;
      case 'MaxPool':
        if (outputs[1] && consumed.has(outputs[1])) fail('the Indices output is used; it has no WebGPU kernel');
        if (attrInt(node, 'storage_order', 0) !== 0) fail('storage_order=1 is not supported');
        node.outputs = [outputs[0]!];
        delete node.attrs.storage_order;
        break;
      default:
        break;
    }
    nodes.push(node);
    nodeIndex.set(node, index);
  });

  const outputs = (graph.output ?? []).map((o) => ({ declared: o.name ?? '', tensor: resolve(o.name ?? '') }));
  if (outputs.length === 0) throw new TrainStepError('the forward model has no outputs');
  return { opset, nodes, params, paramValues, constants, data, outputs, nodeIndex };
}

function constantFromNode(node: IrNode, fail: (d: string) => never): Tensor {
  const t = attrTensor(node, 'value');
  if (t) return t;
  const a = node.attrs;
  if (a.value_float?.kind === 'float') return float32Tensor([], [a.value_float.value]);
  if (a.value_floats?.kind === 'floats') return float32Tensor([a.value_floats.value.length], a.value_floats.value);
  if (a.value_int?.kind === 'int') return int64Tensor([], [a.value_int.value]);
  if (a.value_ints?.kind === 'ints') return int64Tensor([a.value_ints.value.length], a.value_ints.value);
  return fail('only value, value_float(s) and value_int(s) Constant attributes are supported');
}
