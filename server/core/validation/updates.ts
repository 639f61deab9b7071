/**
 * Comparing two replicas of one local-steps shard: [losses, change(, scales)].
 * They started from the same weights and took the same H inner steps on the
 * same micro-batches, so their per-step losses agree within the job's loss
 * tolerance and their changes within `maxRelL2` of the larger one, beyond
 * what compression may have moved each (two rounding steps per value, from
 * the scales they sent: update-codec.ts). Tolerances: README, "Local-steps
 * training" (measured WebGPU vs WASM drift).
 */
import { type NamedTensor, type Tensor, typedView } from '../../../shared/tensor/tensor.ts';
import { type LocalStepsPlan, LOCAL_OUTPUTS } from '../../../shared/training/local-steps.ts';
import { decodeUpdate, type EncodedUpdate, sentErrorBound, type UpdateFormat, updateProblem } from '../../../shared/training/update-codec.ts';
import type { LocalStepsSpec } from '../jobs/types.ts';

export interface LocalResult {
  losses: Float32Array;
  update: EncodedUpdate;
}

/** A local-steps copy's outputs, read as the format the job asked for (shapes already checked). */
export function readLocalResult(outs: readonly NamedTensor[], format: UpdateFormat, blockSize: number): LocalResult {
  const byName = new Map(outs.map((t) => [t.name, t]));
  const need = (n: string) => {
    const t = byName.get(n);
    if (!t) throw new Error(`local-steps result has no ${n}`);
    return t;
  };
  const values = need(LOCAL_OUTPUTS.update);
  return {
    losses: typedView(need(LOCAL_OUTPUTS.losses) as Tensor & { dtype: 'float32' }),
    update: {
      format, blockSize,
      values: format === 'fp32' ? typedView(values as Tensor & { dtype: 'float32' })
        : format === 'fp16' ? typedView(values as Tensor & { dtype: 'float16' }) : typedView(values as Tensor & { dtype: 'int8' }),
      scales: format === 'fp32' ? new Float32Array(0) : typedView(need(LOCAL_OUTPUTS.scales) as Tensor & { dtype: 'float32' }),
    },
  };
}

/** Why a local-steps result is unusable on its own (non-finite losses, values or scales), or null. */
export function localResultProblem(r: LocalResult, parameters: number, steps: Pick<LocalStepsPlan, 'steps'>): string | null {
  if (r.losses.length < 1 || r.losses.length > steps.steps) return `expected at most ${steps.steps} losses, got ${r.losses.length}`;
  for (let i = 0; i < r.losses.length; i++) if (!Number.isFinite(r.losses[i]!)) return `loss of inner step ${i + 1} is ${r.losses[i]}`;
  return updateProblem(r.update, parameters);
}

function norm(x: Float32Array): number {
  let s = 0;
  for (let i = 0; i < x.length; i++) s += x[i]! * x[i]!;
  return Math.sqrt(s);
}

/** The measured distance between two replicas' changes, and the largest one tolerated. */
export function updateDistance(a: EncodedUpdate, b: EncodedUpdate, maxRelL2: number): { distance: number; allowed: number; relL2: number } {
  const da = decodeUpdate(a);
  const db = decodeUpdate(b);
  let diff = 0;
  for (let i = 0; i < da.length; i++) diff += (da[i]! - db[i]!) ** 2;
  const distance = Math.sqrt(diff);
  const scale = Math.max(norm(da), norm(db));
  return { distance, allowed: maxRelL2 * scale + sentErrorBound(a) + sentErrorBound(b), relL2: scale === 0 ? 0 : distance / scale };
}

export function localUpdateDisagreement(ls: LocalStepsSpec, maxRelL2: number, parameters: number, a: NamedTensor[], b: NamedTensor[]): string | null {
  const ra = readLocalResult(a, ls.updateFormat, ls.blockSize);
  const rb = readLocalResult(b, ls.updateFormat, ls.blockSize);
  for (const r of [ra, rb]) {
    const p = localResultProblem(r, parameters, ls);
    if (p) return p;
  }
  if (ra.losses.length !== rb.losses.length) return `${ra.losses.length} inner steps vs ${rb.losses.length}`;
  const { rtol, atol } = ls.lossTolerance;
  for (let i = 0; i < ra.losses.length; i++) {
    const x = ra.losses[i]!, y = rb.losses[i]!;
    if (Math.abs(x - y) > atol + rtol * Math.max(Math.abs(x), Math.abs(y))) return `loss of inner step ${i + 1}: ${x} vs ${y}`;
  }
  const d = updateDistance(ra.update, rb.update, maxRelL2);
  if (!(d.distance <= d.allowed)) {
    return `parameter changes disagree: distance ${d.distance.toPrecision(3)} (relative L2 ${d.relL2.toPrecision(3)}), allowed ${d.allowed.toPrecision(3)} (relative ${maxRelL2} plus the codec's rounding)`;
  }
  return null;
}
