/**
 * Gradient rules for 2-D convolution and pooling, built only from ops that
 * WebGPU runs (Conv, ConvTranspose, Equal/Where, ReduceSum, Reshape).
 *
 * Shared geometry: for input size H, kernel k, stride s, dilation d and pads
 * (head p0, tail p1), the forward covers (Ho-1)*s + (k-1)*d + 1 rows of the
 * padded input; the uncovered rest is `leftover` (< s). ConvTranspose with the
 * same stride/dilation/pads and output_padding = leftover maps a gradient of
 * shape Ho back onto exactly H rows.
 */
import type { GradRule } from './grad-context.ts';
import type { IrNode } from './ir.ts';
import { attrInt, attrInts } from './ir.ts';
import { attr, float32Tensor } from './proto.ts';

/** The explicit window attributes shape inference wrote (the op registry's resolved form). */
function windowOf(node: IrNode): { kernel: number[]; strides: number[]; dilations: number[]; pads: number[]; ceil: boolean } {
  return {
    kernel: attrInts(node, 'kernel_shape')!,
    strides: attrInts(node, 'strides')!,
    dilations: attrInts(node, 'dilations') ?? [1, 1],
    pads: attrInts(node, 'pads')!,
    ceil: attrInt(node, 'ceil_mode', 0) === 1,
  };
}

interface Geometry2d {
  H: number[];
  out: number[];
  kernel: number[];
  strides: number[];
  dilations: number[];
  /** [top, left, bottom, right], the tail grown in ceil mode so that floor arithmetic yields `out` */
  pads: number[];
  leftover: number[];
}

function geometry(H: number[], out: number[], kernel: number[], strides: number[], dilations: number[], pads: number[]): Geometry2d {
  const p = [...pads];
  const leftover = [0, 0];
  for (let i = 0; i < 2; i++) {
    const covered = (out[i]! - 1) * strides[i]! + (kernel[i]! - 1) * dilations[i]! + 1;
    // ceil_mode windows may run past the declared tail padding
    p[i + 2] = Math.max(p[i + 2]!, covered - H[i]! - p[i]!);
    leftover[i] = H[i]! + p[i]! + p[i + 2]! - covered;
  }
  return { H, out, kernel, strides, dilations, pads: p, leftover };
}

function transposedConvAttrs(g: Geometry2d) {
  return {
    strides: attr.ints(g.strides),
    dilations: attr.ints(g.dilations),
    pads: attr.ints(g.pads),
    ...(g.leftover.some((l) => l > 0) ? { output_padding: attr.ints(g.leftover) } : {}),
  };
}

const conv: GradRule = (ctx) => {
  const { b, ops, node } = ctx;
  const [x, w, bias] = node.inputs as [string, string, string | undefined];
  const xs = ctx.shape(x);
  const ws = ctx.shape(w) as number[];
  const ys = ctx.shape(node.outputs[0]!);
  const win = windowOf(node);
  const g = geometry(xs.slice(2) as number[], ys.slice(2) as number[], ws.slice(2), win.strides, win.dilations, win.pads);
  const grads: (string | null)[] = [null, null, null];

  if (ctx.needs(0)) {
    // W [Co, Ci, kh, kw] is exactly ConvTranspose's [C_in, C_out, kh, kw] layout
    grads[0] = b.op('ConvTranspose', [ctx.dY, w], transposedConvAttrs(g));
  }
  if (ctx.needs(1)) {
    // dW[co,ci,i,j] = sum_{n,oh,ow} dY[n,co,oh,ow] * Xpad[n,ci,oh*s+i*d,ow*s+j*d]: a convolution of
    // X^T [Ci,N,H,W] with dY^T [Co,N,Ho,Wo] as kernel, stride and dilation swapped.
    const xt = ops.transpose(x, [1, 0, 2, 3]);
    const dyt = ops.transpose(ctx.dY, [1, 0, 2, 3]);
    const r = b.op('Conv', [xt, dyt], {
      strides: attr.ints(g.dilations),
      dilations: attr.ints(g.strides),
      pads: attr.ints(win.pads),
    });
    // rows past the last forward window can add extra kernel positions; cut them
    const span = [0, 1].map((i) => Math.floor((g.H[i]! + win.pads[i]! + win.pads[i + 2]! - ((g.out[i]! - 1) * g.strides[i]! + 1)) / g.dilations[i]!) + 1);
    const cut = span[0] !== ws[2] || span[1] !== ws[3]
      ? b.op('Slice', [r, b.i64([0, 0]), b.i64([ws[2]!, ws[3]!]), b.i64([2, 3])])
      : r;
    grads[1] = ops.transpose(cut, [1, 0, 2, 3]);
  }
  if (bias && ctx.needs(2)) grads[2] = ops.reduceSum(ctx.dY, [0, 2, 3], false);
  return grads;
};

/** One-hot kernels [kh*kw, 1, kh, kw]: convolving with them lays each window offset out as a channel. */
function oneHotKernels(kernel: number[]): ReturnType<typeof float32Tensor> {
  const k = kernel[0]! * kernel[1]!;
  const v = new Float32Array(k * k);
  for (let c = 0; c < k; c++) v[c * k + c] = 1;
  return float32Tensor([k, 1, kernel[0]!, kernel[1]!], v);
}

/**
 * MaxPool: the gradient of each window goes to the input positions equal to
 * the window's max. Ties split it evenly among the tied positions (a valid
 * subgradient whose sum per window is exactly dY). Windows are laid out as
 * channels with a one-hot Conv (exact: x*1 + 0*others), compared with the
 * pooled output, normalised by the tie count, and folded back with the
 * transposed one-hot Conv, which also sums overlapping windows.
 */
const maxPool: GradRule = (ctx) => {
  const { b, ops, node } = ctx;
  const x = node.inputs[0]!;
  const y = node.outputs[0]!;
  const xs = ctx.shape(x);
  const ys = ctx.shape(y);
  const win = windowOf(node);
  const g = geometry(xs.slice(2) as number[], ys.slice(2) as number[], win.kernel, win.strides, win.dilations, win.pads);
  const [ho, wo] = g.out as [number, number];
  const [h, w] = g.H as [number, number];
  const kernels = b.constant(oneHotKernels(win.kernel), 'maxpool_onehot');
  const windowAttrs = { strides: attr.ints(g.strides), dilations: attr.ints(g.dilations), pads: attr.ints(g.pads) };
  const planes = ops.reshape(x, b.i64([-1, 1, h, w]));
  const unfolded = b.op('Conv', [planes, kernels], windowAttrs);
  const pooled = ops.reshape(y, b.i64([-1, 1, ho, wo]));
  const hit = b.op('Equal', [unfolded, pooled]);
  // padded positions read as 0 in the unfolded tensor; they must never count as the max
  const valid = validWindowMask(win.kernel, g);
  const mask = b.op('Where', [hit, valid === null ? b.f32(1) : b.constant(valid, 'maxpool_valid'), b.f32(0)]);
  const ties = ops.reduceSum(mask, [1], true);
  const share = b.op('Div', [ops.reshape(ctx.dY, b.i64([-1, 1, ho, wo])), ties]);
  const routed = b.op('Mul', [mask, share]);
  const folded = b.op('ConvTranspose', [routed, kernels], transposedConvAttrs(g));
  return [ops.reshape(folded, ops.shapeTensor(x))];
};

/** [1, kh*kw, Ho, Wo] with 1 where the window offset lands inside the input; null when all do. */
function validWindowMask(kernel: number[], g: Geometry2d): ReturnType<typeof float32Tensor> | null {
  const [kh, kw] = kernel as [number, number];
  const [ho, wo] = g.out as [number, number];
  const v = new Float32Array(kh * kw * ho * wo);
  let all = true;
  for (let i = 0; i < kh; i++) for (let j = 0; j < kw; j++) {
    for (let oh = 0; oh < ho; oh++) for (let ow = 0; ow < wo; ow++) {
      const r = oh * g.strides[0]! + i * g.dilations[0]! - g.pads[0]!;
      const c = ow * g.strides[1]! + j * g.dilations[1]! - g.pads[1]!;
      const inside = r >= 0 && r < g.H[0]! && c >= 0 && c < g.H[1]!;
      if (!inside) all = false;
      v[((i * kw + j) * ho + oh) * wo + ow] = inside ? 1 : 0;
    }
  }
  return all ? null : float32Tensor([1, kh * kw, ho, wo], v);
}

/**
 * AveragePool: every input position in a window receives dY / divisor. The
 * divisor follows onnxruntime's CPU kernel: with count_include_pad the window
 * clipped to [-pad_head, H + pad_tail), otherwise clipped to the input.
 */
const averagePool: GradRule = (ctx) => {
  const { b, ops, node } = ctx;
  const x = node.inputs[0]!;
  const xs = ctx.shape(x);
  const ys = ctx.shape(node.outputs[0]!);
  const win = windowOf(node);
  const includePad = node.attrs.count_include_pad?.kind === 'int' && node.attrs.count_include_pad.value === 1;
  const g = geometry(xs.slice(2) as number[], ys.slice(2) as number[], win.kernel, win.strides, [1, 1], win.pads);
  const [ho, wo] = g.out as [number, number];
  const inv = new Float32Array(ho * wo);
  const extent = (o: number, d: 0 | 1): number => {
    const start = o * g.strides[d]! - win.pads[d]!;
    const end = Math.min(start + win.kernel[d]!, g.H[d]! + win.pads[d + 2]!);
    return includePad ? end - start : Math.min(end, g.H[d]!) - Math.max(start, 0);
  };
  let uniform = true;
  for (let oh = 0; oh < ho; oh++) for (let ow = 0; ow < wo; ow++) {
    inv[oh * wo + ow] = 1 / (extent(oh, 0) * extent(ow, 1));
    if (inv[oh * wo + ow] !== inv[0]) uniform = false;
  }
  const scale = uniform ? b.f32(inv[0]!) : b.constant(float32Tensor([1, 1, ho, wo], inv), 'avgpool_inv_count');
  const share = b.op('Mul', [ops.reshape(ctx.dY, b.i64([-1, 1, ho, wo])), scale]);
  const ones = b.constant(float32Tensor([1, 1, win.kernel[0]!, win.kernel[1]!], new Float32Array(win.kernel[0]! * win.kernel[1]!).fill(1)), 'avgpool_ones');
  const folded = b.op('ConvTranspose', [share, ones], transposedConvAttrs(g));
  return [ops.reshape(folded, ops.shapeTensor(x))];
};

export const CONV_POOL_RULES: Record<string, GradRule> = { Conv: conv, MaxPool: maxPool, AveragePool: averagePool };
