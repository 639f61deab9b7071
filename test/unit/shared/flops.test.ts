import fs from 'node:fs';
import path from 'node:path';
import type { onnx } from 'onnx-proto';
import { describe, expect, it } from 'vitest';
import { estimateFlops, inferShapes } from '../../../shared/onnx/flops.ts';
import { type ModelProto, modelSignature, parseModel, serializeModel } from '../../../shared/onnx/model.ts';
import { decodeTensorProto } from '../../../shared/tensor/tensorproto.ts';
import { caseDirs, onnxTestsDir, readShared } from './shared-data.ts';

// ---------------------------------------------------------------------------
// building small graphs by hand

type AttrValue = number | number[] | string | onnx.ITensorProto | onnx.IGraphProto;
interface N { op: string; in: string[]; out: string[]; attrs?: Record<string, AttrValue>; domain?: string }

function attr(name: string, v: AttrValue): onnx.IAttributeProto {
  if (typeof v === 'number') return Number.isInteger(v) ? { name, type: 2, i: v } : { name, type: 1, f: v };
  if (typeof v === 'string') return { name, type: 3, s: new TextEncoder().encode(v) };
  if (Array.isArray(v)) return { name, type: 7, ints: v };
  if ('node' in v) return { name, type: 5, g: v };
  return { name, type: 4, t: v as onnx.ITensorProto };
}

function int64s(name: string, values: number[]): onnx.ITensorProto {
  const raw = new Uint8Array(values.length * 8);
  const view = new DataView(raw.buffer);
  values.forEach((v, i) => view.setBigInt64(i * 8, BigInt(v), true));
  return { name, dims: [values.length], dataType: 7, rawData: raw };
}

function floats(name: string, dims: number[]): onnx.ITensorProto {
  return { name, dims, dataType: 1, rawData: new Uint8Array(dims.reduce((a, b) => a * b, 1) * 4) };
}

/** A model of the given nodes, serialized and parsed back so int64 fields arrive as protobufjs really delivers them. */
function model(
  nodes: N[], inputs: string[], initializers: onnx.ITensorProto[] = [], opset = 13, outputs = [nodes.at(-1)!.out[0]!],
): ModelProto {
  const m: onnx.IModelProto = {
    irVersion: 8,
    opsetImport: [{ domain: '', version: opset }],
    graph: {
      node: nodes.map((n) => ({
        opType: n.op, input: n.in, output: n.out, domain: n.domain ?? '',
        attribute: Object.entries(n.attrs ?? {}).map(([k, v]) => attr(k, v)),
      })),
      initializer: initializers,
      input: inputs.map((name) => ({ name, type: { tensorType: { elemType: 1 } } })),
      output: outputs.map((name) => ({ name, type: { tensorType: { elemType: 1 } } })),
    },
  };
  return parseModel(serializeModel(m));
}

const one = (n: N, shapes: Record<string, number[]>, inits: onnx.ITensorProto[] = [], opset = 13) =>
  estimateFlops(model([n], Object.keys(shapes), inits, opset), shapes);

describe('estimateFlops on hand-computed graphs', () => {
  it('MatMul: 2·M·K·N per broadcast batch matrix, 1-D operands promoted', () => {
    expect(one({ op: 'MatMul', in: ['a', 'b'], out: ['y'] }, { a: [2, 3, 4, 5], b: [5, 6] }).flops).toBe(2 * 6 * 4 * 5 * 6);
    expect(one({ op: 'MatMul', in: ['a', 'b'], out: ['y'] }, { a: [3, 1, 4, 5], b: [2, 5, 6] }).flops).toBe(2 * 6 * 4 * 5 * 6);
    expect(one({ op: 'MatMul', in: ['a', 'b'], out: ['y'] }, { a: [5], b: [5, 6] }).flops).toBe(2 * 5 * 6);
    const m = model([{ op: 'MatMul', in: ['a', 'b'], out: ['y'] }], ['a', 'b']);
    expect(inferShapes(m, { a: [3, 1, 4, 5], b: [2, 5, 6] }).y).toEqual([3, 2, 4, 6]);
    expect(inferShapes(m, { a: [7, 5], b: [5] }).y).toEqual([7]);
  });

  it('Gemm: 2·M·K·N plus the bias, with transposes', () => {
    const r = one({ op: 'Gemm', in: ['a', 'b', 'c'], out: ['y'], attrs: { transB: 1 } }, { a: [8, 16], b: [32, 16], c: [32] });
    expect(r.flops).toBe(2 * 8 * 16 * 32 + 8 * 32);
    expect(one({ op: 'Gemm', in: ['a', 'b'], out: ['y'], attrs: { transA: 1 } }, { a: [16, 8], b: [16, 4] }).flops).toBe(2 * 8 * 16 * 4);
  });

  it('Conv 2-D with stride, padding and bias', () => {
    const n: N = { op: 'Conv', in: ['x', 'w', 'b'], out: ['y'], attrs: { pads: [1, 1, 1, 1], strides: [2, 2] } };
    const m = model([n], ['x'], [floats('w', [16, 3, 3, 3]), floats('b', [16])]);
    expect(inferShapes(m, { x: [1, 3, 32, 32] }).y).toEqual([1, 16, 16, 16]);
    expect(estimateFlops(m, { x: [1, 3, 32, 32] }).flops).toBe(2 * 16 * 256 * 3 * 9 + 16 * 256);
  });

  it('Conv with groups and dilation, with SAME padding, 1-D and 3-D', () => {
    const grouped = model([{ op: 'Conv', in: ['x', 'w'], out: ['y'], attrs: { group: 4, dilations: [2, 2] } }], ['x'], [floats('w', [8, 2, 3, 3])]);
    // span (3-1)·2+1 = 5, so 10 -> 6
    expect(inferShapes(grouped, { x: [2, 8, 10, 10] }).y).toEqual([2, 8, 6, 6]);
    expect(estimateFlops(grouped, { x: [2, 8, 10, 10] }).flops).toBe(2 * 2 * 8 * 36 * 2 * 9);

    const same = model([{ op: 'Conv', in: ['x', 'w'], out: ['y'], attrs: { auto_pad: 'SAME_UPPER', strides: [2, 2] } }], ['x'], [floats('w', [4, 4, 3, 3])]);
    expect(inferShapes(same, { x: [1, 4, 7, 7] }).y).toEqual([1, 4, 4, 4]);
    expect(estimateFlops(same, { x: [1, 4, 7, 7] }).flops).toBe(2 * 4 * 16 * 4 * 9);

    const conv1d = model([{ op: 'Conv', in: ['x', 'w'], out: ['y'], attrs: { strides: [3] } }], ['x'], [floats('w', [3, 2, 4])]);
    expect(inferShapes(conv1d, { x: [1, 2, 10] }).y).toEqual([1, 3, 3]);
    expect(estimateFlops(conv1d, { x: [1, 2, 10] }).flops).toBe(2 * 3 * 3 * 2 * 4);

    const conv3d = model([{ op: 'Conv', in: ['x', 'w'], out: ['y'] }], ['x'], [floats('w', [2, 1, 2, 2, 2])]);
    expect(inferShapes(conv3d, { x: [1, 1, 4, 4, 4] }).y).toEqual([1, 2, 3, 3, 3]);
    expect(estimateFlops(conv3d, { x: [1, 1, 4, 4, 4] }).flops).toBe(2 * 2 * 27 * 8);
  });

  it('ConvTranspose: 2·N·Cin·spatial_in·(Cout/group)·kernel', () => {
    const m = model([{ op: 'ConvTranspose', in: ['x', 'w'], out: ['y'], attrs: { strides: [2, 2] } }], ['x'], [floats('w', [4, 2, 3, 3])]);
    expect(inferShapes(m, { x: [1, 4, 5, 5] }).y).toEqual([1, 2, 11, 11]);
    expect(estimateFlops(m, { x: [1, 4, 5, 5] }).flops).toBe(2 * 4 * 25 * 2 * 9);
  });

  it('pools count output elements times kernel size; ceil_mode adds the partial window', () => {
    expect(one({ op: 'MaxPool', in: ['x'], out: ['y'], attrs: { kernel_shape: [2, 2], strides: [2, 2] } }, { x: [1, 3, 8, 8] }).flops).toBe(48 * 4);
    const ceil = model([{ op: 'AveragePool', in: ['x'], out: ['y'], attrs: { kernel_shape: [2, 2], strides: [2, 2], ceil_mode: 1 } }], ['x']);
    expect(inferShapes(ceil, { x: [1, 1, 5, 5] }).y).toEqual([1, 1, 3, 3]);
    expect(estimateFlops(ceil, { x: [1, 1, 5, 5] }).flops).toBe(9 * 4);
    expect(one({ op: 'GlobalAveragePool', in: ['x'], out: ['y'] }, { x: [1, 8, 7, 7] }).flops).toBe(8 * 49);
  });

  it('elementwise ops count per output element after broadcasting', () => {
    const add = model([{ op: 'Add', in: ['a', 'b'], out: ['y'] }], ['a', 'b']);
    expect(inferShapes(add, { a: [2, 3, 1], b: [4] }).y).toEqual([2, 3, 4]);
    expect(estimateFlops(add, { a: [2, 3, 1], b: [4] }).flops).toBe(24);
    expect(one({ op: 'Sigmoid', in: ['x'], out: ['y'] }, { x: [10] }).flops).toBe(40);
    expect(one({ op: 'Softmax', in: ['x'], out: ['y'] }, { x: [2, 5] }).flops).toBe(50);
    expect(one({ op: 'Relu', in: ['x'], out: ['y'] }, { x: [2, 5] }).flops).toBe(10);
    expect(one({ op: 'Sum', in: ['a', 'b', 'c'], out: ['y'] }, { a: [4], b: [4], c: [1] }).flops).toBe(8);
    expect(one({ op: 'BatchNormalization', in: ['x', 's', 'b', 'm', 'v'], out: ['y'] }, { x: [1, 4, 5, 5], s: [4], b: [4], m: [4], v: [4] }).flops).toBe(200);
    const bad = one({ op: 'Add', in: ['a', 'b'], out: ['y'] }, { a: [2, 3], b: [4] });
    expect(bad).toEqual({ flops: 0, byOp: {}, unknownOps: ['Add'] });
  });

  it('Reshape with 0 and -1 feeds the right shape downstream', () => {
    const m = model([
      { op: 'Reshape', in: ['x', 'shape'], out: ['r'] },
      { op: 'MatMul', in: ['r', 'w'], out: ['y'] },
    ], ['x'], [int64s('shape', [0, -1]), floats('w', [12, 5])]);
    expect(inferShapes(m, { x: [2, 3, 4] }).r).toEqual([2, 12]);
    expect(estimateFlops(m, { x: [2, 3, 4] })).toEqual({ flops: 2 * 2 * 12 * 5, byOp: { MatMul: 240 }, unknownOps: [] });
  });

  it('follows Shape -> Gather -> Unsqueeze -> Concat -> Reshape, as PyTorch exports a flatten', () => {
    const m = model([
      { op: 'Shape', in: ['x'], out: ['s'] },
      { op: 'Constant', in: [], out: ['zero'], attrs: { value: { dims: [], dataType: 7, rawData: new Uint8Array(8) } } },
      { op: 'Gather', in: ['s', 'zero'], out: ['batch'], attrs: { axis: 0 } },
      { op: 'Unsqueeze', in: ['batch', 'axes'], out: ['b1'] },
      { op: 'Concat', in: ['b1', 'minus1'], out: ['shape'], attrs: { axis: 0 } },
      { op: 'Reshape', in: ['x', 'shape'], out: ['flat'] },
      { op: 'MatMul', in: ['flat', 'w'], out: ['y'] },
    ], ['x'], [int64s('axes', [0]), int64s('minus1', [-1]), floats('w', [30, 2])]);
    const shapes = inferShapes(m, { x: [4, 6, 5] });
    expect(shapes.shape).toEqual([2]);
    expect(shapes.flat).toEqual([4, 30]);
    expect(estimateFlops(m, { x: [4, 6, 5] }).flops).toBe(2 * 4 * 30 * 2);
  });

  it('data-movement ops count 0 but carry shapes: Flatten, Transpose, Pad, Slice, Squeeze, Concat', () => {
    const flat = model([
      { op: 'Flatten', in: ['x'], out: ['f'], attrs: { axis: 2 } },
      { op: 'Gemm', in: ['f', 'w'], out: ['y'] },
    ], ['x'], [floats('w', [20, 10])]);
    expect(estimateFlops(flat, { x: [2, 3, 4, 5] }).flops).toBe(2 * 6 * 20 * 10);

    const tr = model([
      { op: 'Transpose', in: ['x'], out: ['t'], attrs: { perm: [2, 0, 1] } },
      { op: 'MatMul', in: ['t', 'w'], out: ['y'] },
    ], ['x'], [floats('w', [3, 5])]);
    expect(estimateFlops(tr, { x: [2, 3, 4] }).flops).toBe(2 * 8 * 3 * 5);

    const pad = model([
      { op: 'Pad', in: ['x', 'pads'], out: ['p'] },
      { op: 'Relu', in: ['p'], out: ['y'] },
    ], ['x'], [int64s('pads', [0, 0, 1, 1, 0, 0, 1, 1])], 11);
    expect(estimateFlops(pad, { x: [1, 1, 4, 4] })).toEqual({ flops: 36, byOp: { Relu: 36 }, unknownOps: [] });

    const slice = model([
      { op: 'Slice', in: ['x', 'starts', 'ends', 'axes'], out: ['s'] },
      { op: 'Relu', in: ['s'], out: ['y'] },
    ], ['x'], [int64s('starts', [2]), { ...int64s('ends', [0]), rawData: new Uint8Array([255, 255, 255, 255, 255, 255, 255, 127]) }, int64s('axes', [-1])]);
    expect(inferShapes(slice, { x: [10, 20] }).s).toEqual([10, 18]);

    const squeeze = model([
      { op: 'Squeeze', in: ['x'], out: ['s'], attrs: { axes: [0, 2] } },
      { op: 'Unsqueeze', in: ['s'], out: ['u'], attrs: { axes: [-1] } },
      { op: 'Concat', in: ['u', 'u'], out: ['y'], attrs: { axis: 1 } },
    ], ['x'], [], 11);
    expect(inferShapes(squeeze, { x: [1, 3, 1, 5] }).y).toEqual([3, 10, 1]);
    expect(estimateFlops(squeeze, { x: [1, 3, 1, 5] }).flops).toBe(0);
  });

  it('Reduce ops count input elements; ReduceMean axes as attribute before opset 18', () => {
    const m = model([
      { op: 'ReduceMean', in: ['x'], out: ['r'], attrs: { axes: [2, 3], keepdims: 0 } },
      { op: 'MatMul', in: ['r', 'w'], out: ['y'] },
    ], ['x'], [floats('w', [3, 7])]);
    expect(inferShapes(m, { x: [2, 3, 4, 5] }).r).toEqual([2, 3]);
    expect(estimateFlops(m, { x: [2, 3, 4, 5] }).byOp).toEqual({ ReduceMean: 120, MatMul: 2 * 2 * 3 * 7 });
  });

  it('counts unknown ops as 0, lists them and everything they starve, and never throws', () => {
    const m = model([
      { op: 'Relu', in: ['x'], out: ['a'] },
      { op: 'NonZero', in: ['a'], out: ['nz'] },
      { op: 'MyOp', domain: 'com.example', in: ['a'], out: ['b'] },
      { op: 'Relu', in: ['b'], out: ['c'] },
      { op: 'Conv', in: ['x', 'w'], out: ['y'], attrs: { strides: [0, 0] } },
    ], ['x'], [floats('w', [2, 3, 1, 1])], 13, ['nz', 'c', 'y']);
    const r = estimateFlops(m, { x: [1, 3, 4, 4] });
    expect(r.flops).toBe(48);
    expect(Number.isFinite(r.flops)).toBe(true);
    expect(r.byOp).toEqual({ Relu: 48 });
    expect(r.unknownOps).toEqual(['Conv', 'NonZero', 'Relu', 'com.example::MyOp']);
  });

  it('gives nodes that reach no graph output no FLOPs and does not follow them', () => {
    // the hostile model of issue 12: a MatMul of a huge ConstantOfShape with itself, whose result nobody receives
    const side: N[] = [
      { op: 'ConstantOfShape', in: ['big'], out: ['c'], attrs: { value: { dims: [1], dataType: 1, rawData: new Uint8Array(4) } } },
      { op: 'MatMul', in: ['c', 'c'], out: ['dead'] },
      { op: 'Softmax', in: ['dead'], out: ['dead2'] },
      { op: 'Evil', domain: 'com.example', in: ['dead2'], out: ['dead3'] },
    ];
    const relu: N = { op: 'Relu', in: ['x'], out: ['y'] };
    const big = int64s('big', [100_000, 100_000]);
    for (const nodes of [[...side, relu], [relu, ...side]]) {
      const m = model(nodes, ['x'], [big], 13, ['y']);
      expect(estimateFlops(m, { x: [2, 3] })).toEqual({ flops: 6, byOp: { Relu: 6 }, unknownOps: [] });
    }
    // the same nodes count once something receives their result
    const used = estimateFlops(model([...side.slice(0, 2), relu], ['x'], [big], 13, ['y', 'dead']), { x: [2, 3] });
    expect(used.byOp).toEqual({ Relu: 6, MatMul: 2 * 100_000 ** 3 });
  });

  it('counts what a subgraph reads from the outer scope as used', () => {
    const m = model([
      { op: 'MatMul', in: ['x', 'w'], out: ['m'] },
      { op: 'Relu', in: ['x'], out: ['unused'] },
      {
        op: 'If', in: ['cond'], out: ['y'],
        attrs: { then_branch: { node: [{ opType: 'Identity', input: ['m'], output: ['t'] }], output: [{ name: 't' }] } },
      },
    ], ['x', 'cond'], [floats('w', [3, 4])], 13, ['y']);
    const r = estimateFlops(m, { x: [2, 3], cond: [] });
    expect(r.byOp).toEqual({ MatMul: 2 * 2 * 3 * 4 });
    expect(r.unknownOps).toEqual(['If']);
  });

  it('rejects input shapes for inputs the model does not have, or malformed dims', () => {
    const m = model([{ op: 'Relu', in: ['x'], out: ['y'] }], ['x']);
    expect(() => estimateFlops(m, { z: [1] })).toThrow('the model has no input named "z"');
    expect(() => estimateFlops(m, { x: [1, -2] })).toThrow('input "x": dims must be non-negative integers, got [1,-2]');
  });
});

// ---------------------------------------------------------------------------
// real models

describe('estimateFlops on the light ONNX model zoo architectures', () => {
  const estimate = (file: string) => {
    const m = parseModel(readShared('light', file));
    return estimateFlops(m, { [modelSignature(m).inputs[0]!.name]: [1, 3, 224, 224] });
  };

  it('follows every light model completely', () => {
    const files = fs.readdirSync(path.join(onnxTestsDir(), 'light')).filter((f) => f.endsWith('.onnx'));
    expect(files.length).toBe(9);
    for (const f of files) {
      const r = estimate(f);
      expect(r.unknownOps, f).toEqual([]);
      expect(r.flops, f).toBeGreaterThan(1e8);
    }
  });

  it('puts ResNet-50 near its known 4.1 GMAC (8.2 GFLOPs)', () => {
    const r = estimate('light_resnet50.onnx');
    expect(r.flops).toBeGreaterThan(8.0e9);
    expect(r.flops).toBeLessThan(8.4e9);
    expect(r.byOp.Conv! / 2).toBeGreaterThan(4.0e9);
    expect(r.byOp.Conv! / 2).toBeLessThan(4.15e9);
  });

  it('puts AlexNet near 0.7 GMAC and VGG-19 near 19.6 GMAC', () => {
    const alex = estimate('light_bvlc_alexnet.onnx');
    expect(alex.flops / 2).toBeGreaterThan(0.6e9);
    expect(alex.flops / 2).toBeLessThan(0.75e9);
    const vgg = estimate('light_vgg19.onnx');
    expect(vgg.flops / 2).toBeGreaterThan(19.4e9);
    expect(vgg.flops / 2).toBeLessThan(19.9e9);
  });
});

describe('estimateFlops on the pytorch-converted conformance models', () => {
  function run(name: string) {
    const dir = `pytorch-converted/${name}`;
    const m = parseModel(readShared(dir, 'model.onnx'));
    const sig = modelSignature(m);
    const shapes = Object.fromEntries(sig.inputs.map((inp, i) => [inp.name, decodeTensorProto(readShared(dir, 'test_data_set_0', `input_${i}.pb`)).dims]));
    return { m, sig, shapes, est: estimateFlops(m, shapes), inferred: inferShapes(m, shapes) };
  }

  it('test_Conv2d: x [2,3,7,5], w [4,3,3,2] -> [2,4,5,4]: 2·2·4·20·3·6 + bias 160 = 5920', () => {
    expect(run('test_Conv2d').est).toEqual({ flops: 5920, byOp: { Conv: 5920 }, unknownOps: [] });
  });

  it('test_Linear: Gemm [4,10]x[10,8] + bias = 2·4·10·8 + 32', () => {
    expect(run('test_Linear').est.flops).toBe(2 * 4 * 10 * 8 + 32);
  });

  it('infers every output shape that the reference outputs have, for every case', () => {
    let checked = 0;
    for (const name of caseDirs('pytorch-converted')) {
      const { sig, est, inferred } = run(name);
      expect(est.unknownOps, name).toEqual([]);
      sig.outputs.forEach((o, i) => {
        const want = decodeTensorProto(readShared('pytorch-converted', name, 'test_data_set_0', `output_${i}.pb`)).dims;
        expect(inferred[o.name], `${name} output ${o.name}`).toEqual(want);
        checked++;
      });
    }
    expect(checked).toBeGreaterThanOrEqual(82);
  });
});
