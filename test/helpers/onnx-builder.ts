/** Builds small ONNX models for tests with onnx-proto. */
import onnxProto from 'onnx-proto';
import type { onnx } from 'onnx-proto';
import { serializeModel } from '../../shared/onnx/model.ts';

const { onnx: proto } = onnxProto;

export function seeded(seed: number) {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function floatTensor(name: string, dims: number[], values: Float32Array): onnx.ITensorProto {
  return { name, dims, dataType: 1, rawData: new Uint8Array(values.buffer, values.byteOffset, values.byteLength) };
}

function valueInfo(name: string, elemType: number, dims: (number | string)[]): onnx.IValueInfoProto {
  return {
    name,
    type: { tensorType: { elemType, shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) } } },
  };
}

/**
 * x[N, width] → `layers` × (MatMul with a seeded [width, width] weight, then Relu) → y[N, width].
 * Heavier with more layers and width: used where a shard must take a while.
 */
export function mlpModel(opts: { width: number; layers: number; seed?: number; outWidth?: number }): Uint8Array {
  const rnd = seeded(opts.seed ?? 1);
  const nodes: onnx.INodeProto[] = [];
  const inits: onnx.ITensorProto[] = [];
  let prev = 'x';
  for (let l = 0; l < opts.layers; l++) {
    const out = l === opts.layers - 1 ? (opts.outWidth ?? opts.width) : opts.width;
    const w = new Float32Array(opts.width * out).map(() => (rnd() - 0.5) * (2 / Math.sqrt(opts.width)));
    inits.push(floatTensor(`w${l}`, [opts.width, out], w));
    nodes.push({ opType: 'MatMul', input: [prev, `w${l}`], output: [`m${l}`], name: `matmul${l}` });
    const y = l === opts.layers - 1 ? 'y' : `h${l}`;
    nodes.push({ opType: 'Relu', input: [`m${l}`], output: [y], name: `relu${l}` });
    prev = y;
  }
  const model: onnx.IModelProto = {
    irVersion: 8,
    opsetImport: [{ domain: '', version: 17 }],
    producerName: 'tabgrid-tests',
    graph: {
      name: 'mlp',
      node: nodes,
      initializer: inits,
      input: [valueInfo('x', 1, ['N', opts.width])],
      output: [valueInfo('y', 1, ['N', opts.outWidth ?? opts.width])],
    },
  };
  return serializeModel(proto.ModelProto.fromObject(model as never));
}

export function randomInput(records: number, width: number, seed = 7): Float32Array {
  const rnd = seeded(seed);
  return new Float32Array(records * width).map(() => rnd() * 2 - 1);
}

/**
 * x[dims] → one `op` (Softmax, LogSoftmax, Hardmax) node at `opset`, with `axis` when given → y.
 * Before opset 13 these normalise from `axis` on (flattening), from 13 along `axis` alone.
 */
export function softmaxModel(o: { op?: 'Softmax' | 'LogSoftmax' | 'Hardmax'; opset: number; dims: (number | string)[]; axis?: number }): Uint8Array {
  const model: onnx.IModelProto = {
    irVersion: o.opset >= 13 ? 7 : 4,
    opsetImport: [{ domain: '', version: o.opset }],
    producerName: 'tabgrid-tests',
    graph: {
      name: 'softmax',
      node: [{
        opType: o.op ?? 'Softmax', input: ['x'], output: ['y'], name: 'sm',
        attribute: o.axis === undefined ? [] : [{ name: 'axis', type: 2, i: o.axis }],
      }],
      input: [valueInfo('x', 1, o.dims)],
      output: [valueInfo('y', 1, o.dims)],
    },
  };
  return serializeModel(proto.ModelProto.fromObject(model as never));
}
