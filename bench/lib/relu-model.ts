/**
 * The benchmark's model: y = Relu(x), x and y float32 [N, width]. Trivial on
 * purpose: the coordinator never runs a job's model (only volunteers do, and
 * the bench's volunteers compute Relu themselves), so the figures measure the
 * coordinator, not onnxruntime.
 */
import { serializeModel } from '../../shared/onnx/model.ts';
import type { ModelProto, ValueInfoProto } from '../../shared/onnx/proto.ts';

export function reluModel(width: number): Uint8Array {
  const io = (name: string): ValueInfoProto => ({
    name,
    type: { tensorType: { elemType: 1, shape: { dim: [{ dimParam: 'N' }, { dimValue: width }] } } },
  });
  const model: ModelProto = {
    irVersion: 8,
    opsetImport: [{ domain: '', version: 17 }],
    producerName: 'tabgrid-bench',
    graph: { name: 'relu', node: [{ opType: 'Relu', input: ['x'], output: ['y'], name: 'relu' }], input: [io('x')], output: [io('y')] },
  };
  return serializeModel(model);
}

/**
 * Relu on little-endian float32 bytes without a Float32Array view: socket.io
 * hands over Buffers at arbitrary offsets, which typed arrays cannot view.
 * A set sign bit means a negative value (or -0), whose Relu is +0.
 */
export function reluBytes(x: Uint8Array): Uint8Array {
  const y = new Uint8Array(x);
  for (let i = 3; i < y.length; i += 4) {
    if (y[i]! & 0x80) { y[i] = 0; y[i - 1] = 0; y[i - 2] = 0; y[i - 3] = 0; }
  }
  return y;
}
