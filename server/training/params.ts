/** Conversions between the Tensor form parameters travel in and the Float32Array form the optimizer uses. */
import type { Tensor } from '../../shared/tensor/tensor.ts';
import type { Params } from './optimizer.ts';

export function tensorsToParams(tensors: Record<string, Tensor>): Params {
  const out: Params = {};
  for (const [name, t] of Object.entries(tensors)) {
    if (t.dtype !== 'float32') throw new Error(`parameter ${name} is ${t.dtype}, expected float32`);
    const copy = new Uint8Array(t.data.byteLength);
    copy.set(t.data);
    out[name] = new Float32Array(copy.buffer);
  }
  return out;
}

export function paramsToTensors(params: Params, specs: readonly { name: string; dims: number[] }[]): Record<string, Tensor> {
  const out: Record<string, Tensor> = {};
  for (const { name, dims } of specs) {
    const p = params[name];
    if (!p) throw new Error(`missing parameter ${name}`);
    const n = dims.reduce((a, b) => a * b, 1);
    if (p.length !== n) throw new Error(`parameter ${name} has ${p.length} values, [${dims}] needs ${n}`);
    out[name] = { dtype: 'float32', dims: [...dims], data: new Uint8Array(p.buffer, p.byteOffset, p.byteLength) };
  }
  return out;
}
