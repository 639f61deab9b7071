/**
 * Loads onnxruntime-web inside the compute worker and points it at the wasm
 * binary Vite emitted into our own build: nothing is fetched from a CDN, and
 * the strict CSP (connect-src 'self') would block it anyway.
 *
 * The default `onnxruntime-web` entry is the JSEP build: one wasm binary serves
 * both the WebGPU and the WASM execution providers, so a fallback from one to
 * the other costs no second download.
 */
import type { OrtModule } from '../../shared/worker-core/ort-tensors.ts';
import wasmUrl from 'onnxruntime-web/ort-wasm-simd-threaded.jsep.wasm?url';

let loading: Promise<OrtModule> | null = null;

export function loadOrt(threads: number): Promise<OrtModule> {
  loading ??= import('onnxruntime-web').then((mod) => {
    const ort = ((mod as { default?: OrtModule }).default ?? mod) as OrtModule;
    ort.env.wasm.wasmPaths = { wasm: new URL(wasmUrl, self.location.href).href };
    ort.env.wasm.numThreads = threads;
    // We are already off the main thread; ort's own proxy worker would only add a hop.
    ort.env.wasm.proxy = false;
    ort.env.logLevel = 'error';
    return ort;
  });
  return loading;
}
