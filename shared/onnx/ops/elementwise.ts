/** Element-wise ops: unary maths and activations, broadcast binary arithmetic, comparisons, selection. */
import { elementwise, numel, same, trunc } from './helpers.ts';
import type { OpSpec } from './spec.ts';
import { from } from './webgpu-wasm.ts';

const unary = (perElement: number, webgpuWasm?: number): OpSpec => ({
  infer: (n) => same(n, perElement),
  ...(webgpuWasm === undefined ? {} : { webgpuWasm: from(webgpuWasm) }),
});
const binary = (webgpuWasm?: number): OpSpec => ({
  infer: (n) => elementwise(n, 1),
  ...(webgpuWasm === undefined ? {} : { webgpuWasm: from(webgpuWasm) }),
});

export const ELEMENTWISE_OPS: Record<string, OpSpec> = {
  // 1 FLOP per output element
  Relu: unary(1, 6), LeakyRelu: unary(1, 6), ThresholdedRelu: unary(1), Abs: unary(1, 6), Neg: unary(1, 6),
  Floor: unary(1, 6), Ceil: unary(1, 6), Round: unary(1), Sign: unary(1), Sqrt: unary(1, 6), Reciprocal: unary(1, 6),
  Not: unary(1, 1), IsNaN: unary(1), IsInf: unary(1), Shrink: unary(1), Hardmax: unary(1), BitwiseNot: unary(1),
  // PRelu's slope broadcasts into the input's shape (opset 6 even applies a [C] slope per channel), so the output is shaped like X
  PRelu: unary(1),
  Clip: unary(1, 11), // the native WebGPU EP registers Clip from 11 only
  // 4 FLOPs per output element (transcendental)
  Exp: unary(4, 6), Log: unary(4, 6), Tanh: unary(4, 6), Sigmoid: unary(4, 6), Erf: unary(4, 9),
  Sin: unary(4, 7), Cos: unary(4, 7), Tan: unary(4), Asin: unary(4), Acos: unary(4), Atan: unary(4), Sinh: unary(4),
  Cosh: unary(4), Asinh: unary(4), Acosh: unary(4), Atanh: unary(4), Elu: unary(4, 6), Selu: unary(4), Celu: unary(4),
  Softplus: unary(4), Softsign: unary(4), Gelu: unary(4), Mish: unary(4), HardSigmoid: unary(4), HardSwish: unary(4),

  Add: { infer: (n) => elementwise(n, 1, (a, b) => a! + b!), webgpuWasm: from(7) },
  Sub: { infer: (n) => elementwise(n, 1, (a, b) => a! - b!), webgpuWasm: from(7) },
  Mul: { infer: (n) => elementwise(n, 1, (a, b) => a! * b!), webgpuWasm: from(7) },
  Div: {
    infer(n) {
      const float = n.inputs.some((v) => v?.float);
      return elementwise(n, 1, (a, b) => (float ? a! / b! : trunc(a!, b!)));
    },
    webgpuWasm: from(7),
  },
  Pow: { infer: (n) => elementwise(n, 4), webgpuWasm: from(7) },
  Sum: { infer: (n) => elementwise(n, 1, (...xs) => xs.reduce((a, b) => a + b, 0)) },
  Max: { infer: (n) => elementwise(n, 1, (...xs) => Math.max(...xs)) },
  Min: { infer: (n) => elementwise(n, 1, (...xs) => Math.min(...xs)) },
  Mean: {
    infer(n) {
      const r = elementwise(n, 1);
      return { out: r.out, flops: numel(r.out[0]!.dims) * n.inputs.length };
    },
  },
  Mod: binary(), Equal: binary(7), Less: binary(7), Greater: binary(7), LessOrEqual: binary(12),
  GreaterOrEqual: binary(12), And: binary(), Or: binary(), Xor: binary(), BitShift: binary(), BitwiseAnd: binary(),
  BitwiseOr: binary(), BitwiseXor: binary(),
  // Where selects from three broadcast inputs; one comparison-and-pick per element
  Where: {
    infer(n) {
      const r = elementwise(n, 1);
      return { out: r.out, flops: numel(r.out[0]!.dims) };
    },
    webgpuWasm: from(9),
  },
};
