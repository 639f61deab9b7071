/**
 * Checks a batch against a train step's declared inputs before it reaches a
 * runtime, so a mismatch reads as "labels have 63 rows, data has 64" rather
 * than a kernel error from deep inside onnxruntime.
 */
import type { Tensor } from '../../../shared/tensor/tensor.ts';
import { describe, tensorProblem } from '../../../shared/tensor/tensor.ts';
import type { TrainStep } from './train-step.ts';
import type { Dim } from './proto.ts';

function matchDims(what: string, got: number[], want: readonly Dim[], bind: Map<string, number>): string | null {
  if (got.length !== want.length) return `${what} has rank ${got.length} ([${got}]), expected [${want.join(', ')}]`;
  for (let i = 0; i < want.length; i++) {
    const w = want[i]!;
    const g = got[i]!;
    if (typeof w === 'number') {
      if (g !== w) return `${what} dim ${i} is ${g}, expected ${w} ([${got}] vs [${want.join(', ')}])`;
    } else if (/^[A-Za-z_][\w.]*$/.test(w)) {
      const seen = bind.get(w);
      if (seen === undefined) bind.set(w, g);
      else if (seen !== g) return `${what} dim ${i} (${w}) is ${g} but ${w} = ${seen} elsewhere in the batch`;
    } else {
      // a derived dim such as "2*N": check it once every symbol is bound
      const parts = w.split('*');
      let v = 1;
      for (const p of parts) {
        const n = /^\d+$/.test(p) ? Number(p) : bind.get(p);
        if (n === undefined) { v = NaN; break; }
        v *= n;
      }
      if (!Number.isNaN(v) && v !== g) return `${what} dim ${i} (${w}) is ${g}, expected ${v}`;
    }
  }
  return null;
}

/** Why `data`/`labels` cannot be fed to the train step, or null when they fit. */
export function batchProblem(step: TrainStep, data: Tensor, labels: Tensor): string | null {
  const bind = new Map<string, number>();
  for (const [what, t, spec] of [['data', data, step.batch.data], ['labels', labels, step.batch.labels]] as const) {
    const bad = tensorProblem(t);
    if (bad) return `${what}: ${bad}`;
    if (t.dtype !== spec.dtype) return `${what} is ${describe(t)}, the train step needs ${spec.dtype}`;
    const m = matchDims(what, t.dims, spec.dims, bind);
    if (m) return m;
  }
  if (data.dims[0] === 0) return 'the batch is empty';
  return null;
}
