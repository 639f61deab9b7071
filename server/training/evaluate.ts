/**
 * Held-out evaluation: the coordinator runs the forward model itself on the
 * records it kept aside, so accuracy never depends on what volunteers report.
 */
import type * as Ort from 'onnxruntime-web';
import { gatherRecords, type Tensor, typedView } from '../../shared/tensor/tensor.ts';
import { fromOrtTensor, toOrtTensor } from '../../shared/worker-core/ort-tensors.ts';
import { IGNORE_INDEX } from './autodiff/losses.ts';

export interface Score {
  /**
   * Records predicted right (cross-entropy only): the top-1 class, or for a
   * sequence (labels [N, T]) every scored position, i.e. exact match.
   */
  correct: number;
  /** Summed per-record loss (a sequence's: the mean over its scored positions). */
  lossSum: number;
}

/**
 * Scores one batch of model outputs against its labels: class ids for
 * cross-entropy, one per record or per position of a sequence (classes on the
 * outputs' last axis, IGNORE_INDEX positions skipped), targets for MSE.
 */
export function scoreBatch(outputs: Float32Array, labels: Tensor, loss: 'cross-entropy' | 'mse', records: number): Score {
  let correct = 0;
  let lossSum = 0;
  if (loss === 'cross-entropy') {
    const l = typedView(labels as Tensor & { dtype: 'int64' });
    const positions = l.length / records;
    const classes = outputs.length / l.length;
    for (let r = 0; r < records; r++) {
      let right = true;
      let scored = 0;
      let recordLoss = 0;
      for (let p = r * positions; p < (r + 1) * positions; p++) {
        if (l[p] === BigInt(IGNORE_INDEX)) continue;
        let best = 0;
        let max = -Infinity;
        for (let c = 0; c < classes; c++) if (outputs[p * classes + c]! > max) { max = outputs[p * classes + c]!; best = c; }
        if (BigInt(best) !== l[p]) right = false;
        let sum = 0;
        for (let c = 0; c < classes; c++) sum += Math.exp(outputs[p * classes + c]! - max);
        recordLoss += Math.log(sum) + max - outputs[p * classes + Number(l[p])]!;
        scored++;
      }
      if (right) correct++;
      lossSum += scored ? recordLoss / scored : 0;
    }
  } else {
    const t = typedView(labels as Tensor & { dtype: 'float32' });
    const perRecord = t.length / records;
    for (let i = 0; i < t.length; i++) lossSum += (outputs[i]! - t[i]!) ** 2 / perRecord;
  }
  return { correct, lossSum };
}

export async function evaluateModel(ort: typeof Ort, forward: Uint8Array, data: Tensor, labels: Tensor, loss: 'cross-entropy' | 'mse', chunk = 500): Promise<{ accuracy: number | null; loss: number }> {
  const session = await ort.InferenceSession.create(forward, { executionProviders: ['wasm'], logSeverityLevel: 3 });
  try {
    const n = data.dims[0]!;
    let correct = 0;
    let lossSum = 0;
    for (let start = 0; start < n; start += chunk) {
      const rows = Array.from({ length: Math.min(chunk, n - start) }, (_, i) => start + i);
      const out = await session.run({ [session.inputNames[0]!]: toOrtTensor(ort, gatherRecords(data, rows)) });
      const y = fromOrtTensor('y', out[session.outputNames[0]!]!);
      const score = scoreBatch(typedView(y as Tensor & { dtype: 'float32' }), gatherRecords(labels, rows), loss, rows.length);
      correct += score.correct;
      lossSum += score.lossSum;
    }
    return { accuracy: loss === 'cross-entropy' ? correct / n : null, loss: lossSum / n };
  } finally {
    await session.release();
  }
}
