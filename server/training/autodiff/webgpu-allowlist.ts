/**
 * Operators a generated train-step graph may contain: those onnxruntime-web
 * runs on BOTH its WebGPU and WASM backends, with the opset versions both
 * register kernels for. The ranges are the op registry's `webgpuWasm` entries
 * (shared/onnx/ops/, sources in its webgpu-wasm.ts), as are the variant
 * exclusions (MaxPool with its Indices output has no WebGPU kernel).
 */
export { WEBGPU_WASM_OPS, webgpuWasmProblem } from '../../../shared/onnx/ops/index.ts';

/** The opset every generated train-step graph is stamped with. */
export const TRAIN_GRAPH_OPSET = 17;
