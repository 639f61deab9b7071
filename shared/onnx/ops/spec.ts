/**
 * One entry of the op registry (shared/onnx/ops/index.ts): everything tabgrid
 * knows about an ONNX operator outside of its gradient. The FLOP estimate, the
 * model checks, the autodiff's shape inference and the WebGPU∩WASM allow-list
 * all read it, so teaching tabgrid an op is one entry here (plus a gradient
 * rule in server/training/autodiff when it should be trainable).
 */
import type { OpNode, Val } from './op-node.ts';

export interface Inferred {
  /** One value per output (undefined where unknown). */
  out: Array<Val | undefined>;
  /** FLOPs of one run (a multiply-add is 2); NaN where a dim it needs is symbolic. */
  flops: number;
  /**
   * The attributes the op reads, in explicit form (defaults filled in, axes
   * non-negative, auto_pad resolved into pads): these replace the node's
   * attributes of the same name, and `drop` lists the forms they stand for.
   * Only integer attributes need resolving.
   */
  attrs?: Record<string, number | number[]>;
  drop?: string[];
}

/** Opsets [from, to] inclusive. */
export type OpsetRange = readonly [from: number, to: number];
export const OPEN = Number.POSITIVE_INFINITY;

/** What the WebGPU hazard rule of an op sees of one node. */
export interface HazardNode {
  opset: number;
  /** The node's input 0: its rank when known (declared or inferred), its dims when inferred. */
  rank: number | undefined;
  dims: number[] | undefined;
  int(name: string): number | undefined;
}

export interface OpSpec {
  /** Output shapes (and small constant contents), FLOPs and explicit attributes; throws ShapeError. */
  infer(n: OpNode): Inferred;
  /**
   * Opsets at which onnxruntime-web runs the op on BOTH its WebGPU and WASM
   * backends (absent: not on both). See webgpu-wasm.ts for the source.
   */
  webgpuWasm?: readonly OpsetRange[];
  /** A variant of the op that WebGPU has no kernel for, despite the op being listed. */
  webgpuVariant?(n: { outputs: readonly string[] }): string | null;
  /** Why WebGPU computes this node wrongly (see shared/onnx/webgpu-hazards.ts); null when it computes it right. */
  webgpuHazard?(n: HazardNode): string | null;
}
