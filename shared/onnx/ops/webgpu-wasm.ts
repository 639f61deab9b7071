/**
 * Where the registry's `webgpuWasm` ranges come from: the operators
 * onnxruntime-web runs on BOTH its WebGPU and WASM backends, with the opset
 * versions both register kernels for, checked for onnxruntime-web 1.30 in
 *  - the JSEP WebGPU backend, `onnxruntime/core/providers/js/js_execution_provider.cc`
 *    (used by the default `onnxruntime-web` entry point; docs: js/web/docs/webgpu-operators.md),
 *  - the native WebGPU EP, `onnxruntime/core/providers/webgpu/webgpu_execution_provider.cc`
 *    (used by `onnxruntime-web/webgpu` and `/jspi`),
 * intersected; the WASM backend is ORT's full CPU EP, which implements every
 * standard ai.onnx operator. Training-domain ops (com.microsoft::*Grad),
 * LogSoftmax, Identity, Dropout, OneHot, ScatterElements, NonZero and Size
 * have no WebGPU kernel in one or both registries and so list no range.
 */
import { OPEN, type OpsetRange } from './spec.ts';

export const from = (opset: number): readonly OpsetRange[] => [[opset, OPEN]];
