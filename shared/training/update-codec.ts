/**
 * Compressed parameter updates (local-steps training): a volunteer's flat
 * float32 update sent as fp32, or as fp16 or int8 values with one float32
 * scale per block of `blockSize` values (the block's largest magnitude), so
 * tiny updates neither underflow fp16 nor waste int8's range.
 *
 * Error feedback: what rounding dropped is kept by the sender and added to its
 * next update, so over many rounds the sum of what was sent tracks the sum of
 * the true updates (the gap stays one rounding step, it does not grow).
 * The carried residual is clipped to one rounding step of the block it joins:
 * then every value sent is within two steps of the true update, a bound the
 * receiver computes from the scales alone (`sentErrorBound`), which lets two
 * replicas of one shard be compared without trusting anything they claim
 * about their residuals.
 */
import { floatToHalf, halfToFloat } from '../tensor/float16.ts';


export const UPDATE_FORMATS = ['fp32', 'fp16', 'int8'] as const;
export type UpdateFormat = (typeof UPDATE_FORMATS)[number];

export const DEFAULT_BLOCK_SIZE = 64;

export interface EncodedUpdate {
  format: UpdateFormat;
  blockSize: number;
  /** fp32: Float32Array; fp16: float16 bit patterns; int8: Int8Array. */
  values: Float32Array | Uint16Array | Int8Array;
  /** One per block for fp16 and int8; empty for fp32. */
  scales: Float32Array;
}

export function blockCount(n: number, blockSize: number): number {
  return Math.ceil(n / blockSize);
}

/**
 * The largest rounding error of one value of a block with this scale:
 * int8 stores round(x / scale * 127), off by at most half a level;
 * fp16 stores x / scale in [-1, 1], off by at most half an ulp of 1 (2^-11).
 */
export function roundingStep(format: UpdateFormat, scale: number): number {
  if (format === 'int8') return scale / 254;
  if (format === 'fp16') return scale * 2 ** -11;
  return 0;
}

export function encodeUpdate(x: Float32Array, format: UpdateFormat, blockSize = DEFAULT_BLOCK_SIZE): EncodedUpdate {
  if (format === 'fp32') return { format, blockSize, values: Float32Array.from(x), scales: new Float32Array(0) };
  const blocks = blockCount(x.length, blockSize);
  const scales = new Float32Array(blocks);
  const values = format === 'int8' ? new Int8Array(x.length) : new Uint16Array(x.length);
  for (let b = 0; b < blocks; b++) {
    const from = b * blockSize;
    const to = Math.min(x.length, from + blockSize);
    let max = 0;
    for (let i = from; i < to; i++) max = Math.max(max, Math.abs(x[i]!));
    // A float32 scale: what the receiver divides by must be the value sent.
    const scale = Math.fround(max);
    scales[b] = scale;
    if (scale === 0) continue;
    for (let i = from; i < to; i++) {
      const r = x[i]! / scale;
      values[i] = format === 'int8' ? Math.max(-127, Math.min(127, Math.round(r * 127))) : floatToHalf(r);
    }
  }
  return { format, blockSize, values, scales };
}

export function decodeUpdate(e: EncodedUpdate): Float32Array {
  if (e.format === 'fp32') return Float32Array.from(e.values as Float32Array);
  const out = new Float32Array(e.values.length);
  for (let i = 0; i < out.length; i++) {
    const scale = e.scales[Math.floor(i / e.blockSize)]!;
    const v = e.values[i]!;
    out[i] = e.format === 'int8' ? (v / 127) * scale : halfToFloat(v) * scale;
  }
  return out;
}

/** Problems a received update has before decoding: lengths that do not fit, non-finite or negative scales. */
export function updateProblem(e: EncodedUpdate, n: number): string | null {
  if (e.values.length !== n) return `update has ${e.values.length} values, the model has ${n} parameters`;
  if (e.format === 'fp32') {
    const v = e.values as Float32Array;
    for (let i = 0; i < v.length; i++) if (!Number.isFinite(v[i]!)) return `update value ${i} is ${v[i]}`;
    return null;
  }
  if (e.scales.length !== blockCount(n, e.blockSize)) return `update has ${e.scales.length} scales, ${blockCount(n, e.blockSize)} blocks of ${e.blockSize} need as many`;
  for (let b = 0; b < e.scales.length; b++) {
    if (!(Number.isFinite(e.scales[b]!) && e.scales[b]! >= 0)) return `update scale ${b} is ${e.scales[b]}`;
  }
  if (e.format === 'fp16') {
    const v = e.values as Uint16Array;
    // Values are x / scale in [-1, 1]: exponent bits 31 (Inf, NaN) never come from an honest encoder.
    for (let i = 0; i < v.length; i++) if ((v[i]! & 0x7c00) === 0x7c00) return `update value ${i} is not finite`;
  }
  return null;
}

/**
 * An upper bound on ||sent − true update|| for an update sent with error
 * feedback (residual clipped as `compressWithFeedback` does): two rounding
 * steps per value, from the scales alone.
 */
export function sentErrorBound(e: EncodedUpdate): number {
  if (e.format === 'fp32') return 0;
  let sum = 0;
  for (let b = 0; b < e.scales.length; b++) {
    const n = Math.min(e.blockSize, e.values.length - b * e.blockSize);
    const step = roundingStep(e.format, e.scales[b]!);
    sum += n * (2 * step) ** 2;
  }
  // The residual was clipped to a step of the update's own block maximum, which the carried residual can
  // lower by at most one step (a 1/254 share for int8); 1% also covers float32 rounding in decoding.
  return Math.sqrt(sum) * 1.01;
}

/**
 * Encodes `update + residual` and returns what was sent and the new residual
 * (what rounding dropped). `residual` may be null (the first round).
 */
export function compressWithFeedback(update: Float32Array, residual: Float32Array | null, format: UpdateFormat, blockSize = DEFAULT_BLOCK_SIZE): { sent: EncodedUpdate; residual: Float32Array } {
  if (residual && residual.length !== update.length) residual = null;
  if (format === 'fp32') return { sent: encodeUpdate(update, format, blockSize), residual: new Float32Array(update.length) };
  // The residual joins the update only up to one step of the block it joins (see the module comment), computed
  // from the scale the update alone would get: then the carried part never exceeds the bound the receiver checks.
  const carried = new Float32Array(update.length);
  const blocks = blockCount(update.length, blockSize);
  for (let b = 0; b < blocks; b++) {
    const from = b * blockSize;
    const to = Math.min(update.length, from + blockSize);
    let max = 0;
    for (let i = from; i < to; i++) max = Math.max(max, Math.abs(update[i]!));
    const limit = roundingStep(format, Math.fround(max));
    for (let i = from; i < to; i++) {
      const r = residual ? Math.max(-limit, Math.min(limit, residual[i]!)) : 0;
      carried[i] = update[i]! + r;
    }
  }
  const sent = encodeUpdate(carried, format, blockSize);
  const decoded = decodeUpdate(sent);
  const next = new Float32Array(update.length);
  for (let i = 0; i < next.length; i++) next[i] = carried[i]! - decoded[i]!;
  return { sent, residual: next };
}
