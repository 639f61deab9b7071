/** Refusals: unsupported operators, unusable loss/output combinations, malformed batches. */
import { describe, expect, it } from 'vitest';
import onnxProto from 'onnx-proto';
import { buildTrainStep } from '../../../server/training/autodiff/train-step.ts';
import { TrainStepError, UnsupportedOpError } from '../../../server/training/autodiff/errors.ts';
import { batchProblem } from '../../../server/training/autodiff/batch-check.ts';
import { GraphBuilder, toModelBytes } from '../../../server/training/autodiff/builder.ts';
import { attr, float32Tensor } from '../../../server/training/autodiff/proto.ts';
import { buildMlp } from '../../../server/training/models.ts';
import { f32, i64, makeForward } from './helpers/graphs.ts';

const { onnx } = onnxProto;
const W = { dims: [3, 2], values: [1, 2, 3, 4, 5, 6] };

function catchError(fn: () => unknown): Error {
  try { fn(); } catch (e) { return e as Error; }
  throw new Error('expected an error');
}

describe('unsupported operators', () => {
  it('names the op type, node name, index and the supported list', () => {
    const fwd = makeForward({
      input: ['N', 3], params: { W },
      body: (b, x) => b.op('Sin', [b.op('MatMul', [x, 'W'])], {}, 'my_sine'),
    });
    const e = catchError(() => buildTrainStep(fwd, { loss: 'mse' }));
    expect(e).toBeInstanceOf(UnsupportedOpError);
    const u = e as UnsupportedOpError;
    expect(u.opType).toBe('Sin');
    expect(u.nodeIndex).toBe(1);
    expect(u.nodeName).toMatch(/^my_sine/);
    expect(u.message).toMatch(/unsupported operator Sin \(node "my_sine.*", index 1\)/);
    expect(u.message).toMatch(/supported: MatMul, Gemm/);
  });

  it('refuses other domains, grouped convolution and a used MaxPool Indices output', () => {
    const plain = makeForward({
      input: ['N', 3], params: { W },
      body: (b, x) => b.op('Relu', [b.op('MatMul', [x, 'W'])]),
    });
    const m = onnx.ModelProto.decode(plain);
    m.graph!.node![1]!.domain = 'com.microsoft';
    const custom = onnx.ModelProto.encode(m).finish();
    expect(() => buildTrainStep(custom, { loss: 'mse' })).toThrow(/unsupported operator Relu .*index 1\): domain com.microsoft is not supported/);

    const grouped = makeForward({
      input: ['N', 2, 4, 4], params: { K: { dims: [2, 1, 3, 3], values: new Float32Array(18) } },
      body: (b, x) => b.op('Conv', [x, 'K'], { group: attr.int(2) }),
    });
    expect(() => buildTrainStep(grouped, { loss: 'mse' })).toThrow(/Conv .*group=2 is not supported/);

    const indices = makeForward({
      input: ['N', 1, 4, 4], params: { P: { dims: [1, 1, 4, 4], values: new Float32Array(16) } },
      body: (b, x) => {
        const [y, idx] = b.add('MaxPool', [b.op('Add', [x, 'P'])], { kernel_shape: attr.ints([2, 2]) }, 2);
        return b.op('Add', [y!, b.op('Cast', [idx!], { to: attr.int(1) })]);
      },
    });
    expect(() => buildTrainStep(indices, { loss: 'mse' })).toThrow(/MaxPool.*Indices output is used/);
  });

  it('refuses run-time shape arithmetic feeding a Reshape', () => {
    const fwd = makeForward({
      input: ['N', 3], params: { W },
      body: (b, x) => b.op('Reshape', [b.op('MatMul', [x, 'W']), b.op('Shape', [x])]),
    });
    const e = catchError(() => buildTrainStep(fwd, { loss: 'mse' }));
    expect(e).toBeInstanceOf(UnsupportedOpError);
    expect((e as UnsupportedOpError).opType).toBe('Shape');
  });
});

describe('loss and output mismatches', () => {
  it('cross-entropy needs logits with classes last: [N, C], or [N, T, C] for a sequence', () => {
    const fwd = (body: Parameters<typeof makeForward>[0]['body']) => makeForward({
      input: ['N', 3], params: { W: { dims: [3, 4], values: new Float32Array(12) } }, body,
    });
    const flat = fwd((b, x) => b.op('ReduceSum', [b.op('MatMul', [x, 'W']), b.i64([1])], { keepdims: attr.int(0) }));
    const e = catchError(() => buildTrainStep(flat, { loss: 'cross-entropy' }));
    expect(e).toBeInstanceOf(TrainStepError);
    expect(e.message).toMatch(/cross-entropy expects the model output .* logits \[N, C\] \(or \[N, \.\.\., C\]\), but its shape is \[N\]/);
    // the same model trains with mse
    expect(buildTrainStep(flat, { loss: 'mse' }).batch.labels.dims).toEqual(['N']);
    // a sequence of 2 positions with 2 classes each: labels [N, 2]
    const seq = fwd((b, x) => b.op('Reshape', [b.op('MatMul', [x, 'W']), b.i64([0, 2, 2])]));
    expect(buildTrainStep(seq, { loss: 'cross-entropy' }).batch.labels).toEqual({ dtype: 'int64', dims: ['N', 2] });
  });

  it('names the available outputs when `output` is wrong', () => {
    expect(() => buildTrainStep(buildMlp(), { loss: 'mse', output: 'probs' })).toThrow(/"probs" is not a graph output; outputs are logits/);
  });

  it('refuses unknown losses, unsupported opsets and several data inputs', () => {
    expect(() => buildTrainStep(buildMlp(), { loss: 'hinge' as never })).toThrow(/unknown loss "hinge"/);
    const old = makeForward({ opset: 9, input: ['N', 3], params: { W }, body: (b, x) => b.op('MatMul', [x, 'W']) });
    expect(() => buildTrainStep(old, { loss: 'mse' })).toThrow(/opset 9; the train-step builder supports opsets 11-18/);

    const b = new GraphBuilder();
    b.namedInitializer('W', float32Tensor([3, 2], W.values));
    b.opNamed('Add', [b.op('MatMul', ['x', 'W']), 'y'], 'out');
    const two = toModelBytes(b, {
      inputs: [{ name: 'x', dtype: 'float32', dims: ['N', 3] }, { name: 'y', dtype: 'float32', dims: ['N', 2] }],
      outputs: [{ name: 'out', dtype: 'float32', dims: null }],
    }, { opset: 17, name: 'two' });
    expect(() => buildTrainStep(two, { loss: 'mse' })).toThrow(/exactly one data input .* found 2: x, y/);
  });

  it('refuses incompatible broadcasting with both shapes in the message', () => {
    const fwd = makeForward({
      input: ['N', 3], params: { P: { dims: [4], values: new Float32Array(4) } },
      body: (b, x) => b.op('Add', [x, 'P']),
    });
    expect(() => buildTrainStep(fwd, { loss: 'mse' })).toThrow(/cannot broadcast \[N, 3\] with \[4\]/);
  });
});

describe('batchProblem', () => {
  const step = buildTrainStep(buildMlp({ sizes: [4, 3, 2] }), { loss: 'cross-entropy' });
  it('accepts a matching batch', () => {
    expect(batchProblem(step, f32([2, 4], new Float32Array(8)), i64([2], [0, 1]))).toBeNull();
  });
  it('explains row-count, feature and dtype mismatches', () => {
    expect(batchProblem(step, f32([2, 4], new Float32Array(8)), i64([3], [0, 1, 1]))).toMatch(/labels dim 0 \(N\) is 3 but N = 2/);
    expect(batchProblem(step, f32([2, 5], new Float32Array(10)), i64([2], [0, 1]))).toMatch(/data dim 1 is 5, expected 4/);
    expect(batchProblem(step, f32([2, 4], new Float32Array(8)), f32([2], [0, 1]))).toMatch(/labels is float32\[2\], the train step needs int64/);
  });
});
