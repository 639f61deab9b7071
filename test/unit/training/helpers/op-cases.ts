/**
 * One small forward graph per operator variant the autodiff supports, with
 * inputs chosen so central differences are meaningful: data for ReLU-like ops
 * stays away from the kink, max-pool inputs are distinct by more than 2*eps,
 * divisors stay away from zero. Shared by the finite-difference test and the
 * allow-list test.
 */
import type { Tensor } from '../../../../shared/tensor/tensor.ts';
import { attr } from '../../../../server/training/autodiff/proto.ts';
import type { Attrs } from '../../../../server/training/autodiff/proto.ts';
import type { LossKind } from '../../../../server/training/autodiff/losses.ts';
import { awayFromZero, createRng, distinct, f32, makeForward, normal, uniform } from './graphs.ts';
import type { GraphBuilder } from '../../../../server/training/autodiff/builder.ts';
import { float32Tensor } from '../../../../server/training/autodiff/proto.ts';
import { buildTransformer } from '../../../../server/training/transformer.ts';

export interface OpCase {
  name: string;
  /** ops whose gradient rule the case exercises */
  covers: string[];
  loss: LossKind;
  forward: Uint8Array;
  data: Tensor;
  maxElements?: number;
  /** Labels when the default (random classes [N] or normals) does not fit the output. */
  labels?: Tensor;
  /** Finite-difference step when the default 1e-2 meets too much curvature (deep models). */
  eps?: number;
}

const N = 3;

export function opCases(): OpCase[] {
  const rng = createRng(1234);
  const p = (dims: number[], values?: ArrayLike<number>) => ({ dims, values: values ?? normal(rng, dims, 0.5) });
  const cases: OpCase[] = [];
  const add = (c: OpCase) => cases.push(c);

  // ---- MatMul
  add({
    name: 'MatMul 2-D [N,4] x [4,3]', covers: ['MatMul'], loss: 'mse',
    forward: makeForward({ input: ['N', 4], params: { W: p([4, 3]) }, body: (b, x) => b.op('MatMul', [x, 'W']) }),
    data: f32([N, 4], normal(rng, [N, 4])),
  });
  add({
    name: 'MatMul batched with broadcast batch dims: [N,2,4]x[4,3], x[1,3,5], [N,1,2,5]x[3,5,2]', covers: ['MatMul'], loss: 'mse',
    forward: makeForward({
      input: ['N', 2, 4], params: { W: p([4, 3]), V: p([1, 3, 5]), U: p([3, 5, 2]) },
      body: (b, x) => {
        const h = b.op('MatMul', [b.op('MatMul', [x, 'W']), 'V']); // [N,2,5]
        return b.op('MatMul', [b.op('Reshape', [h, b.i64([0, 1, 2, 5])]), 'U']); // [N,3,2,2]
      },
    }),
    data: f32([N, 2, 4], normal(rng, [N, 2, 4])),
  });
  add({
    name: 'MatMul with 1-D operands: [N,4] x [4] and [4] x [N,4,3]', covers: ['MatMul'], loss: 'mse',
    forward: makeForward({
      input: ['N', 4, 3], params: { u: p([4]), v: p([3]) },
      body: (b, x) => {
        const left = b.op('MatMul', ['u', x]); // [N,3]
        return b.op('MatMul', [left, 'v']); // [N]
      },
    }),
    data: f32([N, 4, 3], normal(rng, [N, 4, 3])),
  });

  // ---- Gemm, every transpose combination, alpha/beta, broadcast bias shapes
  const gemmVariants: { tA: number; tB: number; c: number[] | null }[] = [
    { tA: 0, tB: 0, c: [3] },
    { tA: 1, tB: 0, c: [1, 3] },
    { tA: 0, tB: 1, c: [] },
    { tA: 1, tB: 1, c: null },
  ];
  for (const v of gemmVariants) {
    add({
      name: `Gemm transA=${v.tA} transB=${v.tB} alpha=0.7 beta=1.3 C=${v.c ? `[${v.c}]` : 'none'}`, covers: ['Gemm'], loss: 'mse',
      forward: makeForward({
        input: ['N', 4],
        params: { S: p([4]), W: p(v.tB ? [3, 4] : [4, 3]), ...(v.c ? { C: p(v.c) } : {}) },
        body: (b, x) => {
          const scaled = b.op('Mul', [x, 'S']);
          const a = v.tA ? b.op('Transpose', [scaled], { perm: attr.ints([1, 0]) }) : scaled;
          return b.op('Gemm', [a, 'W', ...(v.c ? ['C'] : [])], {
            transA: attr.int(v.tA), transB: attr.int(v.tB), alpha: attr.float(0.7), beta: attr.float(1.3),
          });
        },
      }),
      data: f32([N, 4], normal(rng, [N, 4])),
    });
  }

  // ---- broadcasting arithmetic
  add({
    name: 'Add/Mul broadcasting [N,3]*[3]+[3]', covers: ['Add', 'Mul'], loss: 'mse',
    forward: makeForward({
      input: ['N', 3], params: { S: p([3]), B: p([3]) },
      body: (b, x) => b.op('Add', [b.op('Mul', [x, 'S']), 'B']),
    }),
    data: f32([N, 3], normal(rng, [N, 3])),
  });
  add({
    name: 'Add/Mul broadcasting [N,1]*[1,4] and [1,1]', covers: ['Add', 'Mul'], loss: 'mse',
    forward: makeForward({
      input: ['N', 1], params: { a: p([1, 1]), B: p([1, 4]) },
      body: (b, x) => b.op('Mul', [b.op('Add', [x, 'a']), 'B']),
    }),
    data: f32([N, 1], normal(rng, [N, 1])),
  });
  add({
    name: 'Sub/Mul with scalars and a param on the left', covers: ['Sub', 'Mul'], loss: 'mse',
    forward: makeForward({
      input: ['N', 3], params: { s: p([]), t: p([]), P: p([3]) },
      body: (b, x) => b.op('Sub', ['P', b.op('Mul', [b.op('Sub', [x, 's']), 't'])]),
    }),
    data: f32([N, 3], normal(rng, [N, 3])),
  });
  add({
    name: 'Div numerator and broadcast denominator', covers: ['Div'], loss: 'mse',
    forward: makeForward({
      input: ['N', 3], params: { P: p([3]), Q: p([1, 3], uniform(rng, [3], 0.5, 1)), R: p([3]) },
      body: (b, x) => {
        const num = b.op('Mul', [x, 'P']);
        const den = b.op('Add', [x, 'Q']); // x in [1,2] -> den >= 1.5
        return b.op('Div', [b.op('Div', [num, den]), b.op('Add', [b.op('Mul', ['R', 'R']), b.f32(1)])]);
      },
    }),
    data: f32([N, 3], uniform(rng, [N, 3], 1, 2)),
  });
  add({
    name: 'tensor used twice (x*x, x+x): gradients accumulate', covers: ['Mul', 'Add'], loss: 'mse',
    forward: makeForward({
      input: ['N', 3], params: { W: p([3, 3]) },
      body: (b, x) => {
        const a = b.op('MatMul', [x, 'W']);
        return b.op('Add', [b.op('Mul', [a, a]), b.op('Add', [a, a])]);
      },
    }),
    data: f32([N, 3], normal(rng, [N, 3])),
  });

  // ---- activations
  add({
    name: 'Relu', covers: ['Relu'], loss: 'mse',
    forward: makeForward({
      input: ['N', 4], params: { b: p([4], uniform(rng, [4], -0.05, 0.05)), W: p([4, 2]) },
      body: (b, x) => b.op('MatMul', [b.op('Relu', [b.op('Add', [x, 'b'])]), 'W']),
    }),
    data: f32([N, 4], awayFromZero(rng, [N, 4])),
  });
  add({
    name: 'LeakyRelu alpha=0.2', covers: ['LeakyRelu'], loss: 'mse',
    forward: makeForward({
      input: ['N', 4], params: { b: p([4], uniform(rng, [4], -0.05, 0.05)), W: p([4, 2]) },
      body: (b, x) => b.op('MatMul', [b.op('LeakyRelu', [b.op('Add', [x, 'b'])], { alpha: attr.float(0.2) }), 'W']),
    }),
    data: f32([N, 4], awayFromZero(rng, [N, 4])),
  });
  for (const op of ['Sigmoid', 'Tanh']) {
    add({
      name: op, covers: [op], loss: 'mse',
      forward: makeForward({
        input: ['N', 4], params: { W: p([4, 3]), c: p([3]) },
        body: (b, x) => b.op(op, [b.op('Add', [b.op('MatMul', [x, 'W']), 'c'])]),
      }),
      data: f32([N, 4], normal(rng, [N, 4])),
    });
  }
  for (const op of ['Softmax', 'LogSoftmax']) {
    add({
      name: `${op} last axis`, covers: [op], loss: 'mse',
      forward: makeForward({
        input: ['N', 4], params: { W: p([4, 5]) },
        body: (b, x) => b.op(op, [b.op('MatMul', [x, 'W'])], { axis: attr.int(-1) }),
      }),
      data: f32([N, 4], normal(rng, [N, 4])),
    });
    add({
      name: `${op} middle axis of [N,3,4]`, covers: [op], loss: 'mse',
      forward: makeForward({
        input: ['N', 3, 2], params: { W: p([2, 4]) },
        body: (b, x) => b.op(op, [b.op('MatMul', [x, 'W'])], { axis: attr.int(1) }),
      }),
      data: f32([N, 3, 2], normal(rng, [N, 3, 2])),
    });
  }

  // ---- shape ops
  add({
    name: 'Reshape with 0 and -1', covers: ['Reshape'], loss: 'mse',
    forward: makeForward({
      input: ['N', 4], params: { W: p([4, 6]), P: p([2, 3]) },
      body: (b, x) => {
        const r = b.op('Reshape', [b.op('MatMul', [x, 'W']), b.i64([0, 2, -1])]);
        return b.op('Mul', [r, 'P']);
      },
    }),
    data: f32([N, 4], normal(rng, [N, 4])),
  });
  add({
    name: 'Flatten axis=1', covers: ['Flatten'], loss: 'mse',
    forward: makeForward({
      input: ['N', 2, 3], params: { P: p([2, 3]), W: p([6, 2]) },
      body: (b, x) => b.op('MatMul', [b.op('Flatten', [b.op('Mul', [x, 'P'])], { axis: attr.int(1) }), 'W']),
    }),
    data: f32([N, 2, 3], normal(rng, [N, 2, 3])),
  });
  add({
    name: 'Transpose perm [0,2,1]', covers: ['Transpose'], loss: 'mse',
    forward: makeForward({
      input: ['N', 2, 3], params: { P: p([2, 3]), Q: p([3, 2]) },
      body: (b, x) => b.op('Mul', [b.op('Transpose', [b.op('Mul', [x, 'P'])], { perm: attr.ints([0, 2, 1]) }), 'Q']),
    }),
    data: f32([N, 2, 3], normal(rng, [N, 2, 3])),
  });
  add({
    name: 'Concat along a static axis', covers: ['Concat'], loss: 'mse',
    forward: makeForward({
      input: ['N', 3], params: { P: p([3]), W: p([3, 2]), Q: p([5]) },
      body: (b, x) => b.op('Mul', [b.op('Concat', [b.op('Mul', [x, 'P']), b.op('MatMul', [x, 'W'])], { axis: attr.int(1) }), 'Q']),
    }),
    data: f32([N, 3], normal(rng, [N, 3])),
  });
  add({
    name: 'Concat along the symbolic batch axis', covers: ['Concat'], loss: 'mse',
    forward: makeForward({
      input: ['N', 3], params: { P: p([3]), W: p([3, 3]) },
      body: (b, x) => b.op('Concat', [b.op('Mul', [x, 'P']), b.op('MatMul', [x, 'W'])], { axis: attr.int(0) }),
    }),
    data: f32([N, 3], normal(rng, [N, 3])),
  });
  add({
    name: 'ReduceMean axes=[1] keepdims=0 and over the batch axis', covers: ['ReduceMean'], loss: 'mse',
    forward: makeForward({
      input: ['N', 3, 4], params: { P: p([3, 4]), Q: p([4]) },
      body: (b, x) => {
        const m = b.op('ReduceMean', [b.op('Mul', [x, 'P'])], { axes: attr.ints([1]), keepdims: attr.int(0) }); // [N,4]
        const overBatch = b.op('ReduceMean', [b.op('Mul', [m, m])], { axes: attr.ints([0]), keepdims: attr.int(1) }); // [1,4]
        return b.op('Add', [b.op('Mul', [m, 'Q']), overBatch]);
      },
    }),
    data: f32([N, 3, 4], normal(rng, [N, 3, 4])),
  });
  add({
    name: 'ReduceSum axes=[-1] keepdims=1 and all axes', covers: ['ReduceSum'], loss: 'mse',
    forward: makeForward({
      input: ['N', 3, 4], params: { P: p([3, 4]), Q: p([3, 1]) },
      body: (b, x) => {
        const px = b.op('Mul', [x, 'P']);
        const s = b.op('ReduceSum', [px, b.i64([-1])], { keepdims: attr.int(1) }); // [N,3,1]
        const all = b.op('ReduceSum', [b.op('Mul', [px, px])], { keepdims: attr.int(0) }); // scalar
        return b.op('Add', [b.op('Mul', [s, 'Q']), all]);
      },
    }),
    data: f32([N, 3, 4], normal(rng, [N, 3, 4])),
  });

  // ---- convolution
  add({
    name: 'Conv stride 2, pads 1, bias, leftover row (H=6)', covers: ['Conv'], loss: 'mse',
    forward: makeForward({
      input: ['N', 2, 6, 6], params: { S: p([1, 2, 6, 6]), W: p([3, 2, 3, 3]), B: p([3]) },
      body: (b, x) => b.op('Conv', [b.op('Mul', [x, 'S']), 'W', 'B'], {
        kernel_shape: attr.ints([3, 3]), strides: attr.ints([2, 2]), pads: attr.ints([1, 1, 1, 1]),
      }),
    }),
    data: f32([2, 2, 6, 6], normal(rng, [2, 2, 6, 6])),
    maxElements: 40,
  });
  add({
    name: 'Conv asymmetric pads, strides [1,2], dilations 2', covers: ['Conv'], loss: 'mse',
    forward: makeForward({
      input: ['N', 1, 7, 8], params: { S: p([1, 1, 7, 8]), W: p([2, 1, 2, 3]) },
      body: (b, x) => b.op('Conv', [b.op('Mul', [x, 'S']), 'W'], {
        strides: attr.ints([1, 2]), dilations: attr.ints([2, 2]), pads: attr.ints([0, 1, 2, 0]),
      }),
    }),
    data: f32([2, 1, 7, 8], normal(rng, [2, 1, 7, 8])),
    maxElements: 40,
  });
  add({
    name: 'Conv auto_pad SAME_UPPER stride 2', covers: ['Conv'], loss: 'mse',
    forward: makeForward({
      input: ['N', 2, 5, 5], params: { W: p([2, 2, 3, 3]), B: p([2]) },
      body: (b, x) => b.op('Conv', [x, 'W', 'B'], { auto_pad: attr.string('SAME_UPPER'), strides: attr.ints([2, 2]) }),
    }),
    data: f32([2, 2, 5, 5], normal(rng, [2, 2, 5, 5])),
  });

  // ---- pooling (per-element parameters so every routing decision shows in the gradient)
  const pool = (name: string, op: 'MaxPool' | 'AveragePool', hw: [number, number], attrs: Attrs) => {
    const dims = [1, 2, ...hw];
    add({
      name, covers: [op], loss: 'mse',
      forward: makeForward({
        input: ['N', 2, ...hw],
        params: { P: p(dims, op === 'MaxPool' ? new Float32Array(dims.reduce((a, b) => a * b, 1)) : uniform(rng, dims, 0.5, 1.5)) },
        body: (b, x) => b.op(op, [b.op(op === 'MaxPool' ? 'Add' : 'Mul', [x, 'P'])], attrs),
      }),
      data: f32([2, 2, ...hw], op === 'MaxPool' ? distinct(rng, [2, 2, ...hw]) : normal(rng, [2, 2, ...hw])),
    });
  };
  pool('MaxPool 2x2 stride 2', 'MaxPool', [4, 6], { kernel_shape: attr.ints([2, 2]), strides: attr.ints([2, 2]) });
  pool('MaxPool 3x3 stride 2 pads 1 (overlapping, padded)', 'MaxPool', [5, 6], {
    kernel_shape: attr.ints([3, 3]), strides: attr.ints([2, 2]), pads: attr.ints([1, 1, 1, 1]),
  });
  pool('MaxPool 2x2 stride 2 ceil_mode', 'MaxPool', [5, 5], {
    kernel_shape: attr.ints([2, 2]), strides: attr.ints([2, 2]), ceil_mode: attr.int(1),
  });
  pool('MaxPool 2x2 dilation 2 stride 1', 'MaxPool', [5, 5], {
    kernel_shape: attr.ints([2, 2]), dilations: attr.ints([2, 2]),
  });
  pool('AveragePool 3x3 stride 2 pads 1 count_include_pad=0', 'AveragePool', [5, 6], {
    kernel_shape: attr.ints([3, 3]), strides: attr.ints([2, 2]), pads: attr.ints([1, 1, 1, 1]), count_include_pad: attr.int(0),
  });
  pool('AveragePool 3x3 stride 2 pads 1 count_include_pad=1', 'AveragePool', [5, 6], {
    kernel_shape: attr.ints([3, 3]), strides: attr.ints([2, 2]), pads: attr.ints([1, 1, 1, 1]), count_include_pad: attr.int(1),
  });
  pool('AveragePool 2x2 stride 2 ceil_mode', 'AveragePool', [5, 5], {
    kernel_shape: attr.ints([2, 2]), strides: attr.ints([2, 2]), ceil_mode: attr.int(1),
  });
  add({
    name: 'GlobalAveragePool', covers: ['GlobalAveragePool'], loss: 'mse',
    forward: makeForward({
      input: ['N', 2, 3, 4], params: { P: p([1, 2, 3, 4]) },
      body: (b, x) => b.op('GlobalAveragePool', [b.op('Mul', [x, 'P'])]),
    }),
    data: f32([N, 2, 3, 4], normal(rng, [N, 2, 3, 4])),
  });

  // ---- pass-through ops
  add({
    name: 'Dropout, Identity and Constant pass through', covers: ['Dropout', 'Identity', 'Constant'], loss: 'mse',
    forward: makeForward({
      input: ['N', 3], params: { W: p([3, 2]) },
      body: (b, x) => {
        const [d] = b.add('Dropout', [b.op('MatMul', [x, 'W'])], { seed: attr.int(1) }, 2);
        const c = b.op('Constant', [], { value: attr.tensor(f32([2], [2, -3])) });
        return b.op('Mul', [b.op('Identity', [d!]), c]);
      },
    }),
    data: f32([N, 3], normal(rng, [N, 3])),
  });

  // ---- losses
  add({
    name: 'cross-entropy on Gemm logits', covers: ['Gemm', 'cross-entropy'], loss: 'cross-entropy',
    forward: makeForward({
      input: ['N', 4], params: { W: p([5, 4]), B: p([5]) },
      body: (b, x) => b.op('Gemm', [x, 'W', 'B'], { transB: attr.int(1) }),
    }),
    data: f32([4, 4], normal(rng, [4, 4])),
  });
  add({
    name: 'mse on a [N,2,2] output', covers: ['mse'], loss: 'mse',
    forward: makeForward({
      input: ['N', 2, 2], params: { P: p([2, 2]) },
      body: (b, x) => b.op('Mul', [x, 'P']),
    }),
    data: f32([N, 2, 2], normal(rng, [N, 2, 2])),
  });

  // ---- older / newer forward opsets normalised to the opset-17 train graph
  add({
    name: 'opset 11 forward: ReduceSum axes attribute, legacy Softmax', covers: ['ReduceSum', 'Softmax'], loss: 'mse',
    forward: makeForward({
      opset: 11, input: ['N', 3], params: { W: p([3, 4]) },
      body: (b, x) => {
        const s = b.op('Softmax', [b.op('MatMul', [x, 'W'])], { axis: attr.int(1) });
        return b.op('ReduceSum', [b.op('Mul', [s, s])], { axes: attr.ints([1]), keepdims: attr.int(1) });
      },
    }),
    data: f32([N, 3], normal(rng, [N, 3])),
  });
  add({
    name: 'opset 18 forward: ReduceMean axes input', covers: ['ReduceMean'], loss: 'mse',
    forward: makeForward({
      opset: 18, input: ['N', 3, 2], params: { P: p([3, 2]) },
      body: (b, x) => b.op('ReduceMean', [b.op('Mul', [x, 'P']), b.i64([1])], { keepdims: attr.int(0) }),
    }),
    data: f32([N, 3, 2], normal(rng, [N, 3, 2])),
  });

  // ---- transformer ops (float constants are Constant nodes: float initializers are trained)
  const fconst = (b: GraphBuilder, dims: number[], values: ArrayLike<number>) =>
    b.add('Constant', [], { value: attr.tensor(float32Tensor(dims, values)) }, 1, 'c')[0]!;
  add({
    name: 'Gather embeddings of float token ids (Cast to int64), [5,4] table, ids [N,3]', covers: ['Gather', 'Cast'], loss: 'mse',
    forward: makeForward({
      input: ['N', 3], params: { E: p([5, 4]), W: p([4, 2]) },
      body: (b, x) => b.op('MatMul', [b.op('Gather', ['E', b.op('Cast', [x], { to: attr.int(7) })], { axis: attr.int(0) }), 'W']),
    }),
    data: f32([N, 3], [0, 1, 4, 4, 2, 0, 3, 3, 1]), // repeated ids: their gradients add up
  });
  add({
    name: 'GELU (erf form) 0.5·x·(1 + erf(x/√2))', covers: ['Erf'], loss: 'mse',
    forward: makeForward({
      input: ['N', 4], params: { W: p([4, 3]) },
      body: (b, x) => {
        const f = b.op('MatMul', [x, 'W']);
        const e = b.op('Erf', [b.op('Mul', [f, fconst(b, [], [Math.SQRT1_2])])]);
        return b.op('Mul', [b.op('Mul', [f, fconst(b, [], [0.5])]), b.op('Add', [e, fconst(b, [], [1])])]);
      },
    }),
    data: f32([N, 4], normal(rng, [N, 4])),
  });
  add({
    name: 'LayerNormalization over the last axis and over the last two (axis=1), scale and bias', covers: ['LayerNormalization'], loss: 'mse',
    forward: makeForward({
      input: ['N', 2, 5], params: { W: p([5, 5]), g: p([5], uniform(rng, [5], 0.5, 1.5)), c: p([5]), g2: p([2, 5], uniform(rng, [10], 0.5, 1.5)) },
      body: (b, x) => {
        const h = b.op('LayerNormalization', [b.op('MatMul', [x, 'W']), 'g', 'c'], { axis: attr.int(-1), epsilon: attr.float(1e-5) });
        const k = b.op('LayerNormalization', [b.op('Mul', [h, x]), 'g2'], { axis: attr.int(1) });
        return b.op('Mul', [k, x]);
      },
    }),
    data: f32([N, 2, 5], normal(rng, [N, 2, 5])),
  });
  const maskBits = new Uint8Array([1, 0, 0, 1, 1, 0, 1, 1, 1]);
  add({
    name: 'Where with a constant boolean (causal) mask, both branches trained', covers: ['Where'], loss: 'mse',
    forward: makeForward({
      input: ['N', 3, 3], params: { A: p([3, 3]), B: p([1, 3]) },
      body: (b, x) => b.op('Where', [b.constant({ dtype: 'bool', dims: [3, 3], data: maskBits }, 'mask'), b.op('Mul', [x, 'A']), 'B']),
    }),
    data: f32([N, 3, 3], normal(rng, [N, 3, 3])),
  });
  add({
    name: 'Sqrt and Pow with a trained exponent (positive base)', covers: ['Sqrt', 'Pow'], loss: 'mse',
    forward: makeForward({
      input: ['N', 3], params: { P: p([3], uniform(rng, [3], 0.5, 1)), e: p([], [1.5]) },
      body: (b, x) => {
        const base = b.op('Add', [b.op('Mul', [x, x]), b.op('Mul', ['P', 'P'])]); // > 0
        return b.op('Add', [b.op('Sqrt', [base]), b.op('Pow', [base, 'e'])]);
      },
    }),
    data: f32([N, 3], normal(rng, [N, 3])),
  });
  add({
    name: 'Slice [1:4] of axis 1 and a negative-bounded slice of axis 2', covers: ['Slice'], loss: 'mse',
    forward: makeForward({
      input: ['N', 5, 4], params: { W: p([4, 4]) },
      body: (b, x) => b.op('Slice', [b.op('MatMul', [x, 'W']), b.i64([1, -3]), b.i64([4, 100]), b.i64([1, -1])]),
    }),
    data: f32([N, 5, 4], normal(rng, [N, 5, 4])),
  });
  add({
    name: 'Split [2,4] of axis 1 (opset 17 sizes input), and an opset 18 split whose second part is unused', covers: ['Split'], loss: 'mse',
    forward: makeForward({
      input: ['N', 6], params: { W: p([6, 6]), U: p([2, 3]), V: p([4, 3]) },
      body: (b, x) => {
        const [a, c] = b.add('Split', [b.op('MatMul', [x, 'W']), b.i64([2, 4])], { axis: attr.int(1) }, 2);
        return b.op('Add', [b.op('MatMul', [a!, 'U']), b.op('MatMul', [c!, 'V'])]);
      },
    }),
    data: f32([N, 6], normal(rng, [N, 6])),
  });
  add({
    name: 'opset 18 Split by num_outputs, second part unused', covers: ['Split'], loss: 'mse',
    forward: makeForward({
      opset: 18, input: ['N', 4], params: { W: p([4, 4]) },
      body: (b, x) => b.add('Split', [b.op('MatMul', [x, 'W'])], { axis: attr.int(1), num_outputs: attr.int(2) }, 2)[0]!,
    }),
    data: f32([N, 4], normal(rng, [N, 4])),
  });
  add({
    name: 'causal attention: batched MatMul of activations over [N,2,3,3] scores, Transpose, additive mask, Softmax last axis',
    covers: ['MatMul', 'Transpose', 'Softmax', 'Reshape'], loss: 'mse',
    forward: makeForward({
      input: ['N', 3, 4], params: { Q: p([4, 4]), K: p([4, 4]), Vw: p([4, 4]) },
      body: (b, x) => {
        const heads = (w: string) => b.op('Transpose', [b.op('Reshape', [b.op('MatMul', [x, w]), b.i64([0, 3, 2, 2])])], { perm: attr.ints([0, 2, 1, 3]) });
        const mask = fconst(b, [3, 3], [0, -1e9, -1e9, 0, 0, -1e9, 0, 0, 0]);
        const scores = b.op('Add', [b.op('MatMul', [heads('Q'), b.op('Transpose', [heads('K')], { perm: attr.ints([0, 1, 3, 2]) })]), mask]);
        const att = b.op('Softmax', [scores], { axis: attr.int(-1) });
        return b.op('Reshape', [b.op('Transpose', [b.op('MatMul', [att, heads('Vw')])], { perm: attr.ints([0, 2, 1, 3]) }), b.i64([0, 3, 4])]);
      },
    }),
    data: f32([N, 3, 4], normal(rng, [N, 3, 4])),
  });
  add({
    name: 'sequence cross-entropy on [N,4,5] logits with ignored positions (label -100)', covers: ['cross-entropy'], loss: 'cross-entropy',
    forward: makeForward({
      input: ['N', 4, 3], params: { W: p([3, 5]) },
      body: (b, x) => b.op('MatMul', [x, 'W']),
    }),
    data: f32([N, 4, 3], normal(rng, [N, 4, 3])),
    labels: { dtype: 'int64', dims: [N, 4], data: new Uint8Array(BigInt64Array.from([-100, 2, 0, 4, -100, -100, 1, 3, 4, 4, -100, 0].map(BigInt)).buffer) },
  });
  add({
    name: 'the demo transformer, shrunk (1 layer, width 8, 2 heads, length 4, vocab 5)', covers: ['Gather', 'LayerNormalization', 'Erf', 'cross-entropy'],
    loss: 'cross-entropy',
    forward: buildTransformer({ vocab: 5, length: 4, width: 8, heads: 2, layers: 1, seed: 3, initStd: 0.3 }), // gradients well above noise
    data: f32([N, 4], [0, 1, 2, 3, 4, 4, 0, 1, 2, 2, 2, 3]),
    labels: { dtype: 'int64', dims: [N, 4], data: new Uint8Array(BigInt64Array.from([-100, -100, 3, 1, -100, 0, 0, 2, -100, -100, 4, 4].map(BigInt)).buffer) },
    maxElements: 12,
    // dozens of ops deep, 1e-2 steps see the curvature (1.2 % off for pos_emb); central differences shrink it as eps²
    eps: 3e-3,
  });
  return cases;
}
