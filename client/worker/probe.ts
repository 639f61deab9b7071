/**
 * What this device offers, measured rather than guessed: the WebGPU adapter
 * (vendor, software or hardware, features such as shader-f16, buffer limits),
 * cross-origin isolation and thread count for WASM, memory. Runs in the
 * compute worker, which is where the work will happen.
 */

export interface GpuProbe {
  vendor: string;
  architecture: string;
  description: string;
  /** A software (fallback) adapter such as SwiftShader: correct but slow. */
  fallback: boolean;
  features: string[];
  maxStorageBufferBindingSize: number;
  maxBufferSize: number;
  maxComputeWorkgroupStorageSize: number;
  maxComputeInvocationsPerWorkgroup: number;
}

export interface DeviceProbe {
  /** null when WebGPU is usable; otherwise why not, in words for the page. */
  webgpuMissing: string | null;
  gpu: GpuProbe | null;
  crossOriginIsolated: boolean;
  hardwareConcurrency: number;
  /** Threads onnxruntime-web's WASM backend will use (1 without cross-origin isolation). */
  wasmThreads: number;
  memoryMB: number | null;
  userAgent: string;
}

export async function probeDevice(): Promise<DeviceProbe> {
  const nav = navigator as Navigator & { deviceMemory?: number };
  const cores = nav.hardwareConcurrency || 1;
  const isolated = globalThis.crossOriginIsolated === true;
  const base = {
    crossOriginIsolated: isolated,
    hardwareConcurrency: cores,
    // Half the cores, at most 4 (onnxruntime-web's own default): the page and the OS need the rest.
    wasmThreads: isolated ? Math.max(1, Math.min(4, Math.ceil(cores / 2))) : 1,
    memoryMB: typeof nav.deviceMemory === 'number' ? nav.deviceMemory * 1024 : null,
    userAgent: nav.userAgent,
  };
  const gpu = await probeGpu();
  return { ...base, ...gpu };
}

async function probeGpu(): Promise<{ webgpuMissing: string | null; gpu: GpuProbe | null }> {
  if (!globalThis.isSecureContext) return { webgpuMissing: 'the page is not a secure context (needs https or localhost)', gpu: null };
  if (!('gpu' in navigator) || !navigator.gpu) return { webgpuMissing: 'this browser does not expose WebGPU', gpu: null };
  let adapter: GPUAdapter | null;
  try {
    adapter = await navigator.gpu.requestAdapter({ powerPreference: 'high-performance' });
  } catch (e) {
    return { webgpuMissing: `requesting a GPU adapter failed: ${(e as Error).message}`, gpu: null };
  }
  if (!adapter) return { webgpuMissing: 'no GPU adapter is available (blocklisted driver or no GPU)', gpu: null };
  const info = adapter.info;
  const l = adapter.limits;
  return {
    webgpuMissing: null,
    gpu: {
      vendor: info.vendor || 'unknown',
      architecture: info.architecture || 'unknown',
      description: info.description || '',
      fallback: (info as GPUAdapterInfo & { isFallbackAdapter?: boolean }).isFallbackAdapter === true,
      features: [...adapter.features].sort(),
      maxStorageBufferBindingSize: l.maxStorageBufferBindingSize,
      maxBufferSize: l.maxBufferSize,
      maxComputeWorkgroupStorageSize: l.maxComputeWorkgroupStorageSize,
      maxComputeInvocationsPerWorkgroup: l.maxComputeInvocationsPerWorkgroup,
    },
  };
}
