import fs from 'node:fs';
import path from 'node:path';
import onnxProto from 'onnx-proto';
import type { onnx } from 'onnx-proto';
import { describe, expect, it } from 'vitest';
import {
  initializerTensor, ModelError, modelSignature, onnxTypeName, parseModel, serializeModel,
} from '../../../shared/onnx/model.ts';
import { type NamedTensor, typedView } from '../../../shared/tensor/tensor.ts';
import { byteDiff } from './helpers.ts';
import { caseDirs, onnxTestsDir, readShared } from './shared-data.ts';

const proto = onnxProto.onnx;

const long = (v: bigint): { low: number; high: number; unsigned: boolean } => {
  const u = BigInt.asUintN(64, v);
  return { low: Number(u & 0xffffffffn) | 0, high: Number(u >> 32n) | 0, unsigned: false };
};

function tensorInfo(name: string, elemType: number, dims: Array<number | string> | null): onnx.IValueInfoProto {
  const shape = dims === null ? undefined : { dim: dims.map((d) => (typeof d === 'string' ? { dimParam: d } : { dimValue: d })) };
  return { name, type: { tensorType: { elemType, shape } } };
}

/** A small hand-built model: y = Relu(MatMul(x, w)). */
function tinyModel(): onnx.IModelProto {
  return {
    irVersion: 8,
    opsetImport: [{ domain: '', version: 17 }, { domain: 'com.microsoft', version: 1 }],
    graph: {
      name: 'tiny',
      node: [
        { opType: 'MatMul', input: ['x', 'w'], output: ['h'] },
        { opType: 'Relu', input: ['h'], output: ['r'] },
        { opType: 'FusedGemm', domain: 'com.microsoft', input: ['r', 'w'], output: ['y'] },
      ],
      initializer: [{ name: 'w', dims: [4, 4], dataType: 1, rawData: new Uint8Array(64) }],
      input: [tensorInfo('x', 1, ['batch', 4]), tensorInfo('w', 1, [4, 4]), tensorInfo('mask', 9, null)],
      output: [tensorInfo('y', 1, ['batch', 4])],
    },
  };
}

describe('parseModel on real models', () => {
  const models = [
    ...caseDirs('pytorch-converted').map((d) => `pytorch-converted/${d}/model.onnx`),
    ...caseDirs('simple').map((d) => `simple/${d}/model.onnx`),
    ...fs.readdirSync(path.join(onnxTestsDir(), 'light')).filter((f) => f.endsWith('.onnx')).map((f) => `light/${f}`),
  ];

  it('finds the models', () => {
    expect(models.length).toBe(82 + 23 + 9);
  });

  it('parses every one and reads a signature with at least one output', () => {
    for (const file of models) {
      const sig = modelSignature(parseModel(readShared(file)));
      expect(sig.outputs.length, file).toBeGreaterThan(0);
      expect(sig.irVersion, file).toBeGreaterThanOrEqual(3);
      expect(sig.opsets[''], file).toBeGreaterThan(0);
    }
  });

  it('reads test_Conv2d: input "0" float32 [2,3,7,5], weights as initializers', () => {
    const sig = modelSignature(parseModel(readShared('pytorch-converted/test_Conv2d/model.onnx')));
    expect(sig).toEqual({
      inputs: [{ name: '0', dtype: 'float32', elemType: 1, dims: [2, 3, 7, 5] }],
      outputs: [{ name: '3', dtype: 'float32', elemType: 1, dims: [2, 4, 5, 4] }],
      initializers: ['1', '2'],
      opsets: { '': 6 },
      ops: ['Conv'],
      irVersion: 3,
    });
  });

  it('leaves initializers out of the inputs of IR 3 models that list them as inputs', () => {
    const m = parseModel(readShared('light/light_resnet50.onnx'));
    expect(m.graph!.input!.length).toBeGreaterThan(100);
    const sig = modelSignature(m);
    expect(sig.inputs).toEqual([{ name: 'gpu_0/data_0', dtype: 'float32', elemType: 1, dims: [1, 3, 224, 224] }]);
    expect(sig.ops).toEqual(['AveragePool', 'BatchNormalization', 'ConstantOfShape', 'Conv', 'Gemm', 'MaxPool', 'Relu', 'Reshape', 'Softmax', 'Sum']);
  });

  it('reports unknown dims, other domains and types tabgrid cannot carry', () => {
    const seq = modelSignature(parseModel(readShared('simple/test_sequence_model1/model.onnx')));
    expect(seq.outputs[0]!.dims).toEqual([null, 3, 4]);
    const grad = modelSignature(parseModel(readShared('simple/test_gradient_of_add/model.onnx')));
    expect(grad.ops).toEqual(['Add', 'ai.onnx.preview.training::Gradient']);
    expect(grad.opsets).toEqual({ '': 12, 'ai.onnx.preview.training': 1 });
    expect(grad.inputs[0]!.dims).toEqual([]);
    const str = modelSignature(parseModel(readShared('simple/test_strnorm_model_monday_empty_output/model.onnx')));
    expect(str.inputs[0]).toEqual({ name: 'x', dtype: null, elemType: 8, dims: [2] });
  });
});

describe('modelSignature on a built model', () => {
  it('gives symbolic dims as strings, unknown rank as null, domains as prefixes', () => {
    const sig = modelSignature(parseModel(serializeModel(tinyModel())));
    expect(sig).toEqual({
      inputs: [
        { name: 'x', dtype: 'float32', elemType: 1, dims: ['batch', 4] },
        { name: 'mask', dtype: 'bool', elemType: 9, dims: null },
      ],
      outputs: [{ name: 'y', dtype: 'float32', elemType: 1, dims: ['batch', 4] }],
      initializers: ['w'],
      opsets: { '': 17, 'com.microsoft': 1 },
      ops: ['MatMul', 'Relu', 'com.microsoft::FusedGemm'],
      irVersion: 8,
    });
  });

  it('marks non-tensor values with elemType 0 and counts ops inside subgraphs', () => {
    const m = tinyModel();
    m.graph!.input!.push({ name: 'seq', type: { sequenceType: { elemType: { tensorType: { elemType: 1 } } } } });
    m.graph!.node!.push({
      opType: 'If', input: ['mask'], output: ['z'],
      attribute: [{ name: 'then_branch', type: 5, g: { node: [{ opType: 'Sigmoid', input: ['y'], output: ['z'] }] } }],
    });
    const sig = modelSignature(parseModel(serializeModel(m)));
    expect(sig.inputs[2]).toEqual({ name: 'seq', dtype: null, elemType: 0, dims: null });
    expect(sig.ops).toEqual(['If', 'MatMul', 'Relu', 'Sigmoid', 'com.microsoft::FusedGemm']);
  });
});

describe('serializeModel', () => {
  it('round-trips a real model, as a plain Uint8Array', () => {
    const bytes = readShared('light/light_squeezenet.onnx');
    const m = parseModel(bytes);
    const out = serializeModel(m);
    expect(Object.getPrototypeOf(out)).toBe(Uint8Array.prototype);
    // not byte-identical: onnx-proto is generated from onnx.proto3, so protobufjs packs the repeated
    // numbers that ONNX's proto2 serializer wrote unpacked; the content is the same
    const again = parseModel(out);
    expect(modelSignature(again)).toEqual(modelSignature(m));
    expect(again.graph!.node!.length).toBe(m.graph!.node!.length);
    m.graph!.initializer!.forEach((t, i) => {
      expect(byteDiff(initializerTensor(again.graph!.initializer![i]!).data, initializerTensor(t).data)).toBeNull();
    });
    expect(byteDiff(serializeModel(again), out)).toBeNull();
  });
});

describe('parseModel errors', () => {
  const conv = (): Uint8Array => readShared('pytorch-converted/test_Conv2d/model.onnx');

  it('rejects empty bytes', () => {
    expect(() => parseModel(new Uint8Array(0))).toThrow(new ModelError('not an ONNX model: the file is empty'));
  });

  it('rejects a truncated model', () => {
    const bytes = conv();
    for (const cut of [10, Math.floor(bytes.byteLength / 2), bytes.byteLength - 1]) {
      expect(() => parseModel(bytes.subarray(0, cut)), `cut at ${cut}`).toThrow(ModelError);
    }
    expect(() => parseModel(bytes.subarray(0, Math.floor(bytes.byteLength / 2)))).toThrow(/^truncated or not an ONNX model: index out of range/);
  });

  it('rejects bytes that are not ONNX', () => {
    expect(() => parseModel(new TextEncoder().encode('<html><body>404 Not Found</body></html>'))).toThrow(/^(truncated or )?not an ONNX model/);
    expect(() => parseModel(new Uint8Array([0xff, 0xff, 0xff]))).toThrow(ModelError);
    expect(() => parseModel(readShared('pytorch-converted/test_Conv2d/test_data_set_0/input_0.pb'))).toThrow(ModelError);
    expect(() => parseModel(new Uint8Array([0x12, 0x01, 0x41]))).toThrow('not an ONNX model: no ir_version');
  });

  it('rejects a model without a graph, without opsets, or whose graph has no outputs', () => {
    expect(() => parseModel(serializeModel({ irVersion: 8, opsetImport: [{ version: 17 }] })))
      .toThrow('not an ONNX model (or a truncated one): it has no graph');
    const noOpsets = tinyModel();
    noOpsets.opsetImport = [];
    expect(() => parseModel(serializeModel(noOpsets))).toThrow('truncated or invalid ONNX model: no opset_import');
    const noOutputs = tinyModel();
    noOutputs.graph!.output = [];
    expect(() => parseModel(serializeModel(noOutputs))).toThrow('the model graph has no outputs');
  });
});

describe('initializerTensor', () => {
  it('reads test_Conv2d weights, raw_data and all', () => {
    const m = parseModel(readShared('pytorch-converted/test_Conv2d/model.onnx'));
    const w = initializerTensor(m.graph!.initializer![0]!);
    expect(w).toMatchObject({ name: '1', dtype: 'float32', dims: [4, 3, 3, 2] });
    expect(byteDiff(w.data, m.graph!.initializer![0]!.rawData!)).toBeNull();
  });

  it('reads typed fields, whether protobufjs hands int64 over as Long or as number', () => {
    const bytes = proto.TensorProto.encode({
      name: 'shape', dims: [3], dataType: 7, int64Data: [long(-(2n ** 63n)), long(-1n), long(2n ** 62n)],
    } as onnx.ITensorProto).finish();
    const t = initializerTensor(proto.TensorProto.decode(bytes));
    expect(Array.from(typedView(t as NamedTensor & { dtype: 'int64' }))).toEqual([-(2n ** 63n), -1n, 2n ** 62n]);
    const plain = initializerTensor({ name: 'p', dims: [2], dataType: 7, int64Data: [5, -3] });
    expect(Array.from(typedView(plain as NamedTensor & { dtype: 'int64' }))).toEqual([5n, -3n]);
    const u64 = initializerTensor({ dims: [1], dataType: 13, uint64Data: [{ low: -1, high: -1, unsigned: true } as never] });
    expect(Array.from(typedView(u64 as NamedTensor & { dtype: 'uint64' }))).toEqual([2n ** 64n - 1n]);
  });

  it('applies the same rules as decodeTensorProto', () => {
    expect(() => initializerTensor({ name: 'w', dims: [2], dataType: 8, stringData: [new Uint8Array(1)] }))
      .toThrow('tensor "w": unsupported data type STRING (8)');
    expect(() => initializerTensor({ name: 'w', dims: [2], dataType: 1, rawData: new Uint8Array(4) }))
      .toThrow('tensor "w": raw_data holds 4 bytes but float32[2] needs 8');
    expect(() => initializerTensor({ name: 'w', dims: [2], dataType: 1, dataLocation: 1 }))
      .toThrow(/external file/);
    expect(onnxTypeName(16)).toBe('BFLOAT16 (16)');
  });
});
