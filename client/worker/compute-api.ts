/** The compute worker's interface as the page sees it through comlink. */
import type { Assignment, Backend, Capabilities, WireTensor } from '../../shared/protocol/events.ts';
import type { BlobCacheStats } from '../lib/blob-cache.ts';
import type { DeviceProbe } from './probe.ts';
import type { SelfTestResult } from './self-test.ts';

export type BackendChoice = Backend | 'auto';

export interface InitOptions {
  /** Coordinator base URL: blob refs are resolved against it. */
  coordinator: string;
  /** 'auto' tries WebGPU first and falls back to WASM; naming one uses only that one. */
  backend: BackendChoice;
}

export interface InitReport {
  probe: DeviceProbe;
  selfTests: SelfTestResult[];
  /** The backend real work will use, or null when none passed. */
  backend: Backend | null;
  /** Why this backend (or why none), in words for the page. */
  reason: string;
  ortVersion: string;
  capabilities: Capabilities;
}

export interface BackendChange {
  from: Backend;
  to: Backend | null;
  reason: string;
  capabilities: Capabilities;
}

export interface WorkerEvents {
  backendChanged(change: BackendChange): void;
}

export interface ShardResult {
  outputs: WireTensor[];
  computeMs: number;
}

export interface ComputeApi {
  init(o: InitOptions, events: WorkerEvents): Promise<InitReport>;
  run(a: Assignment): Promise<ShardResult>;
  setIntensity(intensity: number): void;
  cacheStats(): Promise<BlobCacheStats>;
  /** Forgets the weights (and error feedback) it holds in memory for these jobs: they ended. */
  forgetJobs(jobIds: string[]): void;
}
