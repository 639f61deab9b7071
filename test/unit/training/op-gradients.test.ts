/**
 * Every supported operator's gradient, and both losses, against central
 * finite differences of the forward model.
 *
 * Precision choice: float32 throughout. onnxruntime's CPU kernels used by the
 * wasm backend are float-only for Conv/ConvTranspose/pooling (MLAS), so a
 * float64 forward is not available for every op; instead the loss of each
 * perturbed forward output is accumulated in float64 here, eps = 1e-2 (large
 * enough that float32 rounding of the loss, ~1e-7 relative, contributes
 * ~1e-5 to the difference quotient), and inputs are chosen so no perturbation
 * crosses a kink (ReLU at 0, a max-pool tie). Tolerance: per parameter
 * tensor, ||analytic - numeric|| / max(||analytic||, ||numeric||) <= 1e-2.
 * Observed errors are ~1e-4 or below (see the logged maximum).
 */
import { describe, expect, it, afterAll } from 'vitest';
import { gradientCheck } from './helpers/fd.ts';
import { opCases } from './helpers/op-cases.ts';
import { SUPPORTED_OPS } from '../../../server/training/autodiff/parse-forward.ts';

const REL_TOL = 1e-2;
const cases = opCases();
let worst = 0;

describe('train-step gradients match central finite differences', () => {
  afterAll(() => {
    console.info(`largest relative gradient error over all op cases: ${worst.toExponential(2)}`);
  });

  it('covers every supported operator and both losses', () => {
    const covered = new Set(cases.flatMap((c) => c.covers));
    for (const op of [...SUPPORTED_OPS, 'cross-entropy', 'mse']) expect(covered, op).toContain(op);
  });

  for (const c of cases) {
    it(c.name, async () => {
      const r = await gradientCheck({ forward: c.forward, loss: c.loss, data: c.data, labels: c.labels, maxElements: c.maxElements, eps: c.eps });
      expect(Math.abs(r.lossGraph - r.lossReference)).toBeLessThanOrEqual(1e-5 * Math.max(1, Math.abs(r.lossReference)));
      for (const p of r.params) {
        worst = Math.max(worst, p.relErr);
        expect(p.scale, `${p.name}: gradient must not vanish, or the check proves nothing`).toBeGreaterThan(1e-4);
        expect(p.relErr, `${p.name}: analytic ${Array.from(p.analytic.slice(0, 6))} vs numeric ${Array.from(p.numeric.slice(0, 6))}`).toBeLessThanOrEqual(REL_TOL);
      }
    });
  }
});
