// The in-code ONNX writer and the known-answer self-test, checked against onnxruntime-web's WASM backend in Node.
import * as ort from 'onnxruntime-web';
import { describe, expect, it } from 'vitest';
import { writeOnnxModel } from '../../../client/lib/onnx-writer.ts';
import { runSelfTest, selfTestModel } from '../../../client/worker/self-test.ts';

ort.env.wasm.numThreads = 1;
ort.env.logLevel = 'error';

describe('self-test', () => {
  it('passes on the WASM backend with a tiny error', async () => {
    const r = await runSelfTest(ort, 'wasm');
    expect(r.error).toBeUndefined();
    expect(r.ok).toBe(true);
    expect(r.maxError).toBeLessThan(1e-5);
  });

  it('builds the same model bytes every time (the known answer is fixed)', () => {
    expect(Buffer.from(selfTestModel()).equals(Buffer.from(selfTestModel()))).toBe(true);
  });

  it('reports a backend that cannot run instead of throwing', async () => {
    const r = await runSelfTest(ort, 'webgpu');
    expect(r.ok).toBe(false);
    expect(r.error).toBeTruthy();
  });
});

describe('writeOnnxModel', () => {
  it('writes a model onnxruntime loads and runs, with attributes and dynamic dims', async () => {
    const model = writeOnnxModel({
      inputs: [{ name: 'x', dims: ['batch', 3] }],
      outputs: [{ name: 'y', dims: ['batch', 3] }],
      nodes: [
        { op: 'Mul', inputs: ['x', 'two'], outputs: ['x2'] },
        { op: 'Softmax', inputs: ['x2'], outputs: ['y'], attrs: { axis: 1 } },
      ],
      initializers: [{ name: 'two', dims: [], values: new Float32Array([2]) }],
    });
    const s = await ort.InferenceSession.create(model, { executionProviders: ['wasm'] });
    const out = await s.run({ x: new ort.Tensor('float32', new Float32Array([0, 0, 0, 1, 0, 0]), [2, 3]) });
    const y = Array.from(out.y!.data as Float32Array);
    expect(y.slice(0, 3).map((v) => v.toFixed(4))).toEqual(['0.3333', '0.3333', '0.3333']);
    const e2 = Math.exp(2);
    expect(y[3]).toBeCloseTo(e2 / (e2 + 2), 5);
    await s.release();
  });
});
