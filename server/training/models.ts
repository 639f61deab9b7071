/**
 * Demo models as forward ONNX bytes (opset 17), with seeded deterministic
 * initialisation: He-normal for layers followed by ReLU, Glorot-uniform for the
 * output layer, zero biases. Dense layers use Gemm with W [out, in]
 * (transB=1), the layout PyTorch exports.
 */
import { GraphBuilder, toModelBytes } from './autodiff/builder.ts';
import { attr, float32Tensor } from './autodiff/proto.ts';
import { createRng } from './rng.ts';
import type { Rng } from './rng.ts';

export const DEMO_OPSET = 17;

function heNormal(rng: Rng, dims: number[], fanIn: number): Float32Array {
  const n = dims.reduce((a, b) => a * b, 1);
  const std = Math.sqrt(2 / fanIn);
  return Float32Array.from({ length: n }, () => rng.normal() * std);
}

function glorotUniform(rng: Rng, dims: number[], fanIn: number, fanOut: number): Float32Array {
  const n = dims.reduce((a, b) => a * b, 1);
  const limit = Math.sqrt(6 / (fanIn + fanOut));
  return Float32Array.from({ length: n }, () => (rng.next() * 2 - 1) * limit);
}

export interface MlpOptions {
  /** Layer widths, input first; default [784, 128, 10]. */
  sizes?: number[];
  seed?: number;
}

/** MLP: input [N, sizes[0]] -> (Gemm -> Relu)* -> Gemm -> logits [N, sizes.at(-1)]. */
export function buildMlp(opts: MlpOptions = {}): Uint8Array {
  const sizes = opts.sizes ?? [784, 128, 10];
  if (sizes.length < 2 || sizes.some((s) => !Number.isInteger(s) || s < 1)) {
    throw new Error(`MLP sizes must be at least two positive integers, got [${sizes}]`);
  }
  const rng = createRng(opts.seed ?? 0);
  const b = new GraphBuilder(['input', 'logits']);
  let h = 'input';
  for (let i = 0; i + 1 < sizes.length; i++) {
    const fanIn = sizes[i]!;
    const fanOut = sizes[i + 1]!;
    const last = i + 2 === sizes.length;
    const w = `fc${i + 1}.weight`;
    const bias = `fc${i + 1}.bias`;
    const wv = last ? glorotUniform(rng, [fanOut, fanIn], fanIn, fanOut) : heNormal(rng, [fanOut, fanIn], fanIn);
    b.namedInitializer(w, float32Tensor([fanOut, fanIn], wv));
    b.namedInitializer(bias, float32Tensor([fanOut], new Float32Array(fanOut)));
    const z = last ? b.opNamed('Gemm', [h, w, bias], 'logits', { transB: attr.int(1) })
      : b.op('Gemm', [h, w, bias], { transB: attr.int(1) }, `fc${i + 1}`);
    h = last ? z : b.op('Relu', [z], {}, `relu${i + 1}`);
  }
  return toModelBytes(b, {
    inputs: [{ name: 'input', dtype: 'float32', dims: ['N', sizes[0]!] }],
    outputs: [{ name: 'logits', dtype: 'float32', dims: ['N', sizes.at(-1)!] }],
  }, { opset: DEMO_OPSET, name: 'mlp', doc: `MLP ${sizes.join('-')}` });
}

export interface CnnOptions {
  /** Output channels of the two conv blocks; default [8, 16]. */
  channels?: [number, number];
  classes?: number;
  seed?: number;
}

/**
 * Small CNN for [N, 1, 28, 28]: two blocks of Conv 3x3 (pad 1) -> Relu ->
 * MaxPool 2x2, then Flatten and a dense layer to logits [N, classes].
 */
export function buildCnn(opts: CnnOptions = {}): Uint8Array {
  const [c1, c2] = opts.channels ?? [8, 16];
  const classes = opts.classes ?? 10;
  const rng = createRng(opts.seed ?? 0);
  const b = new GraphBuilder(['input', 'logits']);
  let h = 'input';
  let inC = 1;
  [c1, c2].forEach((outC, i) => {
    const w = `conv${i + 1}.weight`;
    const bias = `conv${i + 1}.bias`;
    b.namedInitializer(w, float32Tensor([outC, inC, 3, 3], heNormal(rng, [outC, inC, 3, 3], inC * 9)));
    b.namedInitializer(bias, float32Tensor([outC], new Float32Array(outC)));
    const conv = b.op('Conv', [h, w, bias], {
      kernel_shape: attr.ints([3, 3]), pads: attr.ints([1, 1, 1, 1]), strides: attr.ints([1, 1]),
    }, `conv${i + 1}`);
    const relu = b.op('Relu', [conv], {}, `relu${i + 1}`);
    h = b.op('MaxPool', [relu], { kernel_shape: attr.ints([2, 2]), strides: attr.ints([2, 2]) }, `pool${i + 1}`);
    inC = outC;
  });
  const features = c2 * 7 * 7;
  const flat = b.op('Flatten', [h], { axis: attr.int(1) }, 'flatten');
  b.namedInitializer('fc.weight', float32Tensor([classes, features], glorotUniform(rng, [classes, features], features, classes)));
  b.namedInitializer('fc.bias', float32Tensor([classes], new Float32Array(classes)));
  b.opNamed('Gemm', [flat, 'fc.weight', 'fc.bias'], 'logits', { transB: attr.int(1) });
  return toModelBytes(b, {
    inputs: [{ name: 'input', dtype: 'float32', dims: ['N', 1, 28, 28] }],
    outputs: [{ name: 'logits', dtype: 'float32', dims: ['N', classes] }],
  }, { opset: DEMO_OPSET, name: 'cnn', doc: `CNN conv${c1}-pool-conv${c2}-pool-fc${classes}` });
}
