/**
 * Shape inference over the normalised forward graph, with the batch dimension
 * kept symbolic, by the op registry's rules (shared/onnx/ops/) that the FLOP
 * estimate also uses. Each node's attributes are rewritten into the explicit
 * form the registry resolves (axes non-negative, default perm, auto_pad turned
 * into pads), which is what the gradient rules read and what the train-step
 * graph, stamped with a newer opset, needs spelt out.
 */
import { TrainStepError, UnsupportedOpError } from './errors.ts';
import { GRAD_LIMITS } from './grad-rules.ts';
import type { IrNode } from './ir.ts';
import { attr, type Attrs } from './proto.ts';
import type { ForwardGraph } from './parse-forward.ts';
import { type AttrReader, OpNode, opSpec, ShapeError, type Val } from '../../../shared/onnx/ops/index.ts';
import { small } from '../../../shared/onnx/ops/helpers.ts';
import type { Dim, Shape } from '../../../shared/onnx/dims.ts';
import type { Tensor } from '../../../shared/tensor/tensor.ts';
import { typedView } from '../../../shared/tensor/tensor.ts';

export type ShapeMap = Map<string, Shape>;

/** A tensor as the registry sees a value: its dims and, when small and numeric, its contents. */
function tensorVal(t: Tensor): Val {
  const float = t.dtype === 'float32' || t.dtype === 'float64';
  if (!small(t.dims) || t.dtype === 'float16') return { dims: [...t.dims], float };
  const view = typedView(t) as ArrayLike<number | bigint>;
  return { dims: [...t.dims], float, values: Array.from(view, (v) => Number(v)) };
}

function irAttrs(attrs: Attrs): AttrReader {
  const get = <K extends string>(name: string, kind: K) => {
    const a = attrs[name];
    return a && a.kind === kind ? a : undefined;
  };
  return {
    int: (name) => get(name, 'int')?.value as number | undefined,
    ints: (name) => get(name, 'ints')?.value as number[] | undefined,
    float: (name) => get(name, 'float')?.value as number | undefined,
    floats: (name) => get(name, 'floats')?.value as number[] | undefined,
    str: (name) => get(name, 'string')?.value as string | undefined,
    tensor: (name) => { const t = get(name, 'tensor')?.value as Tensor | undefined; return t ? tensorVal(t) : undefined; },
    has: (name) => name in attrs,
  };
}

export function inferShapes(g: ForwardGraph): ShapeMap {
  const vals = new Map<string, Val>();
  vals.set(g.data.name, { dims: g.data.dims, float: true });
  for (const p of g.params) vals.set(p.name, { dims: p.dims, float: true });
  for (const [name, t] of g.constants) vals.set(name, tensorVal(t));
  let fresh = 0;

  for (const node of g.nodes) {
    const index = g.nodeIndex.get(node) ?? -1;
    const inputs = node.inputs.map((name, i): Val | undefined => {
      if (!name) return undefined;
      return vals.get(name) ?? bad(node, index, `input ${i} (${name}) is produced by nothing before this node`);
    });
    const spec = opSpec(node.op) ?? unsupported(node, index, 'no shape rule');
    const limit = GRAD_LIMITS[node.op]?.(node, (i) => inputs[i]?.dims ?? [], g.opset, (name) => (g.constants.has(name) ? vals.get(name)?.values : undefined));
    if (limit) unsupported(node, index, limit);
    const freshDim = (hint: string): Dim => `${node.outputs[0]}_${hint}${++fresh}`;
    let result;
    try {
      result = spec.infer(new OpNode(node.op, inputs, node.outputs.length, g.opset, irAttrs(node.attrs), freshDim));
    } catch (e) {
      if (e instanceof ShapeError) bad(node, index, e.message);
      throw e;
    }
    for (const [k, v] of Object.entries(result.attrs ?? {})) node.attrs[k] = Array.isArray(v) ? attr.ints(v) : attr.int(v);
    for (const k of result.drop ?? []) delete node.attrs[k];
    node.outputs.forEach((name, i) => {
      const v = result.out[i];
      if (name && v) vals.set(name, v);
    });
  }
  return new Map([...vals].map(([name, v]) => [name, v.dims]));
}

function bad(node: IrNode, index: number, detail: string): never {
  throw new TrainStepError(`node "${node.name}" (${node.op}, index ${index}): ${detail}`);
}

function unsupported(node: IrNode, index: number, detail: string): never {
  throw new UnsupportedOpError(node.op, node.name, index, detail);
}
