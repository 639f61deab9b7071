import { elementCount, typedView } from '../tensor/tensor.ts';
import { broadcastShapes, normAxis as normDimAxis, type Shape, windowOutput } from './dims.ts';
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

interface Val {
  dims: number[];
  /** The contents, for small numeric tensors (shape arithmetic needs them). */
  values?: number[];
  /** Whether the values are floating point (integer Div truncates). */
  float?: boolean;
}

/** Tensors up to this size are evaluated; shape tensors are far smaller. */
const MAX_VALUES = 4096;

type Attr = AttributeProto;

class Unknown extends Error {}
const unknown = (why: string): never => { throw new Unknown(why); };

const num = int64ToDouble;

class OpNode {
  readonly attrs = new Map<string, Attr>();
  constructor(
    readonly op: string,
    readonly inputs: Array<Val | undefined>,
    readonly nOut: number,
    readonly opset: number,
    attributes: readonly Attr[],
  ) {
    for (const a of attributes) if (a.name) this.attrs.set(a.name, a);
  }

  in(i: number): Val {
    return this.inputs[i] ?? unknown(`input ${i} unknown`);
  }
  has(i: number): boolean {
    return this.inputs[i] !== undefined;
  }
  /** Values of an input that must be a small constant (axes, shape, pads...). */
  values(i: number): number[] {
    return this.in(i).values ?? unknown(`input ${i} is not constant`);
  }
  int(name: string, def: number): number {
    const a = this.attrs.get(name);
    return a && a.i != null ? num(a.i) : def;
  }
  ints(name: string): number[] | null {
    const a = this.attrs.get(name);
    return a && a.ints && a.ints.length > 0 ? a.ints.map(num) : null;
  }
  float(name: string, def: number): number {
    const a = this.attrs.get(name);
    return a && a.f != null ? a.f : def;
  }
  str(name: string, def: string): string {
    const a = this.attrs.get(name);
    return a && a.s && a.s.length > 0 ? new TextDecoder().decode(a.s) : def;
  }
}

interface Result { out: Array<Val | undefined>; flops: number }

// ---------------------------------------------------------------------------
// shape helpers

const prod = (xs: readonly number[]): number => xs.reduce((a, b) => a * b, 1);

/** An axis made non-negative and checked against the rank. */
function normAxis(axis: number, rank: number): number {
  const a = normDimAxis(axis, rank);
  if (a < 0 || a >= rank) unknown(`axis ${axis} out of range for rank ${rank}`);
  return a;
}

function broadcast(...shapes: number[][]): number[] {
  let out: Shape = [];
  for (const s of shapes) {
    out = broadcastShapes(out, s) ?? unknown(`cannot broadcast [${shapes.map((x) => x.join(',')).join('] [')}]`);
  }
  return out as number[];
}

/** Maps each flat index of `outDims` to the flat index of a tensor broadcast from `inDims`. */
function broadcastSource(outDims: readonly number[], inDims: readonly number[]): (i: number) => number {
  const rank = outDims.length;
  const strides = new Array<number>(rank).fill(0);
  let s = 1;
  for (let k = inDims.length - 1; k >= 0; k--) {
    const o = rank - inDims.length + k;
    strides[o] = inDims[k] === 1 ? 0 : s;
    s *= inDims[k]!;
  }
  return (flat) => {
    let src = 0;
    for (let k = rank - 1; k >= 0; k--) {
      const d = outDims[k]!;
      src += (flat % d) * strides[k]!;
      flat = Math.floor(flat / d);
    }
    return src;
  };
}

const small = (dims: readonly number[]): boolean => elementCount(dims) <= MAX_VALUES;

/** First output shaped like the first input. */
function same(n: OpNode, perElement: number): Result {
  const x = n.in(0);
  return { out: [{ dims: x.dims }], flops: perElement * elementCount(x.dims) };
}

/** Elementwise op over broadcast inputs; evaluates small constant operands. */
function elementwise(n: OpNode, perElement: number, f?: (...xs: number[]) => number): Result {
  const ins = n.inputs.filter((v): v is Val => v !== undefined);
  if (ins.length !== n.inputs.length || ins.length === 0) unknown('input unknown');
  const dims = broadcast(...ins.map((v) => v.dims));
  const count = elementCount(dims);
  const val: Val = { dims, float: ins.some((v) => v.float) };
  if (f && small(dims) && ins.every((v) => v.values)) {
    const srcs = ins.map((v) => broadcastSource(dims, v.dims));
    val.values = Array.from({ length: count }, (_, i) => f(...ins.map((v, k) => v.values![srcs[k]!(i)]!)));
  }
  return { out: [val], flops: perElement * count * Math.max(1, ins.length - 1) };
}

function convOut(len: number, k: number, s: number, d: number, pb: number, pe: number, autoPad: string, ceil = false): number {
  return windowOutput(len, { kernel: k, stride: s, dilation: d, padHead: pb, padTail: pe, autoPad, ceil })
    ?? unknown('kernel larger than padded input');
}

interface Window { kernel: number[]; strides: number[]; dilations: number[]; pads: number[]; autoPad: string }

function windowAttrs(n: OpNode, rank: number, kernel: number[] | null): Window {
  const k = n.ints('kernel_shape') ?? kernel ?? unknown('no kernel_shape');
  if (k.length !== rank) unknown(`kernel rank ${k.length} for ${rank} spatial dims`);
  const strides = n.ints('strides') ?? new Array<number>(rank).fill(1);
  const dilations = n.ints('dilations') ?? new Array<number>(rank).fill(1);
  const pads = n.ints('pads') ?? new Array<number>(2 * rank).fill(0);
  if (strides.length !== rank || dilations.length !== rank || pads.length !== 2 * rank) unknown('bad window attributes');
  if ([...k, ...strides, ...dilations].some((v) => v < 1) || pads.some((p) => p < 0)) unknown('bad window attributes');
  return { kernel: k, strides, dilations, pads, autoPad: n.str('auto_pad', 'NOTSET') };
}

/** Axes from an attribute (older opsets) or an input (newer ones); null when neither is given. */
function axesOf(n: OpNode, inputIndex: number, rank: number): number[] | null {
  const fromAttr = n.ints('axes');
  if (fromAttr) return fromAttr.map((a) => normAxis(a, rank));
  if (n.has(inputIndex)) return n.values(inputIndex).map((a) => normAxis(a, rank));
  return null;
}

function reduce(n: OpNode, axesInput: number): Result {
  const x = n.in(0);
  const rank = x.dims.length;
  const keep = n.int('keepdims', 1) !== 0;
  let axes = axesOf(n, axesInput, rank);
  if (axes === null || axes.length === 0) {
    if (n.int('noop_with_empty_axes', 0) !== 0) return { out: [{ dims: x.dims }], flops: 0 };
    axes = x.dims.map((_, i) => i);
  }
  const set = new Set(axes);
  const dims = keep ? x.dims.map((d, i) => (set.has(i) ? 1 : d)) : x.dims.filter((_, i) => !set.has(i));
  return { out: [{ dims }], flops: elementCount(x.dims) };
}

function trunc(a: number, b: number): number {
  if (b === 0) unknown('division by zero in shape arithmetic');
  return Math.trunc(a / b);
}

// ---------------------------------------------------------------------------
// per-op rules

type Rule = (n: OpNode) => Result;

const UNARY_1 = ['Relu', 'LeakyRelu', 'ThresholdedRelu', 'Abs', 'Neg', 'Floor', 'Ceil', 'Round', 'Sign',
  'Sqrt', 'Reciprocal', 'Not', 'IsNaN', 'IsInf', 'Shrink', 'Hardmax', 'BitwiseNot'];
const UNARY_4 = ['Exp', 'Log', 'Tanh', 'Sigmoid', 'Erf', 'Sin', 'Cos', 'Tan', 'Asin', 'Acos', 'Atan', 'Sinh', 'Cosh',
  'Asinh', 'Acosh', 'Atanh', 'Elu', 'Selu', 'Celu', 'Softplus', 'Softsign', 'Gelu', 'Mish', 'HardSigmoid', 'HardSwish'];
const BINARY_1 = ['Mod', 'Equal', 'Less', 'Greater', 'LessOrEqual', 'GreaterOrEqual', 'And', 'Or', 'Xor',
  'BitShift', 'BitwiseAnd', 'BitwiseOr', 'BitwiseXor'];
/** onnx.TensorProto.DataType codes of floating-point types. */
const FLOAT_CODES = new Set([1, 10, 11, 16]);

const RULES: Record<string, Rule> = {
  MatMul(n) {
    const a = n.in(0).dims;
    const b = n.in(1).dims;
    if (a.length === 0 || b.length === 0) unknown('MatMul of a scalar');
    const aa = a.length === 1 ? [1, a[0]!] : a;
    const bb = b.length === 1 ? [b[0]!, 1] : b;
    const [M, K] = aa.slice(-2) as [number, number];
    const [K2, N] = bb.slice(-2) as [number, number];
    if (K !== K2) unknown(`MatMul inner dims ${K} and ${K2} differ`);
    const batch = broadcast(aa.slice(0, -2), bb.slice(0, -2));
    const dims = [...batch, ...(a.length === 1 ? [] : [M]), ...(b.length === 1 ? [] : [N])];
    return { out: [{ dims }], flops: 2 * prod(batch) * M * K * N };
  },

  Gemm(n) {
    const a = n.in(0).dims;
    const b = n.in(1).dims;
    if (a.length !== 2 || b.length !== 2) unknown('Gemm needs 2-D operands');
    const transA = n.int('transA', 0) !== 0;
    const transB = n.int('transB', 0) !== 0;
    const M = transA ? a[1]! : a[0]!;
    const K = transA ? a[0]! : a[1]!;
    const K2 = transB ? b[1]! : b[0]!;
    const N = transB ? b[0]! : b[1]!;
    if (K !== K2) unknown(`Gemm inner dims ${K} and ${K2} differ`);
    return { out: [{ dims: [M, N] }], flops: 2 * M * K * N + (n.has(2) ? M * N : 0) };
  },

  Conv(n) {
    const x = n.in(0).dims;
    const w = n.in(1).dims;
    const rank = x.length - 2;
    if (rank < 1 || w.length !== x.length) unknown('Conv rank mismatch');
    const win = windowAttrs(n, rank, w.slice(2));
    const spatial = x.slice(2).map((len, i) =>
      convOut(len, win.kernel[i]!, win.strides[i]!, win.dilations[i]!, win.pads[i]!, win.pads[i + rank]!, win.autoPad));
    const N = x[0]!;
    const cout = w[0]!;
    const outCount = N * cout * prod(spatial);
    const flops = 2 * outCount * w[1]! * prod(win.kernel) + (n.has(2) ? outCount : 0);
    return { out: [{ dims: [N, cout, ...spatial] }], flops };
  },

  ConvTranspose(n) {
    const x = n.in(0).dims;
    const w = n.in(1).dims;
    const rank = x.length - 2;
    if (rank < 1 || w.length !== x.length) unknown('ConvTranspose rank mismatch');
    const group = n.int('group', 1);
    const win = windowAttrs(n, rank, w.slice(2));
    const outPad = n.ints('output_padding') ?? new Array<number>(rank).fill(0);
    const given = n.ints('output_shape');
    const spatial = given ? given.slice(-rank) : x.slice(2).map((len, i) => {
      if (win.autoPad === 'SAME_UPPER' || win.autoPad === 'SAME_LOWER') return len * win.strides[i]!;
      const span = (win.kernel[i]! - 1) * win.dilations[i]! + 1;
      const pads = win.autoPad === 'VALID' ? 0 : win.pads[i]! + win.pads[i + rank]!;
      return win.strides[i]! * (len - 1) + outPad[i]! + span - pads;
    });
    const N = x[0]!;
    const cout = w[1]! * group;
    const flops = 2 * N * x[1]! * prod(x.slice(2)) * w[1]! * prod(win.kernel)
      + (n.has(2) ? N * cout * prod(spatial) : 0);
    return { out: [{ dims: [N, cout, ...spatial] }], flops };
  },

  MaxPool: pool,
  AveragePool: pool,
  LpPool: pool,
  GlobalAveragePool: globalPool,
  GlobalMaxPool: globalPool,
  GlobalLpPool: globalPool,

  BatchNormalization: (n) => same(n, 2),
  InstanceNormalization: (n) => same(n, 5),
  LayerNormalization: (n) => same(n, 5),
  LRN: (n) => same(n, 2 * n.int('size', 1) + 4),
  Softmax: (n) => same(n, 5),
  LogSoftmax: (n) => same(n, 5),
  Clip: (n) => same(n, 1),
  Dropout: (n) => ({ out: [{ dims: n.in(0).dims, values: n.in(0).values }, { dims: n.in(0).dims }], flops: 0 }),

  Add: (n) => elementwise(n, 1, (a, b) => a! + b!),
  Mul: (n) => elementwise(n, 1, (a, b) => a! * b!),
  Div(n) {
    const float = n.inputs.some((v) => v?.float);
    return elementwise(n, 1, (a, b) => (float ? a! / b! : trunc(a!, b!)));
  },
  Pow: (n) => elementwise(n, 4),
  Sum: (n) => elementwise(n, 1, (...xs) => xs.reduce((a, b) => a + b, 0)),
  Max: (n) => elementwise(n, 1, (...xs) => Math.max(...xs)),
  Min: (n) => elementwise(n, 1, (...xs) => Math.min(...xs)),
  Mean(n) {
    const r = elementwise(n, 1);
    return { out: r.out, flops: elementCount(r.out[0]!.dims) * n.inputs.length };
  },

  Reshape(n) {
    const x = n.in(0);
    const shape = n.ints('shape') ?? n.values(1);
    const allowZero = n.int('allowzero', 0) !== 0;
    const dims = shape.map((s, i) => (s === 0 && !allowZero ? x.dims[i] ?? unknown('0 past input rank') : s));
    const infer = dims.indexOf(-1);
    if (infer >= 0) {
      const known = prod(dims.filter((_, i) => i !== infer));
      const total = elementCount(x.dims);
      if (known === 0 || total % known !== 0) unknown(`cannot reshape [${x.dims}] to [${shape}]`);
      dims[infer] = total / known;
    }
    if (dims.some((d) => d < 0) || elementCount(dims) !== elementCount(x.dims)) unknown(`cannot reshape [${x.dims}] to [${shape}]`);
    return { out: [{ dims, values: x.values, float: x.float }], flops: 0 };
  },

  Flatten(n) {
    const x = n.in(0);
    const rank = x.dims.length;
    const axis = n.int('axis', 1);
    const a = axis < 0 ? axis + rank : axis;
    if (a < 0 || a > rank) unknown('Flatten axis out of range');
    return { out: [{ dims: [prod(x.dims.slice(0, a)), prod(x.dims.slice(a))], values: x.values }], flops: 0 };
  },

  Transpose(n) {
    const x = n.in(0);
    const perm = n.ints('perm') ?? x.dims.map((_, i) => x.dims.length - 1 - i);
    if (perm.length !== x.dims.length) unknown('Transpose perm rank mismatch');
    return { out: [{ dims: perm.map((p) => x.dims[normAxis(p, x.dims.length)]!) }], flops: 0 };
  },

  Concat(n) {
    const ins = n.inputs.map((_, i) => n.in(i));
    const rank = ins[0]!.dims.length;
    const axis = normAxis(n.int('axis', 0), rank);
    const dims = [...ins[0]!.dims];
    dims[axis] = ins.reduce((s, v) => s + v.dims[axis]!, 0);
    const val: Val = { dims, float: ins.some((v) => v.float) };
    if (rank === 1 && ins.every((v) => v.values)) val.values = ins.flatMap((v) => v.values!);
    return { out: [val], flops: 0 };
  },

  Squeeze(n) {
    const x = n.in(0);
    const axes = axesOf(n, 1, x.dims.length);
    const drop = new Set(axes ?? x.dims.flatMap((d, i) => (d === 1 ? [i] : [])));
    return { out: [{ dims: x.dims.filter((_, i) => !drop.has(i)), values: x.values, float: x.float }], flops: 0 };
  },

  Unsqueeze(n) {
    const x = n.in(0);
    const raw = n.ints('axes') ?? n.values(1);
    const rank = x.dims.length + raw.length;
    const axes = new Set(raw.map((a) => normAxis(a, rank)));
    const dims: number[] = [];
    let src = 0;
    for (let i = 0; i < rank; i++) dims.push(axes.has(i) ? 1 : x.dims[src++]!);
    return { out: [{ dims, values: x.values, float: x.float }], flops: 0 };
  },

  Gather(n) {
    const data = n.in(0);
    const idx = n.in(1);
    const axis = normAxis(n.int('axis', 0), data.dims.length);
    const dims = [...data.dims.slice(0, axis), ...idx.dims, ...data.dims.slice(axis + 1)];
    const val: Val = { dims, float: data.float };
    if (data.values && idx.values && small(dims)) {
      const outer = prod(data.dims.slice(0, axis));
      const inner = prod(data.dims.slice(axis + 1));
      const len = data.dims[axis]!;
      const values: number[] = [];
      for (let o = 0; o < outer; o++) {
        for (let j of idx.values) {
          if (j < 0) j += len;
          if (j < 0 || j >= len) unknown('Gather index out of range');
          for (let k = 0; k < inner; k++) values.push(data.values[(o * len + j) * inner + k]!);
        }
      }
      val.values = values;
    }
    return { out: [val], flops: 0 };
  },

  Pad(n) {
    const x = n.in(0);
    const rank = x.dims.length;
    const pads = n.ints('pads') ?? n.ints('paddings') ?? n.values(1);
    const axes = n.has(3) ? n.values(3).map((a) => normAxis(a, rank)) : x.dims.map((_, i) => i);
    if (pads.length !== 2 * axes.length) unknown('Pad pads length mismatch');
    const dims = [...x.dims];
    axes.forEach((a, i) => { dims[a] = dims[a]! + pads[i]! + pads[i + axes.length]!; });
    if (dims.some((d) => d < 0)) unknown('negative padded size');
    return { out: [{ dims }], flops: 0 };
  },

  Shape(n) {
    const x = n.in(0);
    const rank = x.dims.length;
    const clampAxis = (a: number): number => Math.min(Math.max(a < 0 ? a + rank : a, 0), rank);
    const start = clampAxis(n.int('start', 0));
    const end = clampAxis(n.int('end', rank));
    const values = x.dims.slice(start, Math.max(start, end));
    return { out: [{ dims: [values.length], values }], flops: 0 };
  },

  Size: (n) => ({ out: [{ dims: [], values: [elementCount(n.in(0).dims)] }], flops: 0 }),

  Constant(n) {
    const a = n.attrs;
    if (a.get('value')?.t) return { out: [constantVal(a.get('value')!.t!)], flops: 0 };
    if (a.has('value_float')) return { out: [{ dims: [], values: [n.float('value_float', 0)], float: true }], flops: 0 };
    if (a.has('value_int')) return { out: [{ dims: [], values: [n.int('value_int', 0)] }], flops: 0 };
    const fs = a.get('value_floats')?.floats;
    if (fs) return { out: [{ dims: [fs.length], values: [...fs], float: true }], flops: 0 };
    const is = a.get('value_ints')?.ints;
    if (is) return { out: [{ dims: [is.length], values: is.map(num) }], flops: 0 };
    return unknown('Constant without a numeric value');
  },

  ConstantOfShape(n) {
    const dims = n.values(0);
    if (dims.some((d) => d < 0)) unknown('negative dim');
    const fill = n.attrs.get('value')?.t;
    const c = fill ? constantVal(fill) : { dims: [1], values: [0], float: true };
    const values = small(dims) && c.values ? new Array<number>(elementCount(dims)).fill(c.values[0] ?? 0) : undefined;
    return { out: [{ dims, values, float: c.float }], flops: 0 };
  },

  Slice(n) {
    const x = n.in(0);
    const rank = x.dims.length;
    const old = n.opset < 10;
    const starts = old ? n.ints('starts') ?? unknown('no starts') : n.values(1);
    const ends = old ? n.ints('ends') ?? unknown('no ends') : n.values(2);
    const axes = (old ? n.ints('axes') : n.has(3) ? n.values(3) : null) ?? starts.map((_, i) => i);
    const steps = !old && n.has(4) ? n.values(4) : starts.map(() => 1);
    const dims = [...x.dims];
    const ranges: Array<[number, number, number]> = x.dims.map((d) => [0, d, 1]);
    axes.forEach((rawAxis, i) => {
      const a = normAxis(rawAxis, rank);
      const d = x.dims[a]!;
      const step = steps[i]!;
      if (step === 0) unknown('Slice step 0');
      let s = starts[i]!;
      let e = ends[i]!;
      if (s < 0) s += d;
      if (e < 0) e += d;
      if (step > 0) {
        s = Math.min(Math.max(s, 0), d);
        e = Math.min(Math.max(e, 0), d);
        dims[a] = Math.max(0, Math.ceil((e - s) / step));
      } else {
        s = Math.min(Math.max(s, 0), d - 1);
        e = Math.min(Math.max(e, -1), d - 1);
        dims[a] = Math.max(0, Math.ceil((s - e) / -step));
      }
      ranges[a] = [s, e, step];
    });
    const val: Val = { dims, float: x.float };
    if (rank === 1 && x.values) {
      const [s, , step] = ranges[0]!;
      val.values = Array.from({ length: dims[0]! }, (_, i) => x.values![s + i * step]!);
    }
    return { out: [val], flops: 0 };
  },

  Split(n) {
    const x = n.in(0);
    const axis = normAxis(n.int('axis', 0), x.dims.length);
    const len = x.dims[axis]!;
    let parts = n.ints('split') ?? (n.has(1) ? n.values(1) : null);
    if (!parts) {
      const count = n.int('num_outputs', n.nOut);
      const chunk = Math.ceil(len / count);
      parts = Array.from({ length: count }, (_, i) => Math.max(0, Math.min(chunk, len - i * chunk)));
    }
    if (parts.reduce((a, b) => a + b, 0) !== len) unknown('Split sizes do not add up');
    return { out: parts.map((p) => ({ dims: x.dims.map((d, i) => (i === axis ? p : d)) })), flops: 0 };
  },

  Expand(n) {
    const x = n.in(0);
    const dims = broadcast(x.dims, n.values(1));
    const val: Val = { dims, float: x.float };
    if (x.values && small(dims)) {
      const src = broadcastSource(dims, x.dims);
      val.values = Array.from({ length: elementCount(dims) }, (_, i) => x.values![src(i)]!);
    }
    return { out: [val], flops: 0 };
  },

  Tile(n) {
    const x = n.in(0);
    const reps = n.values(1);
    if (reps.length !== x.dims.length) unknown('Tile repeats rank mismatch');
    return { out: [{ dims: x.dims.map((d, i) => d * reps[i]!) }], flops: 0 };
  },

  Range(n) {
    const [start, limit, delta] = [0, 1, 2].map((i) => n.values(i)[0]!) as [number, number, number];
    if (delta === 0) unknown('Range delta 0');
    const count = Math.max(0, Math.ceil((limit - start) / delta));
    const val: Val = { dims: [count], float: n.in(0).float };
    if (count <= MAX_VALUES) val.values = Array.from({ length: count }, (_, i) => start + i * delta);
    return { out: [val], flops: 0 };
  },

  ReduceSum: (n) => reduce(n, n.opset >= 13 ? 1 : -1),
  ReduceMean: (n) => reduce(n, n.opset >= 18 ? 1 : -1),
  ReduceMax: (n) => reduce(n, n.opset >= 18 ? 1 : -1),
  ReduceMin: (n) => reduce(n, n.opset >= 18 ? 1 : -1),
  ReduceProd: (n) => reduce(n, n.opset >= 18 ? 1 : -1),
  ReduceL1: (n) => reduce(n, n.opset >= 18 ? 1 : -1),
  ReduceL2: (n) => reduce(n, n.opset >= 18 ? 1 : -1),
  ReduceLogSum: (n) => reduce(n, n.opset >= 18 ? 1 : -1),
  ReduceLogSumExp: (n) => reduce(n, n.opset >= 18 ? 1 : -1),
  ReduceSumSquare: (n) => reduce(n, n.opset >= 18 ? 1 : -1),
  ArgMax: argReduce,
  ArgMin: argReduce,

  Resize: resize,
  Upsample: resize,

  DepthToSpace(n) {
    const [N, C, H, W] = n.in(0).dims as [number, number, number, number];
    const b = n.int('blocksize', 1);
    if (n.in(0).dims.length !== 4 || C % (b * b) !== 0) unknown('DepthToSpace shape');
    return { out: [{ dims: [N, C / (b * b), H * b, W * b] }], flops: 0 };
  },
  SpaceToDepth(n) {
    const [N, C, H, W] = n.in(0).dims as [number, number, number, number];
    const b = n.int('blocksize', 1);
    if (n.in(0).dims.length !== 4 || H % b !== 0 || W % b !== 0) unknown('SpaceToDepth shape');
    return { out: [{ dims: [N, C * b * b, H / b, W / b] }], flops: 0 };
  },
};

for (const op of UNARY_1) RULES[op] = (n) => same(n, 1);
for (const op of UNARY_4) RULES[op] = (n) => same(n, 4);
for (const op of BINARY_1) RULES[op] ??= (n) => elementwise(n, 1);
RULES['Sub'] = (n) => elementwise(n, 1, (a, b) => a! - b!);
RULES['Identity'] = (n) => ({ out: [n.in(0)], flops: 0 });
RULES['Cast'] = (n) => {
  const x = n.in(0);
  const float = FLOAT_CODES.has(n.int('to', 1));
  return { out: [{ dims: x.dims, float, values: float ? x.values : x.values?.map(Math.trunc) }], flops: 0 };
};
RULES['CastLike'] = (n) => ({ out: [{ dims: n.in(0).dims, float: n.in(1).float, values: n.in(0).values }], flops: 0 });
// PRelu's slope broadcasts into the input's shape (opset 6 even applies a [C] slope per channel), so the output is shaped like X
RULES['PRelu'] = (n) => same(n, 1);
// Where selects from three broadcast inputs; one comparison-and-pick per element
RULES['Where'] = (n) => {
  const r = elementwise(n, 1);
  return { out: r.out, flops: elementCount(r.out[0]!.dims) };
};

function pool(n: OpNode): Result {
  const x = n.in(0).dims;
  const rank = x.length - 2;
  if (rank < 1) unknown('pool needs N, C and spatial dims');
  const win = windowAttrs(n, rank, null);
  const ceil = n.int('ceil_mode', 0) !== 0;
  const spatial = x.slice(2).map((len, i) =>
    convOut(len, win.kernel[i]!, win.strides[i]!, win.dilations[i]!, win.pads[i]!, win.pads[i + rank]!, win.autoPad, ceil));
  const dims = [x[0]!, x[1]!, ...spatial];
  return { out: [{ dims }, { dims }], flops: elementCount(dims) * prod(win.kernel) };
}

function globalPool(n: OpNode): Result {
  const x = n.in(0).dims;
  if (x.length < 3) unknown('global pool needs spatial dims');
  return { out: [{ dims: [x[0]!, x[1]!, ...x.slice(2).map(() => 1)] }], flops: elementCount(x) };
}

function argReduce(n: OpNode): Result {
  const x = n.in(0);
  const axis = normAxis(n.int('axis', 0), x.dims.length);
  const keep = n.int('keepdims', 1) !== 0;
  const dims = keep ? x.dims.map((d, i) => (i === axis ? 1 : d)) : x.dims.filter((_, i) => i !== axis);
  return { out: [{ dims }], flops: elementCount(x.dims) };
}

function resize(n: OpNode): Result {
  const x = n.in(0).dims;
  let dims: number[];
  const sizesInput = n.op === 'Resize' && n.opset >= 11 ? 3 : -1;
  const scalesInput = n.op === 'Resize' ? (n.opset >= 11 ? 2 : 1) : 1;
  const sizes = sizesInput > 0 && n.has(sizesInput) ? n.values(sizesInput) : null;
  if (sizes && sizes.length > 0) {
    dims = sizes;
  } else {
    const attrScales = n.attrs.get('scales')?.floats;
    const scales = attrScales && attrScales.length > 0 ? [...attrScales] : n.values(scalesInput);
    if (scales.length !== x.length) unknown('scales rank mismatch');
    dims = x.map((d, i) => Math.floor(d * scales[i]!));
  }
  if (dims.length !== x.length) unknown('Resize rank mismatch');
  const perElement = n.str('mode', 'nearest') === 'nearest' ? 0 : 4;
  return { out: [{ dims }], flops: perElement * elementCount(dims) };
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
  for (const [name, v] of propagate(model, inputShapes).vals) out[name] = v.dims;
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
    const rule = RULES[op];
    let result: Result | null = null;
    if (rule) {
      // an empty input name is an omitted optional input; a missing named one is unknown
      const inputs = (node.input ?? []).map((name) => (name === '' ? undefined : vals.get(name) ?? null));
      if (!inputs.includes(null)) {
        const n = new OpNode(op, inputs as Array<Val | undefined>, outputs.length, opset, node.attribute ?? []);
        try {
          result = rule(n);
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
      if (name && v && v.dims.every((d) => Number.isSafeInteger(d) && d >= 0)) vals.set(name, v);
    });
    if (result.flops > 0) {
      flops += result.flops;
      byOp[op] = (byOp[op] ?? 0) + result.flops;
    }
  }
  return { flops, byOp, unknownOps: [...unknownOps].sort(), vals };
}
