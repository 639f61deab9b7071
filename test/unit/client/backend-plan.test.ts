// Which backend, runtime build and self-tests a device gets, from its probe alone (before Start, no runtime loaded).
import { describe, expect, it } from 'vitest';
import { planBackend } from '../../../client/worker/backend-plan.ts';
import type { DeviceProbe } from '../../../client/worker/probe.ts';

const base: DeviceProbe = {
  webgpuMissing: null, gpu: null, crossOriginIsolated: true, hardwareConcurrency: 8, wasmThreads: 4, memoryMB: 8192, userAgent: 'test',
};
const gpu: DeviceProbe = {
  ...base,
  gpu: {
    vendor: 'nvidia', architecture: 'hopper', description: '', fallback: false, features: [],
    maxStorageBufferBindingSize: 2 ** 30, maxBufferSize: 2 ** 30, maxComputeWorkgroupStorageSize: 32768, maxComputeInvocationsPerWorkgroup: 1024,
  },
};
const noGpu: DeviceProbe = { ...base, webgpuMissing: 'this browser does not expose WebGPU' };

describe('planBackend', () => {
  it('a device with WebGPU gets the JSEP build, and WASM from the same build as its fallback', () => {
    const p = planBackend('auto', gpu);
    expect(p).toMatchObject({ backend: 'webgpu', runtime: 'jsep', selfTests: ['webgpu', 'wasm'] });
    expect(p.reason).toMatch(/WebGPU is available on nvidia hopper \(hardware\)/);
  });

  it('a device without WebGPU gets the plain WASM build only, and says why', () => {
    const p = planBackend('auto', noGpu);
    expect(p).toMatchObject({ backend: 'wasm', runtime: 'wasm', selfTests: ['wasm'] });
    expect(p.reason).toMatch(/WebGPU is not usable here \(this browser does not expose WebGPU\).*4 threads/);
  });

  it('asking for WASM never loads the JSEP build, even where WebGPU exists', () => {
    expect(planBackend('wasm', gpu)).toMatchObject({ backend: 'wasm', runtime: 'wasm', selfTests: ['wasm'] });
  });

  it('asking for WebGPU where there is none plans nothing to load and says why', () => {
    const p = planBackend('webgpu', noGpu);
    expect(p).toMatchObject({ backend: null, runtime: null, selfTests: [] });
    expect(p.reason).toBe('WebGPU was requested but is not usable here: this browser does not expose WebGPU.');
    expect(planBackend('webgpu', gpu)).toMatchObject({ backend: 'webgpu', runtime: 'jsep', selfTests: ['webgpu'] });
  });

  it('a software adapter is named as such', () => {
    expect(planBackend('auto', { ...gpu, gpu: { ...gpu.gpu!, fallback: true } }).reason).toMatch(/a software adapter/);
  });
});
