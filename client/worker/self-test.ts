/**
 * Known-answer self-test: before a backend is trusted with real shards it must
 * reproduce, within tolerance, the output of a small model whose answer is
 * computed here in plain JavaScript. Catches broken drivers, miscompiled
 * shaders and precision surprises that would otherwise show up only as
 * rejected results.
 */
import type { Backend } from '../../shared/protocol/events.ts';
import type { OrtModule } from '../../shared/worker-core/ort-tensors.ts';
import { writeOnnxModel } from '../lib/onnx-writer.ts';

const ROWS = 4;
const IN = 32;
const HIDDEN = 16;
const TOLERANCE = 1e-4;

/** Deterministic pseudo-random values in [-1, 1): fixed so the known answer never changes. */
function values(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = (s / 2 ** 32) * 2 - 1;
  }
  return out;
}

const X = values(ROWS * IN, 1);
const W = values(IN * HIDDEN, 2);
const B = values(HIDDEN, 3);

/** Y = softmax(relu(X·W + B)) along the last axis, in float64. */
function expected(): Float64Array {
  const y = new Float64Array(ROWS * HIDDEN);
  for (let r = 0; r < ROWS; r++) {
    let max = -Infinity;
    for (let h = 0; h < HIDDEN; h++) {
      let acc = B[h]!;
      for (let k = 0; k < IN; k++) acc += X[r * IN + k]! * W[k * HIDDEN + h]!;
      const v = Math.max(0, acc);
      y[r * HIDDEN + h] = v;
      max = Math.max(max, v);
    }
    let sum = 0;
    for (let h = 0; h < HIDDEN; h++) sum += (y[r * HIDDEN + h] = Math.exp(y[r * HIDDEN + h]! - max));
    for (let h = 0; h < HIDDEN; h++) y[r * HIDDEN + h]! /= sum;
  }
  return y;
}

export function selfTestModel(): Uint8Array {
  return writeOnnxModel({
    inputs: [{ name: 'x', dims: ['n', IN] }],
    outputs: [{ name: 'y', dims: ['n', HIDDEN] }],
    initializers: [{ name: 'w', dims: [IN, HIDDEN], values: W }, { name: 'b', dims: [HIDDEN], values: B }],
    nodes: [
      { op: 'MatMul', inputs: ['x', 'w'], outputs: ['xw'] },
      { op: 'Add', inputs: ['xw', 'b'], outputs: ['z'] },
      { op: 'Relu', inputs: ['z'], outputs: ['r'] },
      { op: 'Softmax', inputs: ['r'], outputs: ['y'], attrs: { axis: -1 } },
    ],
  });
}

export interface SelfTestResult {
  backend: Backend;
  ok: boolean;
  ms: number;
  maxError?: number;
  error?: string;
}

export async function runSelfTest(ort: OrtModule, backend: Backend): Promise<SelfTestResult> {
  const t0 = performance.now();
  let session: Awaited<ReturnType<OrtModule['InferenceSession']['create']>> | null = null;
  try {
    session = await ort.InferenceSession.create(selfTestModel(), { executionProviders: [backend] });
    const out = await session.run({ x: new ort.Tensor('float32', X.slice(), [ROWS, IN]) });
    const y = out.y;
    if (!y || y.type !== 'float32' || y.dims.join(',') !== `${ROWS},${HIDDEN}`) {
      throw new Error(`unexpected output ${y?.type}[${y?.dims.join(',')}]`);
    }
    const got = y.data as Float32Array;
    const want = expected();
    let maxError = 0;
    for (let i = 0; i < want.length; i++) maxError = Math.max(maxError, Math.abs(got[i]! - want[i]!));
    y.dispose();
    const ms = performance.now() - t0;
    if (!(maxError <= TOLERANCE)) {
      return { backend, ok: false, ms, maxError, error: `wrong answer: max error ${maxError.toExponential(2)} exceeds ${TOLERANCE}` };
    }
    return { backend, ok: true, ms, maxError };
  } catch (e) {
    return { backend, ok: false, ms: performance.now() - t0, error: (e as Error).message ?? String(e) };
  } finally {
    await session?.release().catch(() => {});
  }
}
