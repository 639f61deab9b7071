/**
 * The compute worker: probes the device, self-tests each usable backend, then
 * runs assignments with the shared ShardExecutor. Exposed to the page through
 * comlink; tensors come in and go out as transferables (no copies of shard data).
 */
import * as Comlink from 'comlink';
import type { Assignment, Backend, Capabilities } from '../../shared/protocol/events.ts';
import { ShardExecutor } from '../../shared/worker-core/executor.ts';
import type { OrtModule } from '../../shared/worker-core/ort-tensors.ts';
import { BlobCache } from '../lib/blob-cache.ts';
import { idbHeldWeights } from '../lib/held-weights.ts';
import { transferablesOf } from '../lib/transfer.ts';
import type { BackendChange, ComputeApi, InitOptions, InitReport, ShardResult, WorkerEvents } from './compute-api.ts';
import { DutyCycle } from './duty-cycle.ts';
import { loadOrt } from './ort-loader.ts';
import { planBackend, wasmDescription } from './backend-plan.ts';
import { type DeviceProbe, probeDevice } from './probe.ts';
import { runSelfTest, type SelfTestResult } from './self-test.ts';

class ComputeWorker implements ComputeApi {
  private ort: OrtModule | null = null;
  private probe: DeviceProbe | null = null;
  private passed: Backend[] = [];
  private backend: Backend | null = null;
  private executor: ShardExecutor | null = null;
  private cache: BlobCache | null = null;
  private events: WorkerEvents | null = null;
  private readonly duty = new DutyCycle();
  /** Rejects when the GPU device is lost: onnxruntime's pending GPU work never settles then, so runs race it. */
  private gpuLost: Promise<never> | null = null;
  private loseGpu: ((e: Error) => void) | null = null;

  async init(o: InitOptions, events: WorkerEvents): Promise<InitReport> {
    this.events = events;
    const probe = (this.probe = await probeDevice());
    const plan = planBackend(o.backend, probe);
    this.cache = new BlobCache({ baseUrl: o.coordinator });
    // The runtime is fetched only now (after Start), and only the build this device will use.
    const ort = plan.runtime ? (this.ort = await loadOrt(probe.wasmThreads, plan.runtime)) : null;
    const selfTests: SelfTestResult[] = [];
    for (const b of plan.selfTests) selfTests.push(await runSelfTest(ort!, b));
    this.passed = selfTests.filter((t) => t.ok).map((t) => t.backend);
    const backend = this.passed[0] ?? null;
    const reason = explainChoice(o, probe, selfTests, backend);
    if (backend) this.use(backend);
    if (backend === 'webgpu') void this.watchGpuDevice();
    return { probe, selfTests, backend, reason, ortVersion: ort?.env.versions.web ?? 'unknown', capabilities: this.capabilities() };
  }

  async run(a: Assignment): Promise<ShardResult> {
    if (!this.executor) throw new Error('no backend passed the self-test on this device');
    this.duty.takeRested();
    const run = this.executor.run(a);
    const r = this.backend === 'webgpu' && this.gpuLost ? await Promise.race([run, this.gpuLost]) : await run;
    // Rest slices are part of the wall time but not of the work done.
    const computeMs = Math.max(0, r.computeMs - this.duty.takeRested());
    const result: ShardResult = { outputs: r.outputs, computeMs };
    return Comlink.transfer(result, transferablesOf(r.outputs));
  }

  setIntensity(intensity: number): void {
    this.duty.intensity = Math.min(1, Math.max(0.05, intensity));
  }

  forgetJobs(jobIds: string[]): void {
    this.executor?.forget(jobIds);
  }

  async cacheStats() {
    return this.cache ? this.cache.refreshStats() : { hits: 0, misses: 0, evictions: 0, bytes: 0, entries: 0 };
  }

  private use(backend: Backend) {
    const old = this.executor;
    this.backend = backend;
    if (backend === 'webgpu') {
      this.gpuLost = new Promise<never>((_, reject) => { this.loseGpu = reject; });
      this.gpuLost.catch(() => {});
    }
    this.executor = new ShardExecutor({
      ort: this.duty.wrap(this.ort!),
      backend,
      loadBlob: (ref) => this.cache!.get(ref),
      warn: (m) => console.warn(m),
      keep: idbHeldWeights,
    });
    void old?.dispose();
  }

  /** A lost GPU device (driver reset, another tab hogging the GPU, sleep): fail the run in hand and tell the page. */
  private async watchGpuDevice() {
    let device: GPUDevice;
    try {
      device = await this.ort!.env.webgpu.device as GPUDevice;
    } catch {
      return;
    }
    const info = await device.lost;
    if (this.backend !== 'webgpu') return;
    this.loseGpu?.(new Error(`the GPU device was lost (${info.reason}) while computing this shard`));
    const to: Backend | null = this.passed.includes('wasm') ? 'wasm' : null;
    this.passed = this.passed.filter((b) => b !== 'webgpu');
    const reason = `the GPU device was lost (${info.reason}${info.message ? `: ${info.message}` : ''})`;
    // This runtime may be wedged in the run that was on the GPU: the page moves work to a fresh worker.
    this.backend = null;
    this.executor = null;
    const change: BackendChange = { from: 'webgpu', to, reason, capabilities: this.capabilities() };
    this.events?.backendChanged(change);
  }

  private capabilities(): Capabilities {
    const p = this.probe!;
    const caps: Capabilities = {
      agent: 'browser',
      backends: [...this.passed],
      ortVersion: (this.ort?.env.versions.web ?? 'unknown').slice(0, 32),
      threads: p.wasmThreads,
      crossOriginIsolated: p.crossOriginIsolated,
      userAgent: p.userAgent.slice(0, 512),
    };
    if (p.memoryMB !== null) caps.memoryMB = p.memoryMB;
    if (p.gpu) {
      caps.gpu = {
        vendor: p.gpu.vendor.slice(0, 128),
        architecture: p.gpu.architecture.slice(0, 128),
        features: p.gpu.features.filter((f) => f.length <= 64).slice(0, 64),
        maxStorageBufferBindingSize: p.gpu.maxStorageBufferBindingSize,
        maxBufferSize: p.gpu.maxBufferSize,
      };
    }
    return caps;
  }
}

function explainChoice(o: InitOptions, p: DeviceProbe, tests: SelfTestResult[], chosen: Backend | null): string {
  const gpuTest = tests.find((t) => t.backend === 'webgpu');
  const wasmDesc = wasmDescription(p);
  if (chosen === 'webgpu') {
    const g = p.gpu!;
    const kind = g.fallback ? 'a software adapter: correct, but slower than a real GPU' : 'hardware';
    return `${o.backend === 'webgpu' ? 'WebGPU was requested' : 'WebGPU is available'} on ${g.vendor} ${g.architecture} (${kind}) and passed its self-test.`;
  }
  if (chosen === 'wasm') {
    if (o.backend === 'wasm') return `WebAssembly was requested: ${wasmDesc}.`;
    if (p.webgpuMissing) return `WebGPU is not usable here (${p.webgpuMissing}), so this device computes with ${wasmDesc}.`;
    return `WebGPU failed its self-test (${gpuTest?.error ?? 'unknown error'}), so this device computes with ${wasmDesc}.`;
  }
  if (o.backend === 'webgpu' && p.webgpuMissing) return `WebGPU was requested but is not usable here: ${p.webgpuMissing}.`;
  const failures = tests.map((t) => `${t.backend}: ${t.error}`).join('; ');
  return `No backend passed its self-test (${failures || 'none could be tried'}); this device cannot contribute.`;
}

// onnxruntime's WASM threads re-load a module of this bundle under the name "em-pthread…";
// they must not answer comlink messages.
if (!(self.name ?? '').startsWith('em-pthread')) Comlink.expose(new ComputeWorker());
