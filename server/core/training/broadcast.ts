/**
 * The coordinator's broadcast weights over the rounds of a local-steps job,
 * as plain data (shared/training/weights-delta.ts has the arithmetic both
 * ends share). The job's checkpoint names the current version (the hash of
 * its full encoding, a blob) and the chain of the last `keep` deltas; each
 * round close adds one delta toward the master weights the outer step made.
 */
import { deflateSync } from 'node:zlib';
import { sha256Hex } from '../../../shared/hash.ts';
import {
  type DeltaFormat, encodeDelta, encodeFullWeights, makeDelta, type Offer, type ParamLayout, roundWeights, type Weights, type WeightsFormat,
} from '../../../shared/training/weights-delta.ts';

/** How a job's weights go down to volunteers (TrainSpec.localSteps.downstream). */
export interface Downstream {
  /** The full weights, for a volunteer with no usable version. */
  weightsFormat: WeightsFormat;
  /** The round's change since the last version, or null: full weights every round. */
  deltaFormat: DeltaFormat | null;
  blockSize: number;
  /** Deltas kept: a volunteer that missed at most this many rounds catches up by the chain. */
  keep: number;
}

/** One delta blob: it turns version `base` into version `target`. */
export interface DeltaRecord { base: string; target: string; hash: string; bytes: number }

/** In the job's checkpoint (TrainProgress.broadcast). */
export interface BroadcastState { hash: string; bytes: number; deltas: DeltaRecord[] }

export interface BroadcastStep {
  weights: Weights;
  /** The blobs to store: the full weights (named `state.hash`) and the delta (deflated), if any. */
  full: Uint8Array;
  delta: Uint8Array | null;
  state: BroadcastState;
  /** Blobs the new state no longer names (the previous full weights, deltas beyond `keep`). */
  dropped: string[];
}

/** The first version: the initial weights in the weights format (the master weights start from them too). */
export function firstBroadcast(layout: ParamLayout[], initial: Float32Array, ds: Downstream): BroadcastStep {
  const weights = roundWeights(layout, initial, ds.weightsFormat);
  const full = encodeFullWeights(weights);
  return { weights, full, delta: null, state: { hash: sha256Hex(full), bytes: full.byteLength, deltas: [] }, dropped: [] };
}

/**
 * The next version after a round: the broadcast weights moved toward the
 * master weights by one compressed delta (what it dropped rides on the next
 * one), or, without deltas, the master weights in the weights format.
 */
export function nextBroadcast(state: BroadcastState, current: Weights, master: Float32Array, ds: Downstream): BroadcastStep {
  let weights: Weights;
  let delta: Uint8Array | null = null;
  if (ds.deltaFormat) {
    const made = makeDelta(current, master, ds.deltaFormat, ds.blockSize);
    weights = made.next;
    // Deflated: see shared/training/weights-delta.ts (volunteers inflate with DecompressionStream('deflate')).
    delta = deflateSync(encodeDelta(made.delta), { level: 9 });
  } else {
    weights = roundWeights(current.layout, master, ds.weightsFormat);
  }
  const full = encodeFullWeights(weights);
  const hash = sha256Hex(full);
  const chain = delta ? [...state.deltas, { base: state.hash, target: hash, hash: sha256Hex(delta), bytes: delta.byteLength }] : [];
  const kept = chain.slice(Math.max(0, chain.length - ds.keep));
  const dropped = [...(state.hash !== hash ? [state.hash] : []), ...state.deltas.filter((d) => !kept.some((k) => k.hash === d.hash)).map((d) => d.hash)];
  return { weights, full, delta, state: { hash, bytes: full.byteLength, deltas: kept }, dropped };
}

/** What a copy carries: the current version, its full blob and the delta chain, each as a link volunteers can fetch. */
export function offerOf<B extends { bytes: number }>(state: BroadcastState, ds: Downstream, ref: (hash: string, bytes: number) => B): Offer<B> {
  return {
    hash: state.hash, full: ref(state.hash, state.bytes), deltaBlockSize: ds.blockSize,
    deltas: state.deltas.map((d) => ({ base: d.base, target: d.target, blob: ref(d.hash, d.bytes) })),
  };
}
