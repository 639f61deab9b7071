export { buildTrainStep } from './train-step.ts';
export type { TrainStep, TrainStepOptions, TrainStepParam } from './train-step.ts';
export { forwardWithWeights } from './forward-with-weights.ts';
export { UnsupportedOpError, TrainStepError } from './errors.ts';
export { SUPPORTED_OPS, MIN_FORWARD_OPSET, MAX_FORWARD_OPSET } from './parse-forward.ts';
export { WEBGPU_WASM_OPS, TRAIN_GRAPH_OPSET, webgpuWasmProblem } from './webgpu-allowlist.ts';
export type { LossKind } from './losses.ts';
export { IGNORE_INDEX } from './losses.ts';
export { batchProblem } from './batch-check.ts';
