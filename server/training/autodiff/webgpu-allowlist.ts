/**
 * Operators a generated train-step graph may contain: those onnxruntime-web
 * runs on BOTH its WebGPU and WASM backends, with the opset versions both
 * register kernels for.
 *
 * Source (checked for onnxruntime-web 1.30): the kernel registries of
 *  - the JSEP WebGPU backend, `onnxruntime/core/providers/js/js_execution_provider.cc`
 *    (used by the default `onnxruntime-web` entry point; docs: js/web/docs/webgpu-operators.md),
 *  - the native WebGPU EP, `onnxruntime/core/providers/webgpu/webgpu_execution_provider.cc`
 *    (used by `onnxruntime-web/webgpu` and `/jspi`),
 * intersected; the WASM backend is ORT's full CPU EP, which implements every
 * standard ai.onnx operator. Training-domain ops (com.microsoft::*Grad),
 * LogSoftmax, Identity, Dropout, OneHot, ScatterElements, NonZero and Size have no
 * WebGPU kernel in one or both registries and are therefore absent.
 *
 * Beyond op type and opset, some variants are excluded (see VARIANT_RULES):
 * MaxPool with its Indices output has no WebGPU kernel.
 */
import type { IrNode } from './ir.ts';

/** The opset every generated train-step graph is stamped with. */
export const TRAIN_GRAPH_OPSET = 17;

type Range = readonly [from: number, to: number];
const OPEN = Number.POSITIVE_INFINITY;

export const WEBGPU_WASM_OPS: Readonly<Record<string, readonly Range[]>> = {
  // element-wise unary
  Abs: [[6, OPEN]], Neg: [[6, OPEN]], Floor: [[6, OPEN]], Ceil: [[6, OPEN]], Reciprocal: [[6, OPEN]],
  Sqrt: [[6, OPEN]], Exp: [[6, OPEN]], Log: [[6, OPEN]], Erf: [[9, OPEN]], Sigmoid: [[6, OPEN]],
  Tanh: [[6, OPEN]], Sin: [[7, OPEN]], Cos: [[7, OPEN]], Not: [[1, OPEN]], Cast: [[6, OPEN]],
  // activations (Clip: the native EP registers only 11+)
  Relu: [[6, OPEN]], LeakyRelu: [[6, OPEN]], Elu: [[6, OPEN]], Clip: [[11, OPEN]],
  // element-wise binary / comparison / select
  Add: [[7, OPEN]], Sub: [[7, OPEN]], Mul: [[7, OPEN]], Div: [[7, OPEN]], Pow: [[7, OPEN]],
  Equal: [[7, OPEN]], Greater: [[7, OPEN]], Less: [[7, OPEN]],
  GreaterOrEqual: [[12, OPEN]], LessOrEqual: [[12, OPEN]], Where: [[9, OPEN]],
  // reductions
  ReduceSum: [[1, OPEN]], ReduceMean: [[1, OPEN]], ReduceMax: [[1, OPEN]], ReduceMin: [[1, OPEN]],
  ReduceProd: [[1, OPEN]], ReduceSumSquare: [[1, OPEN]], ReduceLogSumExp: [[1, OPEN]],
  // linear algebra, convolution, pooling
  MatMul: [[1, OPEN]], Gemm: [[7, OPEN]], Conv: [[1, OPEN]], ConvTranspose: [[1, OPEN]],
  MaxPool: [[1, OPEN]], AveragePool: [[7, OPEN]], GlobalAveragePool: [[1, OPEN]], GlobalMaxPool: [[1, OPEN]],
  Softmax: [[1, OPEN]],
  // shape manipulation (Transpose: the native EP stops at 20)
  Shape: [[1, OPEN]], Reshape: [[5, OPEN]], Flatten: [[1, OPEN]], Squeeze: [[1, OPEN]], Unsqueeze: [[1, OPEN]],
  Transpose: [[1, 20]], Concat: [[1, OPEN]], Split: [[1, OPEN]], Slice: [[1, OPEN]], Expand: [[8, OPEN]],
  Tile: [[6, OPEN]], Gather: [[1, OPEN]], GatherElements: [[11, OPEN]], Pad: [[2, OPEN]],
};

/** Variant restrictions beyond op type and opset; return a reason when the node is excluded. */
const VARIANT_RULES: Readonly<Record<string, (n: IrNode) => string | null>> = {
  MaxPool: (n) => (n.outputs.length > 1 && n.outputs[1] ? 'MaxPool with an Indices output has no WebGPU kernel' : null),
};

/** Why a node may not appear in a train-step graph at `opset`, or null when it may. */
export function webgpuWasmProblem(n: Pick<IrNode, 'op' | 'inputs' | 'outputs' | 'name' | 'attrs'>, opset: number, domain = ''): string | null {
  if (domain !== '' && domain !== 'ai.onnx') return `${domain}::${n.op} is outside the ai.onnx domain`;
  const ranges = WEBGPU_WASM_OPS[n.op];
  if (!ranges) return `${n.op} is not implemented on both the WebGPU and WASM backends`;
  if (!ranges.some(([a, b]) => opset >= a && opset <= b)) return `${n.op} has no WebGPU+WASM kernel at opset ${opset}`;
  const rule = VARIANT_RULES[n.op];
  return rule ? rule(n as IrNode) : null;
}
