/**
 * A small causal transformer as a forward ONNX model (opset 17), for the
 * sequence tasks in sequence-task.ts: token ids (float32, cast to int64) are
 * embedded (Gather) with learned positions, then `layers` pre-LayerNorm
 * blocks of causal multi-head self-attention (batched MatMul over
 * [N, heads, T, T] scores, an additive causal mask, Softmax over the last
 * axis) and a GELU MLP (erf form), a final LayerNorm and a projection to
 * logits [N, T, vocab]. Every op is one the autodiff differentiates.
 * Initialisation is seeded: normal(0, 0.02) weights (residual projections
 * scaled by 1/sqrt(2·layers), as GPT-2), zero biases, unit LayerNorm scales.
 */
import { GraphBuilder, toModelBytes } from './autodiff/builder.ts';
import { attr, float32Tensor, int64Tensor } from './autodiff/proto.ts';
import { DEMO_OPSET } from './models.ts';
import { createRng } from './rng.ts';

export interface TransformerOptions {
  vocab: number;
  /** Sequence length T (fixed: the positions are learned). */
  length: number;
  /** Model width; default 64. */
  width?: number;
  heads?: number;
  layers?: number;
  seed?: number;
  /** Standard deviation of the normal initialisation; default 0.02. */
  initStd?: number;
}

export function buildTransformer(o: TransformerOptions): Uint8Array {
  const D = o.width ?? 64;
  const H = o.heads ?? 4;
  const L = o.layers ?? 2;
  const T = o.length;
  const V = o.vocab;
  if (D % H !== 0) throw new Error(`width ${D} is not a multiple of heads ${H}`);
  const dh = D / H;
  const rng = createRng(o.seed ?? 0);
  const b = new GraphBuilder(['tokens', 'logits']);
  const normal = (dims: number[], std: number) => float32Tensor(dims, Float32Array.from({ length: dims.reduce((a, c) => a * c, 1) }, () => rng.normal() * std));
  const initStd = o.initStd ?? 0.02;
  const param = (name: string, dims: number[], fill: 'normal' | 'zeros' | 'ones', std = initStd) => {
    const n = dims.reduce((a, c) => a * c, 1);
    b.namedInitializer(name, fill === 'normal' ? normal(dims, std) : float32Tensor(dims, new Float32Array(n).fill(fill === 'ones' ? 1 : 0)));
    return name;
  };
  // Constant nodes, not initializers: float initializers are the parameters the autodiff trains.
  const constant = (hint: string, dims: number[], values: ArrayLike<number>) =>
    b.add('Constant', [], { value: attr.tensor(float32Tensor(dims, values)) }, 1, hint)[0]!;
  const shape = (hint: string, dims: number[]) => b.add('Constant', [], { value: attr.tensor(int64Tensor([dims.length], dims)) }, 1, hint)[0]!;

  const layerNorm = (x: string, name: string) =>
    b.op('LayerNormalization', [x, param(`${name}.weight`, [D], 'ones'), param(`${name}.bias`, [D], 'zeros')], { axis: attr.int(-1), epsilon: attr.float(1e-5) }, name);
  const linear = (x: string, name: string, inDim: number, outDim: number, std = initStd) =>
    b.op('Add', [b.op('MatMul', [x, param(`${name}.weight`, [inDim, outDim], 'normal', std)], {}, name), param(`${name}.bias`, [outDim], 'zeros')]);

  const mask = new Float32Array(T * T);
  for (let i = 0; i < T; i++) for (let j = i + 1; j < T; j++) mask[i * T + j] = -1e9;
  const causal = constant('causal_mask', [T, T], mask);
  const scale = constant('attn_scale', [], [1 / Math.sqrt(dh)]);
  const half = constant('half', [], [0.5]);
  const one = constant('one', [], [1]);
  const invSqrt2 = constant('inv_sqrt2', [], [Math.SQRT1_2]);
  const heads = shape('heads_shape', [0, T, H, dh]);
  const merged = shape('merged_shape', [0, T, D]);
  const residualStd = initStd / Math.sqrt(2 * L);

  const ids = b.op('Cast', ['tokens'], { to: attr.int(7) }, 'token_ids');
  let x = b.op('Add', [
    b.op('Gather', [param('tok_emb', [V, D], 'normal'), ids], { axis: attr.int(0) }, 'embed'),
    param('pos_emb', [T, D], 'normal'),
  ]);
  for (let l = 0; l < L; l++) {
    const p = `block${l}`;
    const h = layerNorm(x, `${p}.ln1`);
    const split = (name: string) => b.op('Transpose', [b.op('Reshape', [b.op('MatMul', [h, param(`${p}.${name}.weight`, [D, D], 'normal')]), heads])], { perm: attr.ints([0, 2, 1, 3]) });
    const q = split('q');
    const k = split('k');
    const v = split('v');
    const kT = b.op('Transpose', [k], { perm: attr.ints([0, 1, 3, 2]) });
    const scores = b.op('Add', [b.op('Mul', [b.op('MatMul', [q, kT]), scale]), causal], {}, `${p}.scores`);
    const att = b.op('Softmax', [scores], { axis: attr.int(-1) }, `${p}.attention`);
    const ctx = b.op('Reshape', [b.op('Transpose', [b.op('MatMul', [att, v]), ], { perm: attr.ints([0, 2, 1, 3]) }), merged]);
    x = b.op('Add', [x, linear(ctx, `${p}.proj`, D, D, residualStd)]);
    const f = linear(layerNorm(x, `${p}.ln2`), `${p}.fc1`, D, 4 * D);
    const gelu = b.op('Mul', [b.op('Mul', [f, half]), b.op('Add', [one, b.op('Erf', [b.op('Mul', [f, invSqrt2])])])], {}, `${p}.gelu`);
    x = b.op('Add', [x, linear(gelu, `${p}.fc2`, 4 * D, D, residualStd)]);
  }
  const out = layerNorm(x, 'ln_f');
  b.opNamed('Add', [b.op('MatMul', [out, param('head.weight', [D, V], 'normal')]), param('head.bias', [V], 'zeros')], 'logits');
  return toModelBytes(b, {
    inputs: [{ name: 'tokens', dtype: 'float32', dims: ['N', T] }],
    outputs: [{ name: 'logits', dtype: 'float32', dims: ['N', T, V] }],
  }, { opset: DEMO_OPSET, name: 'transformer', doc: `causal transformer: ${L} layers, width ${D}, ${H} heads, vocab ${V}, length ${T}` });
}
