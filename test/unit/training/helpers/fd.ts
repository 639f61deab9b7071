/**
 * Central finite differences of the forward model (run by onnxruntime-web
 * wasm, loss computed here in float64) against the train-step graph's
 * gradients (also run by onnxruntime-web wasm).
 */
import onnxProto from 'onnx-proto';
import type { Tensor } from '../../../../shared/tensor/tensor.ts';
import { buildTrainStep } from '../../../../server/training/autodiff/train-step.ts';
import type { TrainStep } from '../../../../server/training/autodiff/train-step.ts';
import { IGNORE_INDEX, type LossKind } from '../../../../server/training/autodiff/losses.ts';
import { paramsToTensors, tensorsToParams } from '../../../../server/training/params.ts';
import { createRng } from '../../../../server/training/rng.ts';
import { wasmRunner } from './ort.ts';
import { count } from './graphs.ts';

const { onnx } = onnxProto;

/** The same model with its float initializers turned into graph inputs, so one session serves every perturbation. */
export function paramsAsInputs(bytes: Uint8Array): Uint8Array {
  const m = onnx.ModelProto.decode(bytes);
  const g = m.graph!;
  const keep = [];
  for (const init of g.initializer ?? []) {
    if (init.dataType === onnx.TensorProto.DataType.FLOAT) {
      g.input!.push(onnx.ValueInfoProto.create({
        name: init.name,
        type: { tensorType: { elemType: 1, shape: { dim: (init.dims ?? []).map((d) => ({ dimValue: d })) } } },
      }));
    } else keep.push(init);
  }
  g.initializer = keep;
  return onnx.ModelProto.encode(m).finish();
}

export function floats(t: Tensor): Float32Array {
  const c = new Uint8Array(t.data.byteLength);
  c.set(t.data);
  return new Float32Array(c.buffer);
}

/** The losses as the train step defines them, in float64. */
export function referenceLoss(kind: LossKind, y: Float32Array, dims: number[], labels: Tensor): number {
  if (kind === 'mse') {
    const t = floats(labels);
    let s = 0;
    for (let i = 0; i < y.length; i++) s += (y[i]! - t[i]!) ** 2;
    return s / y.length;
  }
  // classes on the last axis; a label -100 (IGNORE_INDEX) is not scored; the mean is over scored positions
  const c = dims.at(-1)!;
  const n = y.length / c;
  const lab = new BigInt64Array(new Uint8Array(labels.data).buffer);
  let s = 0;
  let scored = 0;
  for (let i = 0; i < n; i++) {
    if (lab[i] === BigInt(IGNORE_INDEX)) continue;
    let m = -Infinity;
    for (let j = 0; j < c; j++) m = Math.max(m, y[i * c + j]!);
    let se = 0;
    for (let j = 0; j < c; j++) se += Math.exp(y[i * c + j]! - m);
    s += m + Math.log(se) - y[i * c + Number(lab[i])]!;
    scored++;
  }
  return scored ? s / scored : 0;
}

export interface ParamReport {
  name: string;
  analytic: Float32Array;
  numeric: Float32Array;
  relErr: number;
  maxAbsErr: number;
  scale: number;
}

export interface GradientCheckResult {
  step: TrainStep;
  lossGraph: number;
  lossReference: number;
  params: ParamReport[];
}

export interface GradientCheckInput {
  forward: Uint8Array;
  loss: LossKind;
  data: Tensor;
  /** Generated from the output shape when absent: int classes for cross-entropy, normals for mse. */
  labels?: Tensor;
  eps?: number;
  /** At most this many elements per parameter are perturbed (a seeded sample); default all. */
  maxElements?: number;
}

export async function gradientCheck(c: GradientCheckInput): Promise<GradientCheckResult> {
  const eps = c.eps ?? 1e-2;
  const step = buildTrainStep(c.forward, { loss: c.loss });
  const fwd = await wasmRunner(paramsAsInputs(c.forward));
  const train = await wasmRunner(step.model);
  const base = tensorsToParams(step.initialParams);
  const outName = fwd.outputNames[0]!;
  const forward = async (params: Record<string, Float32Array>) => {
    const out = await fwd.run({ ...paramsToTensors(params, step.params), [step.inputs.data]: c.data }, [outName]);
    return out[outName]!;
  };
  const y0 = await forward(base);
  const rng = createRng(7);
  const labels = c.labels ?? (c.loss === 'mse'
    ? { dtype: 'float32' as const, dims: y0.dims, data: new Uint8Array(Float32Array.from({ length: count(y0.dims) }, () => rng.normal()).buffer) }
    : { dtype: 'int64' as const, dims: [y0.dims[0]!], data: new Uint8Array(BigInt64Array.from({ length: y0.dims[0]! }, () => BigInt(rng.int(y0.dims[1]!))).buffer) });
  const lossAt = async (params: Record<string, Float32Array>) => {
    const y = await forward(params);
    return referenceLoss(c.loss, floats(y), y.dims, labels);
  };

  const res = await train.run({ ...paramsToTensors(base, step.params), [step.inputs.data]: c.data, [step.inputs.labels]: labels });
  const lossGraph = floats(res[step.outputs.loss]!)[0]!;
  const lossReference = await lossAt(base);

  const reports: ParamReport[] = [];
  for (const [k, p] of step.params.entries()) {
    const g = floats(res[step.outputs.grads[k]!]!);
    const n = count(p.dims);
    let idx = Array.from({ length: n }, (_, i) => i);
    if (c.maxElements && n > c.maxElements) {
      for (let i = n - 1; i > 0; i--) { const j = rng.int(i + 1); [idx[i], idx[j]] = [idx[j]!, idx[i]!]; }
      idx = idx.slice(0, c.maxElements).sort((a, b) => a - b);
    }
    const analytic = Float32Array.from(idx, (i) => g[i]!);
    const numeric = new Float32Array(idx.length);
    for (const [m, i] of idx.entries()) {
      const v = base[p.name]!;
      const plus = new Float32Array(v); plus[i] = v[i]! + eps;
      const minus = new Float32Array(v); minus[i] = v[i]! - eps;
      // the perturbation actually applied, after float32 rounding
      const h = plus[i]! - minus[i]!;
      numeric[m] = ((await lossAt({ ...base, [p.name]: plus })) - (await lossAt({ ...base, [p.name]: minus }))) / h;
    }
    let diff = 0, na = 0, nb = 0, maxAbs = 0, scale = 0;
    for (let m = 0; m < idx.length; m++) {
      diff += (analytic[m]! - numeric[m]!) ** 2;
      na += analytic[m]! ** 2;
      nb += numeric[m]! ** 2;
      maxAbs = Math.max(maxAbs, Math.abs(analytic[m]! - numeric[m]!));
      scale = Math.max(scale, Math.abs(numeric[m]!));
    }
    const norm = Math.sqrt(Math.max(na, nb));
    reports.push({ name: p.name, analytic, numeric, relErr: norm === 0 ? 0 : Math.sqrt(diff) / norm, maxAbsErr: maxAbs, scale });
  }
  await fwd.release();
  await train.release();
  return { step, lossGraph, lossReference, params: reports };
}
