/**
 * Static shape inference over the normalised forward graph, with the batch
 * dimension kept symbolic. Gradient rules need ranks everywhere and static
 * sizes in a few places (convolution/pooling spatial dims, broadcast axes);
 * this pass also rewrites conv/pool attributes into one explicit form
 * (pads/strides/dilations/kernel_shape, no auto_pad).
 */
import { UnsupportedOpError, TrainStepError } from './errors.ts';
import type { IrNode } from './ir.ts';
import { attrInt, attrInts, attrString } from './ir.ts';
import { attr } from './proto.ts';
import type { ForwardGraph } from './parse-forward.ts';
import {
  allStatic, broadcastShapes, dimDivide, dimProduct, dimSum, isStatic, normAxis, shapeToString, windowOutput,
} from '../../../shared/onnx/dims.ts';
import type { Dim, Shape } from '../../../shared/onnx/dims.ts';

export type ShapeMap = Map<string, Shape>;

export { normAxis };

export function inferShapes(g: ForwardGraph): ShapeMap {
  const shapes: ShapeMap = new Map();
  shapes.set(g.data.name, g.data.dims);
  for (const p of g.params) shapes.set(p.name, p.dims);
  for (const [name, t] of g.constants) shapes.set(name, t.dims);
  let fresh = 0;
  const unknown = (hint: string): Dim => `${hint}${++fresh}`;

  for (const node of g.nodes) {
    const index = g.nodeIndex.get(node) ?? -1;
    const unsupported = (detail: string): never => { throw new UnsupportedOpError(node.op, node.name, index, detail); };
    const bad = (detail: string): never => {
      throw new TrainStepError(`node "${node.name}" (${node.op}, index ${index}): ${detail}`);
    };
    const inShape = (i: number): Shape => {
      const name = node.inputs[i];
      if (!name) return bad(`input ${i} is missing`);
      const s = shapes.get(name!);
      if (!s) return bad(`input ${name} is produced by nothing before this node`);
      return s!;
    };
    const set = (s: Shape): void => { shapes.set(node.outputs[0]!, s); };

    switch (node.op) {
      case 'Add': case 'Sub': case 'Mul': case 'Div': {
        const s = broadcastShapes(inShape(0), inShape(1));
        if (!s) bad(`cannot broadcast ${shapeToString(inShape(0))} with ${shapeToString(inShape(1))}`);
        set(s!);
        break;
      }
      case 'Relu': case 'LeakyRelu': case 'Sigmoid': case 'Tanh':
        set(inShape(0));
        break;
      case 'Softmax': case 'LogSoftmax': {
        const x = inShape(0);
        const axis = normAxis(attrInt(node, 'axis', -1), x.length);
        if (axis < 0 || axis >= x.length) bad(`axis out of range for rank ${x.length}`);
        if (attrInt(node, 'legacyCoerce2d', 0) === 1 && axis !== x.length - 1) {
          unsupported(`before opset 13 ${node.op} flattens to 2-D at axis ${axis}; only the last axis is supported`);
        }
        node.attrs = { axis: attr.int(axis) };
        set(x);
        break;
      }
      case 'MatMul': {
        const a = inShape(0);
        const b = inShape(1);
        if (a.length === 0 || b.length === 0) bad('MatMul operands must have rank >= 1');
        const a2 = a.length === 1 ? [1, a[0]!] : a;
        const b2 = b.length === 1 ? [b[0]!, 1] : b;
        const k1 = a2[a2.length - 1]!;
        const k2 = b2[b2.length - 2]!;
        if (isStatic(k1) && isStatic(k2) && k1 !== k2) bad(`inner dimensions differ: ${shapeToString(a)} x ${shapeToString(b)}`);
        const batch = broadcastShapes(a2.slice(0, -2), b2.slice(0, -2));
        if (!batch) bad(`cannot broadcast batch dims of ${shapeToString(a)} and ${shapeToString(b)}`);
        const out: Shape = [...batch!];
        if (a.length > 1) out.push(a2[a2.length - 2]!);
        if (b.length > 1) out.push(b2[b2.length - 1]!);
        set(out);
        break;
      }
      case 'Gemm': {
        const a = inShape(0);
        const b = inShape(1);
        if (a.length !== 2 || b.length !== 2) bad('Gemm operands must be 2-D');
        const m = attrInt(node, 'transA', 0) ? a[1]! : a[0]!;
        const n = attrInt(node, 'transB', 0) ? b[0]! : b[1]!;
        const out: Shape = [m, n];
        if (node.inputs[2]) {
          const c = inShape(2);
          const bc = broadcastShapes(out, c);
          if (!bc || bc.length !== 2 || bc[0] !== m || bc[1] !== n) bad(`C ${shapeToString(c)} does not broadcast to ${shapeToString(out)}`);
        }
        set(out);
        break;
      }
      case 'Reshape': {
        const x = inShape(0);
        const spec = attrInts(node, 'shapeValues')!;
        const allowzero = attrInt(node, 'allowzero', 0);
        const out: Shape = spec.map((v, i) => (v === 0 && !allowzero ? (x[i] ?? bad('shape 0 copies a missing dim')) : v));
        const neg = out.findIndex((d) => d === -1);
        if (neg >= 0) {
          const known = out.filter((_, i) => i !== neg);
          const d = dimDivide(dimProduct(x), dimProduct(known));
          out[neg] = d ?? unknown(`${node.outputs[0]}_d`);
        }
        set(out);
        break;
      }
      case 'Flatten': {
        const x = inShape(0);
        const axis = normAxis(attrInt(node, 'axis', 1), x.length);
        node.attrs = { axis: attr.int(axis) };
        set([dimProduct(x.slice(0, axis)), dimProduct(x.slice(axis))]);
        break;
      }
      case 'Transpose': {
        const x = inShape(0);
        const perm = attrInts(node, 'perm') ?? x.map((_, i) => x.length - 1 - i);
        if (perm.length !== x.length) bad(`perm ${perm} does not match rank ${x.length}`);
        node.attrs = { perm: attr.ints(perm) };
        set(perm.map((p) => x[p]!));
        break;
      }
      case 'Concat': {
        const parts = node.inputs.map((_, i) => inShape(i));
        const rank = parts[0]!.length;
        const axis = normAxis(attrInt(node, 'axis', 0), rank);
        node.attrs = { axis: attr.int(axis) };
        const out = [...parts[0]!];
        out[axis] = dimSum(parts.map((p) => p[axis]!)) ?? unknown(`${node.outputs[0]}_d`);
        set(out);
        break;
      }
      case 'ReduceSum': case 'ReduceMean': {
        const x = inShape(0);
        const given = attrInts(node, 'axes');
        const axes = (given ?? x.map((_, i) => i)).map((a) => normAxis(a, x.length)).sort((p, q) => p - q);
        const keep = attrInt(node, 'keepdims', 1);
        node.attrs = { axes: attr.ints(axes), keepdims: attr.int(keep) };
        set(keep ? x.map((d, i) => (axes.includes(i) ? 1 : d)) : x.filter((_, i) => !axes.includes(i)));
        break;
      }
      case 'Conv': {
        const x = inShape(0);
        const w = inShape(1);
        if (x.length !== 4 || w.length !== 4) unsupported(`only 2-D convolution (4-D input NCHW) is supported, input is ${shapeToString(x)}`);
        if (!allStatic(w)) bad('the weight shape must be static');
        const spatial = x.slice(2);
        if (!allStatic(spatial)) bad(`spatial dims must be static, input is ${shapeToString(x)}`);
        const kernel = (w as number[]).slice(2);
        const geo = normaliseWindow(node, spatial as number[], kernel, bad, false);
        if (node.inputs[2]) {
          const bs = inShape(2);
          if (bs.length !== 1 || bs[0] !== w[0]) bad(`bias ${shapeToString(bs)} should be [${w[0]}]`);
        }
        if (isStatic(x[1]!) && x[1] !== w[1]) bad(`input has ${x[1]} channels, weight expects ${w[1]}`);
        set([x[0]!, w[0]!, ...geo.out]);
        break;
      }
      case 'MaxPool': case 'AveragePool': {
        const x = inShape(0);
        if (x.length !== 4) unsupported(`only 2-D pooling (4-D input NCHW) is supported, input is ${shapeToString(x)}`);
        const spatial = x.slice(2);
        if (!allStatic(spatial)) bad(`spatial dims must be static, input is ${shapeToString(x)}`);
        const kernel = attrInts(node, 'kernel_shape');
        if (!kernel || kernel.length !== 2) bad('kernel_shape must list 2 sizes');
        const geo = normaliseWindow(node, spatial as number[], kernel!, bad, true);
        set([x[0]!, x[1]!, ...geo.out]);
        break;
      }
      case 'GlobalAveragePool': {
        const x = inShape(0);
        if (x.length < 3) bad('GlobalAveragePool needs rank >= 3');
        set([x[0]!, x[1]!, ...x.slice(2).map(() => 1)]);
        break;
      }
      default:
        unsupported('no shape rule');
    }
  }
  return shapes;
}

export interface WindowGeometry {
  kernel: number[];
  strides: number[];
  dilations: number[];
  /** [top, left, bottom, right] */
  pads: number[];
  ceil: boolean;
  out: number[];
}

/** Resolves auto_pad/ceil_mode into explicit pads and the output size; rewrites the node's attributes to that form. */
function normaliseWindow(
  node: IrNode, spatial: number[], kernel: number[], bad: (d: string) => never, isPool: boolean,
): WindowGeometry {
  const strides = attrInts(node, 'strides') ?? [1, 1];
  const dilations = attrInts(node, 'dilations') ?? [1, 1];
  let pads = attrInts(node, 'pads') ?? [0, 0, 0, 0];
  const autoPad = attrString(node, 'auto_pad', 'NOTSET');
  const ceil = isPool && attrInt(node, 'ceil_mode', 0) === 1;
  if (strides.length !== 2 || dilations.length !== 2 || pads.length !== 4) bad('strides/dilations/pads must describe 2 spatial dims');
  const eff = kernel.map((k, i) => (k - 1) * dilations[i]! + 1);
  let out: number[];
  if (autoPad === 'SAME_UPPER' || autoPad === 'SAME_LOWER') {
    out = spatial.map((s, i) => Math.ceil(s / strides[i]!));
    const total = out.map((o, i) => Math.max(0, (o - 1) * strides[i]! + eff[i]! - spatial[i]!));
    const head = total.map((t) => (autoPad === 'SAME_UPPER' ? Math.floor(t / 2) : Math.ceil(t / 2)));
    pads = [head[0]!, head[1]!, total[0]! - head[0]!, total[1]! - head[1]!];
  } else {
    if (autoPad === 'VALID') pads = [0, 0, 0, 0];
    else if (autoPad !== 'NOTSET') bad(`auto_pad ${autoPad} is not supported`);
    out = spatial.map((s, i) => windowOutput(s, {
      kernel: kernel[i]!, stride: strides[i]!, dilation: dilations[i]!, padHead: pads[i]!, padTail: pads[i + 2]!, autoPad: 'NOTSET', ceil,
    }) ?? bad(`window larger than the padded input (${s} + pads vs ${eff[i]})`));
  }
  const keep: Record<string, ReturnType<typeof attr.int>> = {};
  if (node.op === 'AveragePool') keep.count_include_pad = attr.int(attrInt(node, 'count_include_pad', 0));
  if (node.op === 'MaxPool' || node.op === 'AveragePool') {
    if (ceil) keep.ceil_mode = attr.int(1);
  }
  node.attrs = {
    ...keep,
    kernel_shape: attr.ints(kernel),
    strides: attr.ints(strides),
    pads: attr.ints(pads),
    ...(node.op === 'AveragePool' ? {} : { dilations: attr.ints(dilations) }),
  };
  return { kernel, strides, dilations, pads, ceil, out };
}

/** Reads back the explicit window attributes written by normaliseWindow. */
export function windowOf(node: IrNode): Omit<WindowGeometry, 'out'> {
  return {
    kernel: attrInts(node, 'kernel_shape')!,
    strides: attrInts(node, 'strides')!,
    dilations: attrInts(node, 'dilations') ?? [1, 1],
    pads: attrInts(node, 'pads')!,
    ceil: attrInt(node, 'ceil_mode', 0) === 1,
  };
}
