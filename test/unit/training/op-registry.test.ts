/**
 * The op registry (shared/onnx/ops/) is the one table of what an op is; the
 * autodiff's gradient rules, its pass-through ops, the WebGPU∩WASM allow-list
 * and the WebGPU hazard rules must name only ops it has, and every op the
 * autodiff trains through must have the registry's shape and FLOP rules, as
 * the FLOP estimate and the autodiff's shape inference both read them.
 */
import { describe, expect, it } from 'vitest';
import { estimateFlops, inferShapes } from '../../../shared/onnx/flops.ts';
import { modelSignature, parseModel } from '../../../shared/onnx/model.ts';
import { OPS, WEBGPU_WASM_OPS, opSpec } from '../../../shared/onnx/ops/index.ts';
import { GRAD_LIMITS, GRAD_RULES, PASS_THROUGH_OPS } from '../../../server/training/autodiff/grad-rules.ts';
import { SUPPORTED_OPS } from '../../../server/training/autodiff/parse-forward.ts';
import type { LossKind } from '../../../server/training/autodiff/losses.ts';
import { buildTrainStep } from '../../../server/training/autodiff/train-step.ts';
import { TRAIN_GRAPH_OPSET } from '../../../server/training/autodiff/webgpu-allowlist.ts';
import { buildCnn, buildMlp } from '../../../server/training/models.ts';
import { type OpCase, opCases } from './helpers/op-cases.ts';

const cases = opCases();
const inputShape = (c: OpCase) => ({ [modelSignature(parseModel(c.forward)).inputs[0]!.name]: c.data.dims });

describe('the op registry and the tables keyed by op name agree', () => {
  it('every op with a gradient rule, a rule limit or a pass-through is registered', () => {
    for (const op of [...Object.keys(GRAD_RULES), ...Object.keys(GRAD_LIMITS), ...PASS_THROUGH_OPS]) {
      expect(opSpec(op), op).toBeDefined();
    }
    for (const op of Object.keys(GRAD_LIMITS)) expect(Object.keys(GRAD_RULES), op).toContain(op);
    expect([...SUPPORTED_OPS].sort()).toEqual([...Object.keys(GRAD_RULES), ...PASS_THROUGH_OPS].sort());
  });

  it('the allow-list is the registry\'s backend entries and holds every trainable op', () => {
    for (const [op, ranges] of Object.entries(WEBGPU_WASM_OPS)) {
      expect(OPS[op]?.webgpuWasm, op).toBe(ranges);
    }
    // every trainable op runs on both backends at the train-step opset, except those emit-forward.ts writes out in others
    for (const op of Object.keys(GRAD_RULES)) {
      if (op === 'LogSoftmax' || op === 'LayerNormalization') continue;
      expect(WEBGPU_WASM_OPS[op]?.some(([a, b]) => TRAIN_GRAPH_OPSET >= a && TRAIN_GRAPH_OPSET <= b), op).toBe(true);
    }
  });

  it('every trainable op has shapes and FLOPs: the FLOP estimate follows each op case completely', () => {
    const covered = new Set<string>();
    for (const c of cases) {
      const m = parseModel(c.forward);
      const shapes = inputShape(c);
      const est = estimateFlops(m, shapes);
      expect(est.unknownOps, c.name).toEqual([]);
      const inferred = inferShapes(m, shapes);
      for (const n of m.graph?.node ?? []) {
        for (const o of n.output ?? []) expect(inferred[o], `${c.name}: ${n.opType} output ${o}`).toBeDefined();
        covered.add(n.opType ?? '');
      }
      // compute ops count FLOPs; only data movement is free
      for (const op of Object.keys(est.byOp)) expect(est.byOp[op], `${c.name}: ${op}`).toBeGreaterThan(0);
    }
    const free = new Set(['Reshape', 'Flatten', 'Transpose', 'Concat', 'Dropout', 'Identity', 'Constant', 'Gather', 'Slice', 'Split', 'Cast']);
    for (const op of Object.keys(GRAD_RULES)) {
      expect(covered, op).toContain(op);
      if (!free.has(op)) {
        const withFlops = cases.some((c) => (estimateFlops(parseModel(c.forward), inputShape(c)).byOp[op] ?? 0) > 0);
        expect(withFlops, `${op} counts FLOPs in some case`).toBe(true);
      }
    }
  });

  it('the FLOP estimate follows every generated train-step graph (batch 3)', () => {
    const graphs: Array<{ name: string; fwd: Uint8Array; loss: LossKind }> = [
      { name: 'MLP', fwd: buildMlp(), loss: 'cross-entropy' }, { name: 'CNN', fwd: buildCnn(), loss: 'cross-entropy' },
      ...cases.map((c) => ({ name: c.name, fwd: c.forward, loss: c.loss })),
    ];
    for (const { name, fwd, loss } of graphs) {
      const step = buildTrainStep(fwd, { loss });
      // symbolic dims are products such as "N" or "2*N"; N = 3
      const bind = (dims: ReadonlyArray<number | string>) => dims.map((d) => (typeof d === 'number'
        ? d : d.split('*').reduce((p, f) => p * (/^\d+$/.test(f) ? Number(f) : 3), 1)));
      const shapes: Record<string, number[]> = {
        [step.inputs.data]: bind(step.batch.data.dims),
        [step.inputs.labels]: bind(step.batch.labels.dims),
        ...Object.fromEntries(step.params.map((p) => [p.name, p.dims])),
      };
      const est = estimateFlops(parseModel(step.model), shapes);
      expect(est.unknownOps, name).toEqual([]);
      expect(est.flops, name).toBeGreaterThan(0);
    }
  });
});
