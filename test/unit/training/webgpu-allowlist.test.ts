/** Every node of every generated train-step graph is on the WebGPU∩WASM allow-list. */
import { describe, expect, it } from 'vitest';
import onnxProto from 'onnx-proto';
import { buildTrainStep } from '../../../server/training/autodiff/train-step.ts';
import { TRAIN_GRAPH_OPSET, WEBGPU_WASM_OPS, webgpuWasmProblem } from '../../../server/training/autodiff/webgpu-allowlist.ts';
import { buildCnn, buildMlp } from '../../../server/training/models.ts';
import { opCases } from './helpers/op-cases.ts';

const { onnx } = onnxProto;

function generatedGraphs(): { name: string; model: Uint8Array }[] {
  const out = opCases().map((c) => ({ name: c.name, model: buildTrainStep(c.forward, { loss: c.loss }).model }));
  for (const loss of ['cross-entropy', 'mse'] as const) {
    out.push({ name: `MLP ${loss}`, model: buildTrainStep(buildMlp(), { loss }).model });
    out.push({ name: `CNN ${loss}`, model: buildTrainStep(buildCnn(), { loss }).model });
  }
  return out;
}

describe('WebGPU/WASM allow-list', () => {
  it('holds for every node of every generated train-step graph', () => {
    const seen = new Set<string>();
    for (const g of generatedGraphs()) {
      const m = onnx.ModelProto.decode(g.model);
      expect((m.opsetImport ?? []).map((o) => [o.domain, Number(o.version)]), g.name).toEqual([['', TRAIN_GRAPH_OPSET]]);
      for (const n of m.graph?.node ?? []) {
        const op = n.opType ?? '';
        seen.add(op);
        const problem = webgpuWasmProblem(
          { op, name: n.name ?? '', inputs: n.input ?? [], outputs: n.output ?? [], attrs: {} }, TRAIN_GRAPH_OPSET, n.domain ?? '',
        );
        expect(problem, `${g.name}: node ${n.name} (${n.opType})`).toBeNull();
      }
    }
    // the forward-only ops that have no WebGPU kernel were rewritten away
    for (const op of ['LogSoftmax', 'Identity', 'Dropout', 'Constant']) expect(seen.has(op), op).toBe(false);
  });

  it('rejects what WebGPU does not run', () => {
    const node = (op: string, outputs = ['y']) => ({ op, name: 'n', inputs: ['x'], outputs, attrs: {} });
    expect(webgpuWasmProblem(node('LogSoftmax'), 17)).toMatch(/not implemented on both/);
    expect(webgpuWasmProblem(node('Identity'), 17)).toMatch(/not implemented on both/);
    expect(webgpuWasmProblem(node('OneHot'), 17)).toMatch(/not implemented on both/);
    expect(webgpuWasmProblem(node('SoftmaxCrossEntropyLossGrad'), 17, 'com.microsoft')).toMatch(/outside the ai.onnx domain/);
    expect(webgpuWasmProblem(node('MaxPool', ['y', 'indices']), 17)).toMatch(/Indices/);
    expect(webgpuWasmProblem(node('MaxPool', ['y']), 17)).toBeNull();
    expect(webgpuWasmProblem(node('Transpose'), 21)).toMatch(/opset 21/);
    expect(webgpuWasmProblem(node('Clip'), 10)).toMatch(/opset 10/);
    expect(Object.keys(WEBGPU_WASM_OPS)).not.toContain('LogSoftmax');
  });
});
