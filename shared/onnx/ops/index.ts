/**
 * The op registry: one entry per ONNX operator tabgrid can follow, grouped by
 * family. Each entry says how the op shapes its outputs, what it costs in
 * FLOPs, which explicit attributes it reads and where onnxruntime-web runs it
 * (spec.ts). Read by the FLOP estimate (flops.ts), the WebGPU hazard check
 * (webgpu-hazards.ts), the autodiff's shape inference and its WebGPU∩WASM
 * allow-list (server/training/autodiff); the autodiff adds gradient rules
 * keyed by the same names, and test/unit/shared/op-registry.test.ts checks
 * that no table names an op missing here.
 */
import { CONV_POOL_OPS } from './conv-pool.ts';
import { ELEMENTWISE_OPS } from './elementwise.ts';
import { LINEAR_OPS } from './linear.ts';
import { NORMALIZATION_OPS } from './normalization.ts';
import { REDUCE_OPS } from './reduce.ts';
import { SHAPE_OPS } from './shape.ts';
import type { OpSpec, OpsetRange } from './spec.ts';
import { VALUE_OPS } from './values.ts';

function merge(...families: Array<Record<string, OpSpec>>): Readonly<Record<string, OpSpec>> {
  const out: Record<string, OpSpec> = {};
  for (const f of families) {
    for (const [op, spec] of Object.entries(f)) {
      if (op in out) throw new Error(`op ${op} is registered twice`);
      out[op] = spec;
    }
  }
  return Object.freeze(out);
}

/** Ops of the default ai.onnx domain, by op type. */
export const OPS = merge(ELEMENTWISE_OPS, LINEAR_OPS, CONV_POOL_OPS, NORMALIZATION_OPS, REDUCE_OPS, SHAPE_OPS, VALUE_OPS);

export function opSpec(op: string, domain = ''): OpSpec | undefined {
  if (domain !== '' && domain !== 'ai.onnx') return undefined;
  return Object.hasOwn(OPS, op) ? OPS[op] : undefined;
}

/** The ops onnxruntime-web runs on both WebGPU and WASM, with their opset ranges. */
export const WEBGPU_WASM_OPS: Readonly<Record<string, readonly OpsetRange[]>> = Object.freeze(Object.fromEntries(
  Object.entries(OPS).flatMap(([op, s]) => (s.webgpuWasm ? [[op, s.webgpuWasm]] : [])),
));

/** Why a node may not run on both WebGPU and WASM at `opset`, or null when it may. */
export function webgpuWasmProblem<N extends { op: string; outputs: readonly string[] }>(n: N, opset: number, domain = ''): string | null {
  if (domain !== '' && domain !== 'ai.onnx') return `${domain}::${n.op} is outside the ai.onnx domain`;
  const spec = opSpec(n.op);
  const ranges = spec?.webgpuWasm;
  if (!ranges) return `${n.op} is not implemented on both the WebGPU and WASM backends`;
  if (!ranges.some(([a, b]) => opset >= a && opset <= b)) return `${n.op} has no WebGPU+WASM kernel at opset ${opset}`;
  return spec.webgpuVariant?.(n) ?? null;
}

export { OpNode, ShapeError, type AttrReader, type Val } from './op-node.ts';
export type { HazardNode, Inferred, OpSpec, OpsetRange } from './spec.ts';
