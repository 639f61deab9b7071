/**
 * Graphs that onnxruntime-web's WebGPU kernels compute wrongly, found by
 * running the same models on its WebGPU and WASM backends (on an NVIDIA H200
 * and on a software adapter alike; ONNX's squeezenet was the first). A job
 * whose model has one must not be computed on WebGPU: replication would not
 * save it, since two WebGPU volunteers agree on the same wrong numbers.
 *
 * Softmax before opset 13 flattens its input to 2-D at `axis` (default 1)
 * and normalises each row over every dimension from `axis` on. onnxruntime-web
 * 1.30's WebGPU kernel normalises along `axis` alone (opset 13's meaning), so
 * it is wrong whenever a dimension after `axis` holds more than one element
 * in the shape the kernel receives; and the WebGPU backend's NHWC layout may
 * move a transpose past the Softmax, so that even [N,1000,1,1] from axis 1
 * after a pooling becomes [N,1,1,1000] (all outputs 1). Only an axis that is
 * the last one in the graph is safe. LogSoftmax and Hardmax have no WebGPU
 * kernel: they fall back to the CPU inside the session and come out right.
 */
import { inferShapes } from './flops.ts';
import { defaultOpset, int64ToNumber } from './model.ts';
import type { ModelProto, NodeProto } from './proto.ts';

const FLATTENING = new Set(['Softmax']);

function intAttr(node: NodeProto, name: string): number | undefined {
  const a = node.attribute?.find((x) => x.name === name);
  if (!a || a.i == null) return undefined;
  return int64ToNumber(a.i);
}

/** Why this model, fed these input shapes, must not run on WebGPU; empty when nothing known is wrong. */
export function webgpuHazards(model: ModelProto, inputShapes: Record<string, number[]>): string[] {
  const opset = defaultOpset(model) ?? 1;
  if (opset >= 13) return [];
  const nodes = (model.graph?.node ?? []).filter((n) => (!n.domain || n.domain === 'ai.onnx') && FLATTENING.has(n.opType ?? ''));
  if (nodes.length === 0) return [];
  let shapes: Record<string, number[]> = {};
  try {
    shapes = inferShapes(model, inputShapes);
  } catch {
    // Shapes unknown: every such node is suspect below.
  }
  // A graph input's rank is declared even where its dimensions are symbolic.
  const declared = new Map((model.graph?.input ?? []).flatMap((v) => {
    const dims = v.type?.tensorType?.shape?.dim;
    return dims ? [[v.name ?? '', dims.length] as const] : [];
  }));
  const out: string[] = [];
  for (const n of nodes) {
    const input = n.input?.[0] ?? '';
    const rank = shapes[input]?.length ?? declared.get(input);
    const axis = intAttr(n, 'axis') ?? 1;
    const what = `${n.opType} ${JSON.stringify(n.name || n.output?.[0] || '')} (opset ${opset})`;
    if (rank === undefined) {
      out.push(`${what} with an input of unknown rank: before opset 13 it normalises from axis ${axis} on, which WebGPU computes over the last axis only`);
      continue;
    }
    const at = axis < 0 ? axis + rank : axis;
    if (at !== rank - 1) {
      const dims = shapes[input] ? ` [${shapes[input].join(',')}]` : '';
      out.push(`${what} normalises a rank-${rank} input${dims} from axis ${axis} on; onnxruntime-web's WebGPU kernel normalises over the last axis only`);
    }
  }
  return out;
}
