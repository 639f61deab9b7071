import { typedView } from '../tensor/tensor.ts';
import { small } from './ops/helpers.ts';
import { type AttrReader, type Inferred, OpNode, opSpec, type Val } from './ops/index.ts';
import { liveNodes } from './live.ts';
import { defaultOpset, initializerTensor } from './model.ts';
import { type AttributeProto, int64ToDouble, type ModelProto, type TensorProto } from './proto.ts';

/**
 * Server-side FLOP estimate of one run of an ONNX graph, the basis of volunteer
 * credit: computed from the model and the input shapes, never taken from a
 * client. Shapes are propagated statically from the given input shapes and the
 * initializers (and Constant nodes); small integer tensors are also evaluated,
 * so Shape -> Gather -> Concat -> Reshape chains resolve.
 *
 * Counting rules (a multiply-add is 2 FLOPs; "out" is the number of output elements):
 *
 * | op | FLOPs |
 * |----|-------|
 * | MatMul | 2·M·K·N per matrix of the broadcast batch |
 * | Gemm | 2·M·K·N, + M·N when C is given |
 * | Conv (1-D, 2-D, 3-D) | 2·N·Cout·spatial_out·(Cin/group)·kernel, + out when B is given |
 * | ConvTranspose | 2·N·Cin·spatial_in·(Cout/group)·kernel, + out when B is given |
 * | MaxPool, AveragePool, LpPool | out·kernel |
 * | GlobalAveragePool, GlobalMaxPool, GlobalLpPool | input elements |
 * | Add, Sub, Mul, Div, Mod, comparisons, logic, bitwise, Where, Clip, Abs, Neg, Floor, Ceil, Round, Sign, Sqrt, Reciprocal, Relu, LeakyRelu, PRelu, ThresholdedRelu, Shrink, Hardmax | 1 per out |
 * | Exp, Log, Pow, Tanh, Sigmoid, Erf, trigonometric, Elu, Selu, Celu, Softplus, Softsign, Gelu, Mish, HardSigmoid, HardSwish | 4 per out |
 * | Softmax, LogSoftmax | 5 per out (max, subtract, exp, sum, divide) |
 * | Sum, Max, Min of n inputs | (n-1) per out; Mean: n per out |
 * | BatchNormalization | 2 per out (a scale and a shift once folded) |
 * | InstanceNormalization, LayerNormalization | 5 per out |
 * | LRN | (2·size + 4) per out |
 * | Reduce*, ArgMax, ArgMin | input elements |
 * | Resize, Upsample | 0 for nearest, else 4 per out |
 * | Reshape, Flatten, Transpose, Concat, Squeeze, Unsqueeze, Gather, Pad, Slice, Split, Expand, Tile, Dropout, Identity, Cast, CastLike, Shape, Size, Constant, ConstantOfShape, Range, DepthToSpace, SpaceToDepth | 0 |
 *
 * Any other op, an op outside the default ai.onnx domain, and any op whose
 * input shapes are not known counts 0 and is listed in unknownOps; the
 * estimate never throws for a graph it cannot follow.
 *
 * Only nodes that reach a graph output count (see live.ts): a dead branch
 * computes nothing anyone receives, so it earns no credit, and it is not even
 * followed, so its shapes cost nothing to estimate.
 */

export interface FlopEstimate {
  flops: number;
  /** FLOPs per op type, for ops that counted any. */
  byOp: Record<string, number>;
  /** Sorted op types whose output shapes could not be inferred (counted as 0). */
  unknownOps: string[];
}

const num = int64ToDouble;
/** onnx.TensorProto.DataType codes of floating-point types. */
const FLOAT_CODES = new Set([1, 10, 11, 16]);

/** The registry's view of a NodeProto's attributes. */
function protoAttrs(attributes: readonly AttributeProto[]): AttrReader {
  const byName = new Map<string, AttributeProto>();
  for (const a of attributes) if (a.name) byName.set(a.name, a);
  return {
    int: (name) => { const a = byName.get(name); return a && a.i != null ? num(a.i) : undefined; },
    ints: (name) => byName.get(name)?.ints?.map(num),
    float: (name) => { const a = byName.get(name); return a && a.f != null ? a.f : undefined; },
    floats: (name) => { const f = byName.get(name)?.floats; return f ? [...f] : undefined; },
    str: (name) => { const a = byName.get(name); return a?.s ? new TextDecoder().decode(a.s) : undefined; },
    tensor: (name) => { const t = byName.get(name)?.t; return t ? constantVal(t) : undefined; },
    has: (name) => byName.has(name),
  };
}

function constantVal(t: TensorProto): Val {
  const dims = (t.dims ?? []).map(num);
  const float = FLOAT_CODES.has(t.dataType ?? 0);
  if (!small(dims)) return { dims, float };
  try {
    const tensor = initializerTensor(t);
    if (tensor.dtype === 'float16') return { dims, float };
    const view = typedView(tensor);
    return { dims, float, values: Array.from(view as ArrayLike<number | bigint>, (v) => Number(v)) };
  } catch {
    return { dims, float }; // a constant we cannot read (strings, external data) still has a shape
  }
}

// ---------------------------------------------------------------------------

export function estimateFlops(model: ModelProto, inputShapes: Record<string, number[]>): FlopEstimate {
  const { flops, byOp, unknownOps } = propagate(model, inputShapes, liveNodes(model.graph ?? {}));
  return { flops, byOp, unknownOps };
}

/** The shape of every value the propagation could follow (graph inputs, initializers and node outputs). */
export function inferShapes(model: ModelProto, inputShapes: Record<string, number[]>): Record<string, number[]> {
  const out: Record<string, number[]> = {};
  for (const [name, v] of propagate(model, inputShapes).vals) out[name] = v.dims as number[];
  return out;
}

/** `live`: the indices of the nodes to follow (all of them when absent). */
function propagate(
  model: ModelProto, inputShapes: Record<string, number[]>, live?: ReadonlySet<number>,
): FlopEstimate & { vals: Map<string, Val> } {
  const g = model.graph;
  if (!g) throw new Error('the model has no graph');
  const opset = defaultOpset(model) ?? 1;
  const vals = new Map<string, Val>();

  for (const t of g.initializer ?? []) if (t.name) vals.set(t.name, constantVal(t));
  const declared = new Set((g.input ?? []).map((v) => v.name ?? ''));
  for (const [name, dims] of Object.entries(inputShapes)) {
    if (!declared.has(name)) throw new Error(`the model has no input named ${JSON.stringify(name)}`);
    if (!Array.isArray(dims) || dims.some((d) => !Number.isSafeInteger(d) || d < 0)) {
      throw new Error(`input ${JSON.stringify(name)}: dims must be non-negative integers, got ${JSON.stringify(dims)}`);
    }
    vals.set(name, { dims: [...dims] });
  }
  // inputs not given explicitly keep their declared shape when it is fully concrete
  for (const v of g.input ?? []) {
    const name = v.name ?? '';
    if (vals.has(name)) continue;
    const dim = v.type?.tensorType?.shape?.dim;
    if (!dim) continue;
    const dims = dim.map((d) => (d.dimParam ? NaN : d.dimValue == null ? NaN : num(d.dimValue)));
    if (dims.every((d) => Number.isSafeInteger(d) && d >= 0)) vals.set(name, { dims });
  }

  let flops = 0;
  const byOp: Record<string, number> = {};
  const unknownOps = new Set<string>();
  for (const [index, node] of (g.node ?? []).entries()) {
    if (live && !live.has(index)) continue;
    const domain = node.domain ?? '';
    const op = domain === '' || domain === 'ai.onnx' ? node.opType ?? '' : `${domain}::${node.opType}`;
    const outputs = node.output ?? [];
    const spec = opSpec(node.opType ?? '', domain);
    let result: Inferred | null = null;
    if (spec) {
      // an empty input name is an omitted optional input; a missing named one is unknown
      const inputs = (node.input ?? []).map((name) => (name === '' ? undefined : vals.get(name) ?? null));
      if (!inputs.includes(null)) {
        const n = new OpNode(op, inputs as Array<Val | undefined>, outputs.length, opset, protoAttrs(node.attribute ?? []));
        try {
          result = spec.infer(n);
        } catch {
          // Unknown, or attributes too malformed to follow: either way this node's shapes are unknown
        }
      }
    }
    // a NaN or negative count means the attributes were nonsense, not a graph worth crediting
    if (!result || !Number.isFinite(result.flops) || result.flops < 0) {
      unknownOps.add(op);
      continue;
    }
    outputs.forEach((name, i) => {
      const v = result!.out[i];
      if (name && v && v.dims.every((d) => Number.isSafeInteger(d) && (d as number) >= 0)) vals.set(name, v);
    });
    if (result.flops > 0) {
      flops += result.flops;
      byOp[op] = (byOp[op] ?? 0) + result.flops;
    }
  }
  return { flops, byOp, unknownOps: [...unknownOps].sort(), vals };
}
