/**
 * Ops that make, copy or retype values, and the shape-reading ops (0 FLOPs):
 * their small integer results are evaluated, so Shape -> Gather -> Concat ->
 * Reshape chains resolve.
 */
import { allStatic } from '../dims.ts';
import { MAX_VALUES, numel, small } from './helpers.ts';
import { fail, type Val } from './op-node.ts';
import type { OpSpec } from './spec.ts';
import { from } from './webgpu-wasm.ts';

/** onnx.TensorProto.DataType codes of floating-point types. */
const FLOAT_CODES = new Set([1, 10, 11, 16]);

export const VALUE_OPS: Record<string, OpSpec> = {
  Identity: { infer: (n) => ({ out: [n.in(0)], flops: 0 }) },
  Dropout: { infer: (n) => ({ out: [{ dims: n.in(0).dims, values: n.in(0).values }, { dims: n.in(0).dims }], flops: 0 }) },

  Cast: {
    infer(n) {
      const x = n.in(0);
      const float = FLOAT_CODES.has(n.int('to', 1));
      return { out: [{ dims: x.dims, float, values: float ? x.values : x.values?.map(Math.trunc) }], flops: 0 };
    },
    webgpuWasm: from(6),
  },
  CastLike: { infer: (n) => ({ out: [{ dims: n.in(0).dims, float: n.in(1).float, values: n.in(0).values }], flops: 0 }) },

  Shape: {
    infer(n) {
      const x = n.in(0);
      const rank = x.dims.length;
      const clampAxis = (a: number): number => Math.min(Math.max(a < 0 ? a + rank : a, 0), rank);
      const start = clampAxis(n.int('start', 0));
      const end = clampAxis(n.int('end', rank));
      const dims = x.dims.slice(start, Math.max(start, end));
      return { out: [{ dims: [dims.length], ...(allStatic(dims) ? { values: dims } : {}) }], flops: 0 };
    },
    webgpuWasm: from(1),
  },

  Size: {
    infer(n) {
      const count = numel(n.in(0).dims);
      return { out: [{ dims: [], ...(Number.isFinite(count) ? { values: [count] } : {}) }], flops: 0 };
    },
  },

  Constant: {
    infer(n) {
      const t = n.attrs.tensor('value');
      if (t) return { out: [t], flops: 0 };
      const f = n.attrs.float('value_float');
      if (f !== undefined) return { out: [{ dims: [], values: [f], float: true }], flops: 0 };
      const i = n.attrs.int('value_int');
      if (i !== undefined) return { out: [{ dims: [], values: [i] }], flops: 0 };
      const fs = n.attrs.floats('value_floats');
      if (fs) return { out: [{ dims: [fs.length], values: [...fs], float: true }], flops: 0 };
      const is = n.attrs.ints('value_ints');
      if (is) return { out: [{ dims: [is.length], values: is }], flops: 0 };
      return fail('Constant without a numeric value');
    },
  },

  ConstantOfShape: {
    infer(n) {
      const dims = n.values(0);
      if (dims.some((d) => d < 0)) fail('negative dim');
      const c: Val = n.attrs.tensor('value') ?? { dims: [1], values: [0], float: true };
      const values = small(dims) && c.values ? new Array<number>(numel(dims)).fill(c.values[0] ?? 0) : undefined;
      return { out: [{ dims, values, float: c.float }], flops: 0 };
    },
  },

  Range: {
    infer(n) {
      const [start, limit, delta] = [0, 1, 2].map((i) => n.values(i)[0]!) as [number, number, number];
      if (delta === 0) fail('Range delta 0');
      const count = Math.max(0, Math.ceil((limit - start) / delta));
      const val: Val = { dims: [count], float: n.in(0).float };
      if (count <= MAX_VALUES) val.values = Array.from({ length: count }, (_, i) => start + i * delta);
      return { out: [val], flops: 0 };
    },
  },

  // 0 FLOPs for nearest, else 4 per output element
  Resize: { infer: resize },
  Upsample: { infer: resize },
};

function resize(n: Parameters<OpSpec['infer']>[0]): ReturnType<OpSpec['infer']> {
  const x = n.in(0).dims;
  let dims: number[];
  const sizesInput = n.op === 'Resize' && n.opset >= 11 ? 3 : -1;
  const scalesInput = n.op === 'Resize' ? (n.opset >= 11 ? 2 : 1) : 1;
  const sizes = sizesInput > 0 && n.has(sizesInput) ? n.values(sizesInput) : null;
  if (sizes && sizes.length > 0) {
    dims = sizes;
  } else {
    if (!allStatic(x)) fail('Resize of symbolic dims by scales');
    const attrScales = n.attrs.floats('scales');
    const scales = attrScales && attrScales.length > 0 ? [...attrScales] : n.values(scalesInput);
    if (scales.length !== x.length) fail('scales rank mismatch');
    dims = (x as number[]).map((d, i) => Math.floor(d * scales[i]!));
  }
  if (dims.length !== x.length) fail('Resize rank mismatch');
  const perElement = n.str('mode', 'nearest') === 'nearest' ? 0 : 4;
  return { out: [{ dims }], flops: perElement * numel(dims) };
}
