/**
 * Loads onnxruntime-web inside the compute worker and points it at the wasm
 * binary Vite emitted into our own build: nothing is fetched from a CDN, and
 * the strict CSP (connect-src 'self') would block it anyway.
 *
 * Two builds, loaded only once the visitor pressed Start:
 * - `jsep`: the JSEP build (`onnxruntime-web`), whose one wasm binary serves
 *   both the WebGPU and the WASM execution providers, so a fallback from one
 *   to the other costs no second download. 28 MB, 5–7 MB on the wire.
 * - `wasm`: the plain WASM build (`onnxruntime-web/wasm`), for devices that
 *   will not use WebGPU: half the size.
 * Both are dynamic imports, so neither is part of the page's first load.
 */
import type { OrtModule } from '../../shared/worker-core/ort-tensors.ts';
import jsepWasmUrl from 'onnxruntime-web/ort-wasm-simd-threaded.jsep.wasm?url';
import plainWasmUrl from 'onnxruntime-web/ort-wasm-simd-threaded.wasm?url';

export type OrtFlavour = 'jsep' | 'wasm';

const loading = new Map<OrtFlavour, Promise<OrtModule>>();

export function loadOrt(threads: number, flavour: OrtFlavour): Promise<OrtModule> {
  let p = loading.get(flavour);
  if (!p) {
    const mod = flavour === 'jsep' ? import('onnxruntime-web') : import('onnxruntime-web/wasm');
    const wasmUrl = flavour === 'jsep' ? jsepWasmUrl : plainWasmUrl;
    p = mod.then((m) => {
      const ort = ((m as { default?: OrtModule }).default ?? m) as OrtModule;
      ort.env.wasm.wasmPaths = { wasm: new URL(wasmUrl, self.location.href).href };
      ort.env.wasm.numThreads = threads;
      // We are already off the main thread; ort's own proxy worker would only add a hop.
      ort.env.wasm.proxy = false;
      ort.env.logLevel = 'error';
      return ort;
    });
    loading.set(flavour, p);
  }
  return p;
}
