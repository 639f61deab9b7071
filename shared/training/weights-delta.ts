/**
 * Compressed weights downstream for local-steps training: the weights a
 * volunteer trains from reach it as the change since a version it already
 * holds, not in full every round.
 *
 * The coordinator keeps the **broadcast weights**: exactly what every
 * volunteer reconstructs, which may differ from its own (master) weights by
 * what compression dropped. Each round it sends `delta = Q(master − broadcast)`
 * (int8 or fp16 values, one float32 scale per block) and moves the broadcast
 * weights by the decoded delta with the same arithmetic as the volunteers
 * (`applyDelta`); what Q dropped is still in `master − broadcast` and rides on
 * the next round's delta (server-side error feedback), so the two never drift
 * apart by more than one round's rounding.
 *
 * A version of the weights is named by the SHA-256 of its full encoding (a
 * content-addressed blob, fp32 or fp16 tensors). A volunteer applies a chain
 * of deltas to the version it holds and checks each result against the
 * version the coordinator named, so replicas always start from identical
 * bytes; a volunteer with no usable version fetches the full weights. With
 * fp16 full weights the broadcast weights are kept fp16-representable (every
 * value rounded to fp16 after each delta), so the fp16 encoding is exact.
 *
 * A delta blob is deflated (zlib format): int8 deltas hold long runs of zeros
 * (weights of input pixels that are never on never change) and mostly small
 * values, and deflate takes about a fifth off (measured on the MNIST MLP:
 * 3,310,336 → 2,701,272 bytes over a bench run). Volunteers inflate with the
 * platform's DecompressionStream (browsers and Node alike), capped at what a
 * delta of the model's size can be.
 */
import { sha256Hex } from '../hash.ts';
import { decodeTensors, encodeTensors } from '../tensor/codec.ts';
import { floatToHalf, halfToFloat } from '../tensor/float16.ts';
import { copyBytes, elementCount, type NamedTensor, typedView } from '../tensor/tensor.ts';
import { decodeUpdate, type EncodedUpdate, encodeUpdate, updateProblem } from './update-codec.ts';

export const WEIGHTS_FORMATS = ['fp32', 'fp16'] as const;
export type WeightsFormat = (typeof WEIGHTS_FORMATS)[number];
export type DeltaFormat = 'fp16' | 'int8';

/**
 * Values per scale in a downstream delta: one float32 scale per 256 values
 * costs 1.6% over int8's byte a value (64 would cost 6.25%); the delta is one
 * outer step, whose magnitudes vary less within a block than one volunteer's change.
 */
export const DELTA_BLOCK_SIZE = 256;
/** Deltas the coordinator keeps: a volunteer that missed up to this many rounds catches up by the chain. */
export const DEFAULT_DELTA_CHAIN = 8;

export interface ParamLayout { name: string; dims: number[] }

/** A version of the weights: flat float32 values in `layout` order, representable in `format`. */
export interface Weights {
  layout: ParamLayout[];
  format: WeightsFormat;
  flat: Float32Array;
}

/** A version held with its name (the SHA-256 of `encodeFullWeights`). */
export interface HeldWeights extends Weights { hash: string }

export class WeightsError extends Error {}

/** A value as the weights format stores it (float32, or float16 widened back to float32). */
function inFormat(x: number, format: WeightsFormat): number {
  return format === 'fp16' ? halfToFloat(floatToHalf(x)) : Math.fround(x);
}

/** The weights rounded to `format`; refuses values the format cannot hold (fp16 overflows beyond 65504). */
export function roundWeights(layout: ParamLayout[], flat: Float32Array, format: WeightsFormat): Weights {
  const out = new Float32Array(flat.length);
  for (let i = 0; i < flat.length; i++) {
    const v = inFormat(flat[i]!, format);
    if (!Number.isFinite(v)) throw new WeightsError(`weight ${i} (${flat[i]}) cannot be sent as ${format}`);
    out[i] = v;
  }
  return { layout, format, flat: out };
}

const bytesOf = (a: Float32Array | Uint16Array | Int8Array) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

/** The full weights as a tensor list (one tensor a parameter, float32 or float16): the blob a new volunteer fetches. */
export function encodeFullWeights(w: Weights): Uint8Array {
  const tensors: NamedTensor[] = [];
  let off = 0;
  for (const p of w.layout) {
    const n = elementCount(p.dims);
    const part = w.flat.subarray(off, off + n);
    off += n;
    tensors.push(w.format === 'fp16'
      ? { name: p.name, dtype: 'float16', dims: p.dims, data: bytesOf(Uint16Array.from(part, floatToHalf)) }
      : { name: p.name, dtype: 'float32', dims: p.dims, data: bytesOf(Float32Array.from(part)) });
  }
  return encodeTensors(tensors);
}

export function weightsHash(w: Weights): string {
  return sha256Hex(encodeFullWeights(w));
}

/** Decodes a full-weights blob; every tensor float32, or every one float16 (widened to float32). */
export function decodeFullWeights(bytes: Uint8Array): Weights {
  const tensors = decodeTensors(bytes);
  if (!tensors.length) throw new WeightsError('the weights blob holds no tensors');
  const dtype = tensors[0]!.dtype;
  if (dtype !== 'float32' && dtype !== 'float16') throw new WeightsError(`weights must be float32 or float16 tensors, ${tensors[0]!.name} is ${dtype}`);
  const total = tensors.reduce((n, t) => n + elementCount(t.dims), 0);
  const flat = new Float32Array(total);
  let off = 0;
  for (const t of tensors) {
    if (t.dtype !== dtype) throw new WeightsError(`weights mix ${dtype} and ${t.dtype} (${t.name})`);
    if (t.dtype === 'float32') flat.set(typedView(t as NamedTensor & { dtype: 'float32' }), off);
    else {
      const h = typedView(t as NamedTensor & { dtype: 'float16' });
      for (let i = 0; i < h.length; i++) flat[off + i] = halfToFloat(h[i]!);
    }
    off += elementCount(t.dims);
  }
  return { layout: tensors.map((t) => ({ name: t.name, dims: t.dims })), format: dtype === 'float16' ? 'fp16' : 'fp32', flat };
}

/** The weights as float32 feeds of the train-step graph (views of `flat`: feeds are read, never written). */
export function weightsFeeds(w: Weights): NamedTensor[] {
  let off = 0;
  return w.layout.map((p) => {
    const n = elementCount(p.dims);
    const part = w.flat.subarray(off, off + n);
    off += n;
    return { name: p.name, dtype: 'float32', dims: p.dims, data: bytesOf(part) };
  });
}

/** The next version: `from` moved by the decoded delta, rounded to the weights format (the same arithmetic on both ends). */
export function applyDelta(from: Weights, delta: EncodedUpdate): Weights {
  const problem = updateProblem(delta, from.flat.length);
  if (problem) throw new WeightsError(`weights delta: ${problem}`);
  const d = decodeUpdate(delta);
  const next = new Float32Array(from.flat.length);
  for (let i = 0; i < next.length; i++) {
    const v = inFormat(from.flat[i]! + d[i]!, from.format);
    if (!Number.isFinite(v)) throw new WeightsError(`weights delta makes weight ${i} ${v} in ${from.format}`);
    next[i] = v;
  }
  return { layout: from.layout, format: from.format, flat: next };
}

/**
 * The coordinator's half: the delta from the broadcast weights toward `target`
 * (its master weights) and the broadcast weights every volunteer will hold
 * after applying it. What rounding dropped stays in `target − next`.
 */
export function makeDelta(from: Weights, target: Float32Array, format: DeltaFormat, blockSize = DELTA_BLOCK_SIZE): { delta: EncodedUpdate; next: Weights } {
  if (target.length !== from.flat.length) throw new WeightsError(`target has ${target.length} values, the weights ${from.flat.length}`);
  const diff = new Float32Array(target.length);
  for (let i = 0; i < diff.length; i++) diff[i] = target[i]! - from.flat[i]!;
  const delta = encodeUpdate(diff, format, blockSize);
  return { delta, next: applyDelta(from, delta) };
}

/** A delta as a blob: its values (int8 or float16) and block scales. */
export function encodeDelta(delta: EncodedUpdate): Uint8Array {
  if (delta.format === 'fp32') throw new WeightsError('a weights delta is fp16 or int8');
  return encodeTensors([
    { name: 'delta.values', dtype: delta.format === 'int8' ? 'int8' : 'float16', dims: [delta.values.length], data: bytesOf(delta.values) },
    { name: 'delta.scales', dtype: 'float32', dims: [delta.scales.length], data: bytesOf(delta.scales) },
  ]);
}

/** The most bytes an inflated delta of `n` values can take: fp16 values, a scale per value at worst, the tensor list's headers. */
export const inflatedDeltaLimit = (n: number) => 6 * n + 4096;

/** Inflates a deflated (zlib) delta blob, refusing one that grows past `maxBytes`. */
export async function inflateDelta(bytes: Uint8Array, maxBytes: number): Promise<Uint8Array> {
  const source = new ReadableStream<Uint8Array>({ start(c) { c.enqueue(bytes); c.close(); } });
  const reader = source.pipeThrough(new DecompressionStream('deflate') as unknown as ReadableWritablePair<Uint8Array, Uint8Array>).getReader();
  const parts: Uint8Array[] = [];
  let n = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      n += value.byteLength;
      if (n > maxBytes) {
        void reader.cancel().catch(() => {});
        throw new WeightsError(`a weights delta inflates past ${maxBytes} bytes, more than a delta of this model can be`);
      }
      parts.push(value);
    }
  } catch (e) {
    if (e instanceof WeightsError) throw e;
    throw new WeightsError(`a weights delta blob is not deflated data: ${(e as Error).message}`);
  }
  const out = new Uint8Array(n);
  let off = 0;
  for (const p of parts) { out.set(p, off); off += p.byteLength; }
  return out;
}

export function decodeDelta(bytes: Uint8Array, blockSize: number): EncodedUpdate {
  const ts = decodeTensors(bytes);
  const values = ts.find((t) => t.name === 'delta.values');
  const scales = ts.find((t) => t.name === 'delta.scales');
  if (!values || !scales || scales.dtype !== 'float32' || (values.dtype !== 'int8' && values.dtype !== 'float16')) {
    throw new WeightsError('a weights delta blob holds delta.values (int8 or float16) and delta.scales (float32)');
  }
  // Own, aligned copies: a decoded tensor's bytes may be an unaligned view into a larger buffer.
  const copy = <T extends Int8Array | Uint16Array | Float32Array>(C: { new(b: ArrayBuffer): T }, d: Uint8Array) => new C(copyBytes(d).buffer as ArrayBuffer);
  return {
    format: values.dtype === 'int8' ? 'int8' : 'fp16', blockSize,
    values: values.dtype === 'int8' ? copy(Int8Array, values.data) : copy(Uint16Array, values.data),
    scales: copy(Float32Array, scales.data),
  };
}

/** One link of the chain: the delta blob `blob` turns version `base` into version `target`. */
export interface DeltaLink<B> { base: string; target: string; blob: B }

/** What a copy of a local-steps shard says about the weights it trains from (the protocol's WeightsOffer). */
export interface Offer<B extends { bytes: number }> {
  /** The version to train from: the SHA-256 of its full encoding, which `full` holds. */
  hash: string;
  full: B;
  /** The last rounds' deltas, oldest first, ending at `hash`. */
  deltas: DeltaLink<B>[];
  deltaBlockSize: number;
}

/**
 * How a volunteer holding `held` (a version's hash, or null) gets the
 * offered version: `[]` (it has it), the deltas to apply in order, or null
 * (fetch the full weights: it holds nothing, a version the chain no longer
 * reaches, or one whose chain would cost more than the full weights).
 * A chain whose links do not join up is refused: the offer is not one the coordinator makes.
 */
export function planWeights<B extends { bytes: number; hash: string }>(held: string | null, offer: Offer<B>): DeltaLink<B>[] | null {
  if (offer.full.hash !== offer.hash) throw new WeightsError(`the weights offer names version ${short(offer.hash)} but its full weights are blob ${short(offer.full.hash)}`);
  const d = offer.deltas;
  for (let i = 1; i < d.length; i++) {
    if (d[i]!.base !== d[i - 1]!.target) throw new WeightsError(`the weights offer's delta chain is broken: delta ${i} applies to ${short(d[i]!.base)}, delta ${i - 1} makes ${short(d[i - 1]!.target)}`);
  }
  if (d.length && d.at(-1)!.target !== offer.hash) throw new WeightsError(`the weights offer's delta chain ends at ${short(d.at(-1)!.target)}, not at the offered weights ${short(offer.hash)}`);
  if (held === null) return null;
  if (held === offer.hash) return [];
  const from = d.findIndex((l) => l.base === held);
  if (from < 0) return null;
  const chain = d.slice(from);
  return chain.reduce((n, l) => n + l.blob.bytes, 0) < offer.full.bytes ? chain : null;
}

export const short = (hash: string) => hash.slice(0, 12);

/**
 * Applies a chain of (inflated) delta blobs to the held version, checking every link:
 * it must start from the version held (a stale or forged base is refused),
 * and what it makes must hash to the version the link names.
 */
export function applyChain<B>(held: HeldWeights, chain: readonly DeltaLink<B>[], blobs: readonly Uint8Array[], blockSize: number): HeldWeights {
  let w = held;
  chain.forEach((link, i) => {
    if (link.base !== w.hash) throw new WeightsError(`delta ${i + 1} of ${chain.length} applies to weights ${short(link.base)}, this volunteer holds ${short(w.hash)}`);
    const next = applyDelta(w, decodeDelta(blobs[i]!, blockSize));
    const hash = weightsHash(next);
    if (hash !== link.target) throw new WeightsError(`delta ${i + 1} of ${chain.length} from ${short(link.base)} makes weights ${short(hash)}, not ${short(link.target)} as the coordinator says`);
    w = { ...next, hash };
  });
  return w;
}
