/** tabgrid training: train-step graph generation (autodiff over ONNX) and the pure math around it. */
export * from './autodiff/index.ts';
export { aggregate, DEFAULT_TRIM } from './aggregate.ts';
export type { AggregationRule } from './aggregate.ts';
export {
  initOptimizerState, optimizerStep, optimizerStateToPlain, optimizerStateFromPlain,
} from './optimizer.ts';
export type {
  OptimizerConfig, SgdConfig, AdamConfig, OptimizerState, PlainOptimizerState, Params,
} from './optimizer.ts';
export { relativeL2Error, cosineSimilarity, compareGradients, gradientsAgree, flattenGradients } from '../core/validation/gradients.ts';
export type { GradientComparison } from '../core/validation/gradients.ts';
export { buildMlp, buildCnn, DEMO_OPSET } from './models.ts';
export type { MlpOptions, CnnOptions } from './models.ts';
export { createRng, permutation } from './rng.ts';
export type { Rng } from './rng.ts';
export { paramsToTensors, tensorsToParams } from './params.ts';
export { createOrtRunner } from './ort-runner.ts';
export type { OrtModule, TensorRunner } from './ort-runner.ts';
export { trainLocally, accuracy } from './local-train.ts';
export type { LocalTrainOptions, LocalTrainResult } from './local-train.ts';
