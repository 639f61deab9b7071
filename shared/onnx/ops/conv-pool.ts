/** Convolutions and pooling over 1-D, 2-D and 3-D spatial dims. */
import { shapeToString } from '../dims.ts';
import { numel, staticSpatial, type Window, windowAttrs, windowGeometry } from './helpers.ts';
import { fail, type OpNode } from './op-node.ts';
import type { Inferred, OpSpec } from './spec.ts';
import { from } from './webgpu-wasm.ts';

/** The explicit window attributes the autodiff's gradient rules read (auto_pad resolved into pads). */
function explicit(w: Window, pads: number[], withDilations: boolean): Pick<Inferred, 'attrs' | 'drop'> {
  return {
    attrs: { kernel_shape: w.kernel, strides: w.strides, pads, ...(withDilations ? { dilations: w.dilations } : {}) },
    drop: ['auto_pad'],
  };
}

function pool(n: OpNode): Inferred {
  const x = n.in(0).dims;
  if (x.length < 3) fail('pooling needs N, C and spatial dims');
  const spatial = staticSpatial(x, n.op);
  const win = windowAttrs(n, spatial.length, null);
  const ceil = n.int('ceil_mode', 0) !== 0;
  const geo = windowGeometry(spatial, win, ceil);
  const dims = [x[0]!, x[1]!, ...geo.out];
  // AveragePool has dilations only from opset 19
  const dilations = n.op !== 'AveragePool' || n.opset >= 19;
  const e = explicit(win, geo.pads, dilations);
  if (ceil) e.attrs!.ceil_mode = 1;
  if (n.op === 'AveragePool') e.attrs!.count_include_pad = n.int('count_include_pad', 0);
  return { out: [{ dims }, { dims }], flops: numel(dims) * numel(win.kernel), ...e };
}

function globalPool(n: OpNode): Inferred {
  const x = n.in(0).dims;
  if (x.length < 3) fail(`${n.op} needs rank >= 3`);
  return { out: [{ dims: [x[0]!, x[1]!, ...x.slice(2).map(() => 1)] }], flops: numel(x) };
}

export const CONV_POOL_OPS: Record<string, OpSpec> = {
  Conv: {
    // 2·N·Cout·spatial_out·(Cin/group)·kernel, + out when B is given
    infer(n) {
      const x = n.in(0).dims;
      const w = n.in(1).dims;
      const rank = x.length - 2;
      if (rank < 1 || w.length !== x.length) fail(`Conv input ${shapeToString(x)} and weight ${shapeToString(w)} differ in rank`);
      const kernel = w.slice(2);
      if (!kernel.every((d) => typeof d === 'number')) fail('the weight shape must be static');
      const spatial = staticSpatial(x, 'Conv');
      const win = windowAttrs(n, rank, kernel as number[]);
      const geo = windowGeometry(spatial, win, false);
      const group = n.int('group', 1);
      if (typeof x[1] === 'number' && typeof w[1] === 'number' && x[1] !== w[1]! * group) {
        fail(`input has ${x[1]} channels, weight expects ${w[1]! * group}`);
      }
      if (n.has(2)) {
        const bs = n.in(2).dims;
        if (bs.length !== 1 || bs[0] !== w[0]) fail(`bias ${shapeToString(bs)} should be [${w[0]}]`);
      }
      const dims = [x[0]!, w[0]!, ...geo.out];
      const outCount = numel(dims);
      return {
        out: [{ dims }],
        flops: 2 * outCount * numel([w[1]!]) * numel(win.kernel) + (n.has(2) ? outCount : 0),
        ...explicit(win, geo.pads, true),
      };
    },
    webgpuWasm: from(1),
  },

  ConvTranspose: {
    // 2·N·Cin·spatial_in·(Cout/group)·kernel, + out when B is given
    infer(n) {
      const x = n.in(0).dims;
      const w = n.in(1).dims;
      const rank = x.length - 2;
      if (rank < 1 || w.length !== x.length) fail('ConvTranspose rank mismatch');
      const spatialIn = staticSpatial(x, 'ConvTranspose');
      if (!w.slice(2).every((d) => typeof d === 'number')) fail('the weight shape must be static');
      const group = n.int('group', 1);
      const win = windowAttrs(n, rank, w.slice(2) as number[]);
      const outPad = n.ints('output_padding') ?? new Array<number>(rank).fill(0);
      const given = n.ints('output_shape');
      const spatial = given ? given.slice(-rank) : spatialIn.map((len, i) => {
        if (win.autoPad === 'SAME_UPPER' || win.autoPad === 'SAME_LOWER') return len * win.strides[i]!;
        const span = (win.kernel[i]! - 1) * win.dilations[i]! + 1;
        const pads = win.autoPad === 'VALID' ? 0 : win.pads[i]! + win.pads[i + rank]!;
        return win.strides[i]! * (len - 1) + outPad[i]! + span - pads;
      });
      const N = x[0]!;
      const cout = typeof w[1] === 'number' ? w[1] * group : fail('the weight shape must be static');
      const flops = 2 * numel([N, x[1]!, ...spatialIn, w[1]!]) * numel(win.kernel)
        + (n.has(2) ? numel([N, cout, ...spatial]) : 0);
      return { out: [{ dims: [N, cout, ...spatial] }], flops };
    },
    webgpuWasm: from(1),
  },

  // out·kernel
  MaxPool: {
    infer: pool,
    webgpuWasm: from(1),
    webgpuVariant: (n) => (n.outputs.length > 1 && n.outputs[1] ? 'MaxPool with an Indices output has no WebGPU kernel' : null),
  },
  AveragePool: { infer: pool, webgpuWasm: from(7) },
  LpPool: { infer: pool },
  // input elements
  GlobalAveragePool: { infer: globalPool, webgpuWasm: from(1) },
  GlobalMaxPool: { infer: globalPool, webgpuWasm: from(1) },
  GlobalLpPool: { infer: globalPool },
};
