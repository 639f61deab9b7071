/** Normalisations and the softmax family. */
import { normAxis, numel, same } from './helpers.ts';
import type { OpNode } from './op-node.ts';
import type { HazardNode, Inferred, OpSpec } from './spec.ts';
import { from } from './webgpu-wasm.ts';

/** Softmax-like ops: 5 FLOPs per element (max, subtract, exp, sum, divide); the axis made explicit. */
function softmaxLike(n: OpNode): Inferred {
  const x = n.in(0);
  const axis = normAxis(n.int('axis', n.opset >= 13 ? -1 : 1), x.dims.length);
  return { ...same(n, 5), attrs: { axis } };
}

/**
 * Softmax before opset 13 flattens its input to 2-D at `axis` (default 1) and
 * normalises each row over every dimension from `axis` on. onnxruntime-web
 * 1.30's WebGPU kernel normalises along `axis` alone (opset 13's meaning), so
 * it is wrong whenever a dimension after `axis` holds more than one element
 * in the shape the kernel receives; and the WebGPU backend's NHWC layout may
 * move a transpose past the Softmax, so that even [N,1000,1,1] from axis 1
 * after a pooling becomes [N,1,1,1000] (all outputs 1). Only an axis that is
 * the last one in the graph is safe. LogSoftmax and Hardmax have no WebGPU
 * kernel: they fall back to the CPU inside the session and come out right.
 */
function flatteningSoftmaxHazard(h: HazardNode): string | null {
  if (h.opset >= 13) return null;
  const axis = h.int('axis') ?? 1;
  if (h.rank === undefined) {
    return `with an input of unknown rank: before opset 13 it normalises from axis ${axis} on, which WebGPU computes over the last axis only`;
  }
  const at = axis < 0 ? axis + h.rank : axis;
  if (at === h.rank - 1) return null;
  const dims = h.dims ? ` [${h.dims.join(',')}]` : '';
  return `normalises a rank-${h.rank} input${dims} from axis ${axis} on; onnxruntime-web's WebGPU kernel normalises over the last axis only`;
}

export const NORMALIZATION_OPS: Record<string, OpSpec> = {
  Softmax: { infer: softmaxLike, webgpuWasm: from(1), webgpuHazard: flatteningSoftmaxHazard },
  LogSoftmax: { infer: softmaxLike },
  // 2 FLOPs per element: a scale and a shift once folded
  BatchNormalization: { infer: (n) => same(n, 2) },
  InstanceNormalization: { infer: (n) => same(n, 5) },
  // Y, and the Mean and InvStdDev it may also output (shaped like X with the normalised axes kept as 1)
  LayerNormalization: {
    infer(n) {
      const x = n.in(0);
      const axis = normAxis(n.int('axis', -1), x.dims.length);
      const stats = { dims: x.dims.map((d, i) => (i < axis ? d : 1)) };
      return { out: [{ dims: x.dims }, stats, stats], flops: 5 * numel(x.dims), attrs: { axis } };
    },
  },
  LRN: { infer: (n) => same(n, 2 * n.int('size', 1) + 4) },
};
