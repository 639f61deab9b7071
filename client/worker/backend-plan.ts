/**
 * Which backend a device will use, which onnxruntime build that needs, and
 * which backends to self-test: decided from the probe alone, so the page can
 * say it before Start without downloading any runtime. The self-tests after
 * Start confirm (or overturn) the plan.
 */
import type { Backend } from '../../shared/protocol/events.ts';
import type { BackendChoice } from './compute-api.ts';
import type { OrtFlavour } from './ort-loader.ts';
import type { DeviceProbe } from './probe.ts';

export interface BackendPlan {
  /** The backend real work is expected to use; null when none can be tried. */
  backend: Backend | null;
  /** The onnxruntime build to load: the JSEP build only where WebGPU will be tried. */
  runtime: OrtFlavour | null;
  /** Backends to self-test, in order of preference. */
  selfTests: Backend[];
  /** In words for the page, before the self-tests ran. */
  reason: string;
}

export function wasmDescription(p: Pick<DeviceProbe, 'wasmThreads' | 'crossOriginIsolated'>): string {
  return `WebAssembly with ${p.wasmThreads} thread${p.wasmThreads === 1 ? '' : 's'}`
    + (p.crossOriginIsolated ? '' : ' (single-threaded: the page is not cross-origin isolated)');
}

export function planBackend(requested: BackendChoice, p: DeviceProbe): BackendPlan {
  const later = 'it is self-tested with a known answer when you press Start';
  if (requested === 'wasm') {
    return { backend: 'wasm', runtime: 'wasm', selfTests: ['wasm'], reason: `WebAssembly was requested: ${wasmDescription(p)}; ${later}.` };
  }
  if (p.webgpuMissing || !p.gpu) {
    const why = p.webgpuMissing ?? 'no GPU adapter';
    if (requested === 'webgpu') return { backend: null, runtime: null, selfTests: [], reason: `WebGPU was requested but is not usable here: ${why}.` };
    return { backend: 'wasm', runtime: 'wasm', selfTests: ['wasm'], reason: `WebGPU is not usable here (${why}), so this device will compute with ${wasmDescription(p)}; ${later}.` };
  }
  const kind = p.gpu.fallback ? 'a software adapter: correct, but slower than a real GPU' : 'hardware';
  const where = `${p.gpu.vendor} ${p.gpu.architecture} (${kind})`;
  if (requested === 'webgpu') {
    return { backend: 'webgpu', runtime: 'jsep', selfTests: ['webgpu'], reason: `WebGPU was requested and is available on ${where}; ${later}.` };
  }
  // The JSEP build runs WASM too: the fallback needs no second runtime.
  return {
    backend: 'webgpu', runtime: 'jsep', selfTests: ['webgpu', 'wasm'],
    reason: `WebGPU is available on ${where}; ${later}, with ${wasmDescription(p)} as the fallback.`,
  };
}
