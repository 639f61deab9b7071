/**
 * What a gradient rule sees, and the small graph helpers rules share
 * (shape tensors, counts, un-broadcasting). Helpers prefer static constants
 * and fall back to in-graph Shape ops only for symbolic (batch) dims.
 */
import type { GraphBuilder } from './builder.ts';
import type { IrNode } from './ir.ts';
import { attr } from './proto.ts';
import { allStatic, dimProduct, isStatic } from '../../../shared/onnx/dims.ts';
import type { Shape } from '../../../shared/onnx/dims.ts';

export interface GradContext {
  b: GraphBuilder;
  node: IrNode;
  /** Gradient of the node's first output. */
  dY: string;
  /** Gradient of each output, null for one the loss does not reach (multi-output ops such as Split). */
  dYs: (string | null)[];
  /** Values of a constant input (initializer or Constant node), for rules that need them (Slice bounds). */
  constant(name: string): number[] | undefined;
  /** Forward shape of a tensor. */
  shape(name: string): Shape;
  /** Whether input i needs a gradient. */
  needs(i: number): boolean;
  ops: GradOps;
}

/** Returns the gradient for each input (null where none is needed). */
export type GradRule = (ctx: GradContext) => (string | null)[];

export class GradOps {
  private readonly shapeCache = new Map<string, string>();

  constructor(private readonly b: GraphBuilder, private readonly shapeOfName: (n: string) => Shape) {}

  /** An int64 shape tensor for `x`: a constant when its shape is static. */
  shapeTensor(x: string, shape = this.shapeOfName(x)): string {
    if (allStatic(shape)) return this.b.i64(shape);
    let s = this.shapeCache.get(x);
    if (!s) {
      s = this.b.op('Shape', [x]);
      this.shapeCache.set(x, s);
    }
    return s;
  }

  reduceSum(x: string, axes: number[], keepdims: boolean): string {
    return this.b.op('ReduceSum', [x, this.b.i64(axes)], { keepdims: attr.int(keepdims ? 1 : 0) });
  }

  unsqueeze(x: string, axes: number[]): string {
    return this.b.op('Unsqueeze', [x, this.b.i64(axes)]);
  }

  reshape(x: string, shapeTensor: string): string {
    return this.b.op('Reshape', [x, shapeTensor]);
  }

  transpose(x: string, perm: number[]): string {
    return this.b.op('Transpose', [x], { perm: attr.ints(perm) });
  }

  /**
   * Number of elements of `x` over `axes`, as a float32 tensor broadcastable
   * against x reduced with keepdims (a scalar constant when static). Symbolic
   * counts are summed from ones, which keeps the computation in float32 ops
   * that WebGPU runs rather than int64 shape arithmetic.
   */
  count(x: string, axes: number[]): string {
    const shape = this.shapeOfName(x);
    const dims = axes.map((a) => shape[a]!);
    if (dims.every(isStatic)) return this.b.f32(Number(dimProduct(dims)));
    const ones = this.b.op('Expand', [this.b.f32(1), this.shapeTensor(x)]);
    return this.reduceSum(ones, axes, true);
  }

  /**
   * Gradient of a broadcast operand: sums `g` (shaped like the op output)
   * over the axes along which `target` was broadcast, then restores target's shape.
   */
  unbroadcast(g: string, gShape: Shape, target: string, targetShape: Shape): string {
    const lead = gShape.length - targetShape.length;
    const axes: number[] = [];
    for (let i = 0; i < lead; i++) axes.push(i);
    targetShape.forEach((d, j) => {
      if (d === 1 && gShape[lead + j] !== 1) axes.push(lead + j);
    });
    if (axes.length === 0) return g;
    const summed = this.reduceSum(g, axes, true);
    if (lead === 0) return summed;
    return this.reshape(summed, this.shapeTensor(target, targetShape));
  }

  /** Sums gradient contributions. */
  sum(parts: string[]): string {
    let acc = parts[0]!;
    for (const p of parts.slice(1)) acc = this.b.op('Add', [acc, p]);
    return acc;
  }
}
