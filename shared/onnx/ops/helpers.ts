/** Shape helpers the op families share; symbolic dims pass through where the arithmetic allows. */
import {
  allStatic, broadcastShapes, type Dim, dimProduct, normAxis as normDimAxis, type Shape, shapeToString, windowOutput,
} from '../dims.ts';
import { fail, type OpNode, type Val } from './op-node.ts';
import type { Inferred } from './spec.ts';

/** Tensors up to this size are evaluated; shape tensors are far smaller. */
export const MAX_VALUES = 4096;

/** Product of static dims; NaN when one is symbolic (a FLOP count the caller cannot know). */
export function numel(dims: readonly Dim[]): number {
  let n = 1;
  for (const d of dims) n *= typeof d === 'number' ? d : NaN;
  return n;
}

export const small = (dims: readonly Dim[]): boolean => allStatic(dims) && numel(dims) <= MAX_VALUES;

/** An axis made non-negative and checked against the rank. */
export function normAxis(axis: number, rank: number): number {
  const a = normDimAxis(axis, rank);
  if (a < 0 || a >= rank) fail(`axis ${axis} out of range for rank ${rank}`);
  return a;
}

export function broadcast(...shapes: Shape[]): Shape {
  let out: Shape = [];
  for (const s of shapes) {
    const next = broadcastShapes(out, s);
    if (!next) {
      return shapes.length === 2
        ? fail(`cannot broadcast ${shapeToString(shapes[0]!)} with ${shapeToString(shapes[1]!)}`)
        : fail(`cannot broadcast ${shapes.map(shapeToString).join(' ')}`);
    }
    out = next;
  }
  return out;
}

/** Maps each flat index of `outDims` to the flat index of a tensor broadcast from `inDims` (static dims). */
export function broadcastSource(outDims: readonly number[], inDims: readonly number[]): (i: number) => number {
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

/** First output shaped like the first input. */
export function same(n: OpNode, perElement: number): Inferred {
  const x = n.in(0);
  return { out: [{ dims: x.dims }], flops: perElement * numel(x.dims) };
}

/** Elementwise op over broadcast inputs; evaluates small constant operands with `f`. */
export function elementwise(n: OpNode, perElement: number, f?: (...xs: number[]) => number): Inferred {
  const ins = n.inputs.filter((v): v is Val => v !== undefined);
  if (ins.length !== n.inputs.length || ins.length === 0) fail('input unknown');
  const dims = broadcast(...ins.map((v) => v.dims));
  const count = numel(dims);
  const val: Val = { dims, float: ins.some((v) => v.float) };
  if (f && small(dims) && ins.every((v) => v.values)) {
    const srcs = ins.map((v) => broadcastSource(dims as number[], v.dims as number[]));
    val.values = Array.from({ length: count }, (_, i) => f(...ins.map((v, k) => v.values![srcs[k]!(i)]!)));
  }
  return { out: [val], flops: perElement * count * Math.max(1, ins.length - 1) };
}

/** Axes from an attribute (older opsets) or an input (newer ones), non-negative; null when neither is given. */
export function axesOf(n: OpNode, inputIndex: number, rank: number): number[] | null {
  const fromAttr = n.ints('axes');
  if (fromAttr) return fromAttr.map((a) => normAxis(a, rank));
  if (inputIndex >= 0 && n.has(inputIndex)) return n.values(inputIndex).map((a) => normAxis(a, rank));
  return null;
}

export const prodDims = (dims: readonly Dim[]): Dim => dimProduct(dims);

/** A rank-checked static spatial part of a shape, for window ops. */
export function staticSpatial(x: Shape, what: string): number[] {
  const spatial = x.slice(2);
  if (!allStatic(spatial)) fail(`spatial dims must be static, input is ${shapeToString(x)}`);
  if (spatial.length < 1) fail(`${what} needs N, C and spatial dims`);
  return spatial as number[];
}

export interface Window { kernel: number[]; strides: number[]; dilations: number[]; pads: number[]; autoPad: string }

export function windowAttrs(n: OpNode, rank: number, kernel: number[] | null): Window {
  const k = n.ints('kernel_shape') ?? kernel ?? fail('no kernel_shape');
  if (k.length !== rank) fail(`kernel_shape lists ${k.length} sizes for ${rank} spatial dims`);
  const strides = n.ints('strides') ?? new Array<number>(rank).fill(1);
  const dilations = n.ints('dilations') ?? new Array<number>(rank).fill(1);
  const pads = n.ints('pads') ?? new Array<number>(2 * rank).fill(0);
  if (strides.length !== rank || dilations.length !== rank || pads.length !== 2 * rank) {
    fail(`strides/dilations/pads must describe ${rank} spatial dims`);
  }
  if ([...k, ...strides, ...dilations].some((v) => v < 1) || pads.some((p) => p < 0)) fail('bad window attributes');
  const autoPad = n.str('auto_pad', 'NOTSET');
  if (!['NOTSET', 'VALID', 'SAME_UPPER', 'SAME_LOWER'].includes(autoPad)) fail(`auto_pad ${autoPad} is not supported`);
  return { kernel: k, strides, dilations, pads, autoPad };
}

/**
 * The output size of a window op and its pads in explicit form ([heads..., tails...]),
 * auto_pad resolved as onnxruntime does: SAME splits the total padding, the
 * extra element at the tail (SAME_UPPER) or the head (SAME_LOWER).
 */
export function windowGeometry(spatial: number[], w: Window, ceil: boolean): { out: number[]; pads: number[] } {
  const rank = spatial.length;
  const out = spatial.map((len, i) => windowOutput(len, {
    kernel: w.kernel[i]!, stride: w.strides[i]!, dilation: w.dilations[i]!, padHead: w.pads[i]!, padTail: w.pads[i + rank]!,
    autoPad: w.autoPad, ceil,
  }) ?? fail(`window larger than the padded input (${len} + pads vs ${(w.kernel[i]! - 1) * w.dilations[i]! + 1})`));
  let pads = w.pads;
  if (w.autoPad === 'VALID') pads = new Array<number>(2 * rank).fill(0);
  else if (w.autoPad === 'SAME_UPPER' || w.autoPad === 'SAME_LOWER') {
    const total = out.map((o, i) => Math.max(0, (o - 1) * w.strides[i]! + (w.kernel[i]! - 1) * w.dilations[i]! + 1 - spatial[i]!));
    const head = total.map((t) => (w.autoPad === 'SAME_UPPER' ? Math.floor(t / 2) : Math.ceil(t / 2)));
    pads = [...head, ...total.map((t, i) => t - head[i]!)];
  }
  return { out, pads };
}

export function trunc(a: number, b: number): number {
  if (b === 0) fail('division by zero in shape arithmetic');
  return Math.trunc(a / b);
}
