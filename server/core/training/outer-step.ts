/**
 * The coordinator's half of local-steps training, as plain arithmetic: the
 * outer optimizer (DiLoCo: SGD with Nesterov momentum, lr 0.7, momentum 0.9)
 * applied to the averaged parameter change. The outer gradient is minus the
 * change (DiLoCo's pseudo-gradient θ_start − θ_after), so lr 1 without momentum
 * is plain averaging of the volunteers' weights (FedAvg).
 */
import { optimizerStep, type OptimizerState, type Params, type SgdConfig } from '../../../shared/training/optimizer.ts';

export const DILOCO_OUTER = { lr: 0.7, momentum: 0.9 } as const;

export function outerOptimizer(o: { lr?: number; momentum?: number } = {}): SgdConfig {
  return { kind: 'sgd', lr: o.lr ?? DILOCO_OUTER.lr, momentum: o.momentum ?? DILOCO_OUTER.momentum, nesterov: true };
}

/** One outer step: the weights moved along the averaged change, through the outer optimizer's momentum. */
export function outerStep(state: OptimizerState, weights: Params, meanChange: Params): { params: Params; state: OptimizerState } {
  const pseudoGradient: Params = {};
  for (const [name, d] of Object.entries(meanChange)) pseudoGradient[name] = Float32Array.from(d, (x) => -x);
  return optimizerStep(state, weights, pseudoGradient);
}
