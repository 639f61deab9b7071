/**
 * Which backends may compute a job: what the project asked for (any, by
 * default), less the backends known to compute its model wrongly.
 */
import type { Backend } from '../../../shared/protocol/events.ts';

export const ALL_BACKENDS: readonly Backend[] = ['webgpu', 'wasm'];

export type BackendChoice =
  | { ok: true; backends: Backend[] | undefined; notes: string[] }
  | { ok: false; error: string };

/** `webgpuHazards`: why the model must not run on WebGPU (see shared/onnx/webgpu-hazards.ts). */
export function chooseBackends(requested: readonly Backend[] | undefined, webgpuHazards: readonly string[]): BackendChoice {
  const asked = requested ?? ALL_BACKENDS;
  if (webgpuHazards.length === 0) return { ok: true, backends: requested ? [...new Set(requested)] : undefined, notes: [] };
  const left = asked.filter((b) => b !== 'webgpu');
  if (left.length === 0) {
    return { ok: false, error: `this model cannot run on WebGPU, the only backend asked for: ${webgpuHazards[0]}` };
  }
  return { ok: true, backends: [...new Set(left)], notes: webgpuHazards.map((h) => `not on WebGPU: ${h}`) };
}

/** A volunteer's numeric class starts with its backend (`webgpu/...`, `wasm/...`). */
export function backendAllows(backends: readonly Backend[] | undefined, numericClass: string): boolean {
  return !backends || backends.some((b) => numericClass.startsWith(`${b}/`));
}
