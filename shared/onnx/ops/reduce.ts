/** Reductions: Reduce* (axes from an attribute or, in newer opsets, an input) and ArgMax/ArgMin. FLOPs: input elements. */
import { axesOf, normAxis, numel } from './helpers.ts';
import type { OpNode } from './op-node.ts';
import type { Inferred, OpSpec } from './spec.ts';
import { from } from './webgpu-wasm.ts';

/** `axesFrom`: the opset from which the axes are an input (index 1) rather than an attribute. */
function reduce(axesFrom: number): (n: OpNode) => Inferred {
  return (n) => {
    const x = n.in(0);
    const rank = x.dims.length;
    const keep = n.int('keepdims', 1) !== 0;
    let axes = axesOf(n, n.opset >= axesFrom ? 1 : -1, rank);
    if (axes === null || axes.length === 0) {
      if (n.int('noop_with_empty_axes', 0) !== 0) return { out: [{ dims: x.dims }], flops: 0 };
      axes = x.dims.map((_, i) => i);
    }
    axes = [...new Set(axes)].sort((p, q) => p - q);
    const set = new Set(axes);
    const dims = keep ? x.dims.map((d, i) => (set.has(i) ? 1 : d)) : x.dims.filter((_, i) => !set.has(i));
    return { out: [{ dims }], flops: numel(x.dims), attrs: { axes, keepdims: keep ? 1 : 0 } };
  };
}

function argReduce(n: OpNode): Inferred {
  const x = n.in(0);
  const axis = normAxis(n.int('axis', 0), x.dims.length);
  const keep = n.int('keepdims', 1) !== 0;
  const dims = keep ? x.dims.map((d, i) => (i === axis ? 1 : d)) : x.dims.filter((_, i) => i !== axis);
  return { out: [{ dims }], flops: numel(x.dims) };
}

export const REDUCE_OPS: Record<string, OpSpec> = {
  ReduceSum: { infer: reduce(13), webgpuWasm: from(1) },
  ReduceMean: { infer: reduce(18), webgpuWasm: from(1) },
  ReduceMax: { infer: reduce(18), webgpuWasm: from(1) },
  ReduceMin: { infer: reduce(18), webgpuWasm: from(1) },
  ReduceProd: { infer: reduce(18), webgpuWasm: from(1) },
  ReduceL1: { infer: reduce(18) },
  ReduceL2: { infer: reduce(18) },
  ReduceLogSum: { infer: reduce(18) },
  ReduceLogSumExp: { infer: reduce(18), webgpuWasm: from(1) },
  ReduceSumSquare: { infer: reduce(18), webgpuWasm: from(1) },
  ArgMax: { infer: argReduce },
  ArgMin: { infer: argReduce },
};
