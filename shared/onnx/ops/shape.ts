/** Ops that move data without arithmetic (0 FLOPs): reshapes, transposes, joins, splits, gathers, padding. */
import { allStatic, type Dim, dimDivide, dimProduct, dimSum, type Shape, shapeToString } from '../dims.ts';
import { axesOf, broadcast, broadcastSource, normAxis, numel, small } from './helpers.ts';
import { fail, type Val } from './op-node.ts';
import type { OpSpec } from './spec.ts';
import { from } from './webgpu-wasm.ts';

export const SHAPE_OPS: Record<string, OpSpec> = {
  Reshape: {
    infer(n) {
      const x = n.in(0);
      const shape = n.ints('shape') ?? n.values(1);
      const allowZero = n.int('allowzero', 0) !== 0;
      const dims: Shape = shape.map((s, i) => (s === 0 && !allowZero ? x.dims[i] ?? fail('shape 0 copies a dim past the input rank') : s));
      const infer = dims.indexOf(-1);
      if (infer >= 0) {
        const known = dims.filter((_, i) => i !== infer);
        const total = dimProduct(x.dims);
        const part = dimProduct(known);
        const d = part === 0 ? null : dimDivide(total, part);
        if (d === null && allStatic(x.dims) && allStatic(known)) fail(`cannot reshape ${shapeToString(x.dims)} to [${shape}]`);
        dims[infer] = d ?? n.fresh('reshaped');
      }
      if (dims.some((d) => typeof d === 'number' && d < 0)) fail(`cannot reshape ${shapeToString(x.dims)} to [${shape}]`);
      if (allStatic(dims) && allStatic(x.dims) && numel(dims) !== numel(x.dims)) fail(`cannot reshape ${shapeToString(x.dims)} to [${shape}]`);
      return { out: [{ dims, values: x.values, float: x.float }], flops: 0 };
    },
    webgpuWasm: from(5),
  },

  Flatten: {
    infer(n) {
      const x = n.in(0);
      const rank = x.dims.length;
      const raw = n.int('axis', 1);
      const axis = raw < 0 ? raw + rank : raw;
      if (axis < 0 || axis > rank) fail(`Flatten axis ${raw} out of range for rank ${rank}`);
      return {
        out: [{ dims: [dimProduct(x.dims.slice(0, axis)), dimProduct(x.dims.slice(axis))], values: x.values }],
        flops: 0,
        attrs: { axis },
      };
    },
    webgpuWasm: from(1),
  },

  Transpose: {
    infer(n) {
      const x = n.in(0);
      const rank = x.dims.length;
      const perm = (n.ints('perm') ?? x.dims.map((_, i) => rank - 1 - i)).map((p) => normAxis(p, Math.max(rank, 1)));
      if (perm.length !== rank || new Set(perm).size !== rank) fail(`perm [${perm}] does not match rank ${rank}`);
      return { out: [{ dims: perm.map((p) => x.dims[p]!) }], flops: 0, attrs: { perm } };
    },
    // the native WebGPU EP stops at opset 20
    webgpuWasm: [[1, 20]],
  },

  Concat: {
    infer(n) {
      const ins = n.inputs.map((_, i) => n.in(i));
      const rank = ins[0]!.dims.length;
      const axis = normAxis(n.int('axis', 0), rank);
      const dims = [...ins[0]!.dims];
      dims[axis] = dimSum(ins.map((v) => v.dims[axis]!)) ?? n.fresh('concatenated');
      const val: Val = { dims, float: ins.some((v) => v.float) };
      if (rank === 1 && ins.every((v) => v.values)) val.values = ins.flatMap((v) => v.values!);
      return { out: [val], flops: 0, attrs: { axis } };
    },
    webgpuWasm: from(1),
  },

  Squeeze: {
    infer(n) {
      const x = n.in(0);
      const axes = axesOf(n, 1, x.dims.length);
      const drop = new Set(axes ?? x.dims.flatMap((d, i) => (d === 1 ? [i] : [])));
      return { out: [{ dims: x.dims.filter((_, i) => !drop.has(i)), values: x.values, float: x.float }], flops: 0 };
    },
    webgpuWasm: from(1),
  },

  Unsqueeze: {
    infer(n) {
      const x = n.in(0);
      const raw = n.ints('axes') ?? n.values(1);
      const rank = x.dims.length + raw.length;
      const axes = new Set(raw.map((a) => normAxis(a, rank)));
      const dims: Shape = [];
      let src = 0;
      for (let i = 0; i < rank; i++) dims.push(axes.has(i) ? 1 : x.dims[src++]!);
      return { out: [{ dims, values: x.values, float: x.float }], flops: 0 };
    },
    webgpuWasm: from(1),
  },

  Gather: {
    infer(n) {
      const data = n.in(0);
      const idx = n.in(1);
      const axis = normAxis(n.int('axis', 0), data.dims.length);
      const dims = [...data.dims.slice(0, axis), ...idx.dims, ...data.dims.slice(axis + 1)];
      const val: Val = { dims, float: data.float };
      if (data.values && idx.values && small(dims)) {
        const outer = numel(data.dims.slice(0, axis));
        const inner = numel(data.dims.slice(axis + 1));
        const len = data.dims[axis] as number;
        const values: number[] = [];
        for (let o = 0; o < outer; o++) {
          for (let j of idx.values) {
            if (j < 0) j += len;
            if (j < 0 || j >= len) fail('Gather index out of range');
            for (let k = 0; k < inner; k++) values.push(data.values[(o * len + j) * inner + k]!);
          }
        }
        val.values = values;
      }
      return { out: [val], flops: 0, attrs: { axis } };
    },
    webgpuWasm: from(1),
  },

  GatherElements: {
    infer(n) {
      const data = n.in(0);
      const idx = n.in(1);
      if (idx.dims.length !== data.dims.length) fail('GatherElements indices must have the rank of the data');
      const axis = normAxis(n.int('axis', 0), data.dims.length);
      return { out: [{ dims: idx.dims, float: data.float }], flops: 0, attrs: { axis } };
    },
    webgpuWasm: from(11),
  },

  Pad: {
    infer(n) {
      const x = n.in(0);
      const rank = x.dims.length;
      const pads = n.ints('pads') ?? n.ints('paddings') ?? n.values(1);
      const axes = n.has(3) ? n.values(3).map((a) => normAxis(a, rank)) : x.dims.map((_, i) => i);
      if (pads.length !== 2 * axes.length) fail('Pad pads length mismatch');
      const dims = [...x.dims];
      axes.forEach((a, i) => {
        const extra = pads[i]! + pads[i + axes.length]!;
        const d = dims[a]!;
        dims[a] = typeof d === 'number' ? d + extra : extra === 0 ? d : n.fresh('padded');
      });
      if (dims.some((d) => typeof d === 'number' && d < 0)) fail('negative padded size');
      return { out: [{ dims }], flops: 0 };
    },
    webgpuWasm: from(2),
  },

  Slice: {
    infer(n) {
      const x = n.in(0);
      const rank = x.dims.length;
      const old = n.opset < 10;
      const starts = old ? n.ints('starts') ?? fail('no starts') : n.values(1);
      const ends = old ? n.ints('ends') ?? fail('no ends') : n.values(2);
      const axes = ((old ? n.ints('axes') : n.has(3) ? n.values(3) : null) ?? starts.map((_, i) => i)).map((a) => normAxis(a, rank));
      const steps = !old && n.has(4) ? n.values(4) : starts.map(() => 1);
      if (ends.length !== starts.length || axes.length !== starts.length || steps.length !== starts.length) {
        fail('Slice starts, ends, axes and steps differ in length');
      }
      const dims = [...x.dims];
      const ranges: Array<[number, number, number]> = x.dims.map((d) => [0, typeof d === 'number' ? d : 0, 1]);
      axes.forEach((a, i) => {
        const step = steps[i]!;
        if (step === 0) fail('Slice step 0');
        const d = x.dims[a]!;
        if (typeof d !== 'number') {
          // a symbolic dim sliced whole stays itself; any other slice of it is a new unknown
          const whole = step === 1 && starts[i] === 0 && ends[i]! >= Number.MAX_SAFE_INTEGER / 2;
          dims[a] = whole ? d : n.fresh('sliced');
          return;
        }
        let s = starts[i]!;
        let e = ends[i]!;
        if (s < 0) s += d;
        if (e < 0) e += d;
        if (step > 0) {
          s = Math.min(Math.max(s, 0), d);
          e = Math.min(Math.max(e, 0), d);
          dims[a] = Math.max(0, Math.ceil((e - s) / step));
        } else {
          s = Math.min(Math.max(s, 0), d - 1);
          e = Math.min(Math.max(e, -1), d - 1);
          dims[a] = Math.max(0, Math.ceil((s - e) / -step));
        }
        ranges[a] = [s, e, step];
      });
      const val: Val = { dims, float: x.float };
      if (rank === 1 && x.values && typeof dims[0] === 'number') {
        const [s, , step] = ranges[0]!;
        val.values = Array.from({ length: dims[0] }, (_, i) => x.values![s + i * step]!);
      }
      return { out: [val], flops: 0 };
    },
    webgpuWasm: from(1),
  },

  Split: {
    infer(n) {
      const x = n.in(0);
      const axis = normAxis(n.int('axis', 0), x.dims.length);
      const len = x.dims[axis]!;
      if (typeof len !== 'number') return fail('Split of a symbolic dim is not supported');
      let parts = n.ints('split') ?? (n.has(1) ? n.values(1) : null);
      if (!parts) {
        const count = n.int('num_outputs', n.nOut);
        const chunk = Math.ceil(len / count);
        parts = Array.from({ length: count }, (_, i) => Math.max(0, Math.min(chunk, len - i * chunk)));
      }
      if (parts.reduce((a, b) => a + b, 0) !== len) fail('Split sizes do not add up');
      return { out: parts.map((p) => ({ dims: x.dims.map((d, i) => (i === axis ? p : d)) })), flops: 0, attrs: { axis } };
    },
    webgpuWasm: from(1),
  },

  Expand: {
    infer(n) {
      const x = n.in(0);
      const dims = broadcast(x.dims, n.values(1));
      const val: Val = { dims, float: x.float };
      if (x.values && small(dims)) {
        const src = broadcastSource(dims as number[], x.dims as number[]);
        val.values = Array.from({ length: numel(dims) }, (_, i) => x.values![src(i)]!);
      }
      return { out: [val], flops: 0 };
    },
    webgpuWasm: from(8),
  },

  Tile: {
    infer(n) {
      const x = n.in(0);
      const reps = n.values(1);
      if (reps.length !== x.dims.length) fail('Tile repeats rank mismatch');
      return { out: [{ dims: x.dims.map((d, i): Dim => dimProduct([d, reps[i]!])) }], flops: 0 };
    },
    webgpuWasm: from(6),
  },

  DepthToSpace: {
    infer(n) {
      const x = n.in(0).dims;
      const b = n.int('blocksize', 1);
      if (x.length !== 4 || !allStatic(x) || x[1]! % (b * b) !== 0) fail('DepthToSpace shape');
      const [N, C, H, W] = x as [number, number, number, number];
      return { out: [{ dims: [N, C / (b * b), H * b, W * b] }], flops: 0 };
    },
  },
  SpaceToDepth: {
    infer(n) {
      const x = n.in(0).dims;
      const b = n.int('blocksize', 1);
      if (x.length !== 4 || !allStatic(x) || x[2]! % b !== 0 || x[3]! % b !== 0) fail('SpaceToDepth shape');
      const [N, C, H, W] = x as [number, number, number, number];
      return { out: [{ dims: [N, C * b * b, H / b, W / b] }], flops: 0 };
    },
  },
};
