/**
 * Graphs that onnxruntime-web's WebGPU kernels compute wrongly, found by
 * running the same models on its WebGPU and WASM backends (on an NVIDIA H200
 * and on a software adapter alike; ONNX's squeezenet was the first). A job
 * whose model has one must not be computed on WebGPU: replication would not
 * save it, since two WebGPU volunteers agree on the same wrong numbers.
 *
 * Which node is a hazard is each op's own rule in the registry
 * (`webgpuHazard` in ./ops/; today Softmax before opset 13); this walk only
 * gives each such node the shape of its input.
 */
import { inferShapes } from './flops.ts';
import { defaultOpset, int64ToNumber } from './model.ts';
import { opSpec } from './ops/index.ts';
import type { ModelProto } from './proto.ts';

/** Why this model, fed these input shapes, must not run on WebGPU; empty when nothing known is wrong. */
export function webgpuHazards(model: ModelProto, inputShapes: Record<string, number[]>): string[] {
  const opset = defaultOpset(model) ?? 1;
  const nodes = (model.graph?.node ?? []).filter((n) => opSpec(n.opType ?? '', n.domain ?? '')?.webgpuHazard);
  if (nodes.length === 0) return [];
  let shapes: Record<string, number[]> = {};
  try {
    shapes = inferShapes(model, inputShapes);
  } catch {
    // Shapes unknown: every such node is judged on its declared rank, or suspect below.
  }
  // A graph input's rank is declared even where its dimensions are symbolic.
  const declared = new Map((model.graph?.input ?? []).flatMap((v) => {
    const dims = v.type?.tensorType?.shape?.dim;
    return dims ? [[v.name ?? '', dims.length] as const] : [];
  }));
  const out: string[] = [];
  for (const n of nodes) {
    const input = n.input?.[0] ?? '';
    const dims = shapes[input];
    const why = opSpec(n.opType ?? '', n.domain ?? '')!.webgpuHazard!({
      opset,
      rank: dims?.length ?? declared.get(input),
      dims,
      int: (name) => {
        const a = n.attribute?.find((x) => x.name === name);
        return a && a.i != null ? int64ToNumber(a.i) : undefined;
      },
    });
    if (why) out.push(`${n.opType} ${JSON.stringify(n.name || n.output?.[0] || '')} (opset ${opset}) ${why}`);
  }
  return out;
}
