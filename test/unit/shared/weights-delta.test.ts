/**
 * Compressed weights downstream (shared/training/weights-delta.ts and the
 * coordinator's chain, server/core/training/broadcast.ts): full weights and
 * deltas round-trip, a volunteer applying the coordinator's delta blobs holds
 * bit-identical weights round after round, the gap to the master weights
 * stays one rounding step (server-side error feedback), a volunteer that
 * skipped rounds gets a chained delta or full weights, and stale or forged
 * bases and blobs are refused with precise errors.
 */
import { deflateSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { type BroadcastState, type Downstream, firstBroadcast, nextBroadcast, offerOf } from '../../../server/core/training/broadcast.ts';
import { createRng } from '../../../server/training/rng.ts';
import { sha256Hex } from '../../../shared/hash.ts';
import { floatToHalf, halfToFloat } from '../../../shared/tensor/float16.ts';
import { roundingStep } from '../../../shared/training/update-codec.ts';
import {
  applyChain, applyDelta, decodeDelta, decodeFullWeights, encodeDelta, encodeFullWeights, type HeldWeights, inflateDelta, inflatedDeltaLimit, makeDelta, type ParamLayout,
  planWeights, roundWeights, type Weights, weightsHash,
} from '../../../shared/training/weights-delta.ts';

const LAYOUT: ParamLayout[] = [{ name: 'w1', dims: [30, 20] }, { name: 'b1', dims: [20] }, { name: 'w2', dims: [20, 7] }];
const N = 30 * 20 + 20 + 20 * 7;

function randomFlat(seed: number, scale: number): Float32Array {
  const rng = createRng(seed);
  return Float32Array.from({ length: N }, () => (rng.next() * 2 - 1) * scale);
}

/** One "training" round: the master weights move by a random step (a few large moves, most small). */
function step(master: Float32Array, seed: number): Float32Array {
  const rng = createRng(seed);
  return Float32Array.from(master, (x) => x + (rng.next() * 2 - 1) * (rng.next() < 0.05 ? 3e-2 : 1e-3));
}

const ref = (hash: string, bytes: number) => ({ hash, url: `/blobs/${hash}`, bytes });

/** The coordinator over `rounds` rounds: its chain state, the blobs it stored, and the master weights. */
function coordinatorRun(ds: Downstream, rounds: number) {
  let master = randomFlat(1, 0.1);
  const first = firstBroadcast(LAYOUT, master, ds);
  master = Float32Array.from(first.weights.flat);
  let state: BroadcastState = first.state;
  let broadcast: Weights = first.weights;
  const blobs = new Map<string, Uint8Array>([[first.state.hash, first.full]]);
  const versions = [first.state.hash];
  const gaps: number[] = [];
  for (let r = 0; r < rounds; r++) {
    master = step(master, 100 + r);
    const next = nextBroadcast(state, broadcast, master, ds);
    blobs.set(next.state.hash, next.full);
    if (next.delta) blobs.set(sha256Hex(next.delta), next.delta);
    state = next.state;
    broadcast = next.weights;
    versions.push(state.hash);
    gaps.push(Math.max(...Array.from(master, (m, i) => Math.abs(m - broadcast.flat[i]!))));
  }
  return { state, broadcast, master, blobs, versions, gaps };
}

const inflate = (b: Uint8Array) => inflateDelta(b, inflatedDeltaLimit(N));

/** A volunteer: takes the offer, fetching only what planWeights asks for (and counting it). */
async function volunteerTakes(held: HeldWeights | null, state: BroadcastState, ds: Downstream, blobs: Map<string, Uint8Array>) {
  const offer = offerOf(state, ds, ref);
  const chain = planWeights(held?.hash ?? null, offer);
  if (held && chain) {
    const got = chain.map((l) => blobs.get(l.blob.hash)!);
    const w = applyChain(held, chain, await Promise.all(got.map(inflate)), offer.deltaBlockSize);
    return { w, bytes: got.reduce((n, b) => n + b.byteLength, 0), links: chain.length };
  }
  const full = blobs.get(offer.full.hash)!;
  return { w: { ...decodeFullWeights(full), hash: sha256Hex(full) }, bytes: full.byteLength, links: -1 };
}

const INT8: Downstream = { weightsFormat: 'fp16', deltaFormat: 'int8', blockSize: 64, keep: 4 };

describe('full weights', () => {
  it('fp32 round-trips exactly and names the version by its bytes', () => {
    const w = roundWeights(LAYOUT, randomFlat(2, 1), 'fp32');
    const back = decodeFullWeights(encodeFullWeights(w));
    expect(back.layout).toEqual(LAYOUT);
    expect(back.format).toBe('fp32');
    expect(Buffer.from(back.flat.buffer).equals(Buffer.from(w.flat.buffer))).toBe(true);
    expect(weightsHash(back)).toBe(weightsHash(w));
  });

  it('fp16: the weights are rounded to fp16 once, so the fp16 blob holds them exactly (half the bytes)', () => {
    const flat = randomFlat(3, 1);
    const w = roundWeights(LAYOUT, flat, 'fp16');
    for (let i = 0; i < N; i++) expect(w.flat[i]).toBe(halfToFloat(floatToHalf(flat[i]!)));
    const bytes = encodeFullWeights(w);
    const back = decodeFullWeights(bytes);
    expect(back.format).toBe('fp16');
    expect(Array.from(back.flat)).toEqual(Array.from(w.flat));
    expect(bytes.byteLength).toBeLessThan(encodeFullWeights(roundWeights(LAYOUT, flat, 'fp32')).byteLength * 0.55);
  });

  it('refuses weights fp16 cannot hold', () => {
    const flat = randomFlat(4, 1);
    flat[17] = 1e6;
    expect(() => roundWeights(LAYOUT, flat, 'fp16')).toThrow('weight 17 (1000000) cannot be sent as fp16');
  });
});

describe('deltas', () => {
  it('a delta blob round-trips, and applying it reproduces the coordinator\'s next weights bit for bit', () => {
    for (const format of ['int8', 'fp16'] as const) {
      const from = roundWeights(LAYOUT, randomFlat(5, 0.1), 'fp32');
      const target = step(from.flat, 6);
      const { delta, next } = makeDelta(from, target, format, 64);
      const decoded = decodeDelta(encodeDelta(delta), 64);
      expect(decoded.format).toBe(format);
      expect(weightsHash(applyDelta(from, decoded))).toBe(weightsHash(next));
      // The delta moved the weights to within one rounding step of the target.
      for (let i = 0; i < N; i++) expect(Math.abs(next.flat[i]! - target[i]!)).toBeLessThanOrEqual(roundingStep(format, delta.scales[Math.floor(i / 64)]!) * 1.01 + 1e-7);
    }
  });

  it('over 300 rounds, a volunteer applying every delta holds exactly the broadcast weights, and they stay within one step of the master weights', async () => {
    const ds = INT8;
    let master = randomFlat(7, 0.1);
    const first = firstBroadcast(LAYOUT, master, ds);
    master = Float32Array.from(first.weights.flat);
    let state = first.state;
    let coordinator = first.weights;
    let volunteer: HeldWeights = { ...decodeFullWeights(first.full), hash: sha256Hex(first.full) };
    let worst = 0;
    for (let r = 0; r < 300; r++) {
      master = step(master, 1000 + r);
      const next = nextBroadcast(state, coordinator, master, ds);
      const offer = offerOf(next.state, ds, ref);
      const chain = planWeights(volunteer.hash, offer)!;
      expect(chain).toHaveLength(1);
      const inflated = await inflate(next.delta!);
      volunteer = applyChain(volunteer, chain, [inflated], ds.blockSize);
      expect(volunteer.hash).toBe(next.state.hash);
      state = next.state;
      coordinator = next.weights;
      // Error feedback on the coordinator: the gap to the master weights is one round's rounding (int8 step of
      // the delta's block plus an fp16 half-ulp), it does not accumulate over the rounds.
      const delta = decodeDelta(inflated, ds.blockSize);
      for (let i = 0; i < N; i++) {
        const gap = Math.abs(master[i]! - coordinator.flat[i]!);
        const bound = roundingStep('int8', delta.scales[Math.floor(i / ds.blockSize)]!) + Math.abs(master[i]!) * 2 ** -11 + 1e-7;
        worst = Math.max(worst, gap / bound);
      }
    }
    expect(worst).toBeLessThanOrEqual(1.01);
  });

  it('without deltas (fp32 changes) the broadcast weights are the master weights in the weights format and no chain is kept', () => {
    const r = coordinatorRun({ weightsFormat: 'fp32', deltaFormat: null, blockSize: 64, keep: 4 }, 3);
    expect(Array.from(r.broadcast.flat)).toEqual(Array.from(r.master));
    expect(r.state.deltas).toEqual([]);
  });
});

describe('the chain of versions', () => {
  it('keeps the last `keep` deltas and names what it no longer needs', () => {
    const ds = INT8;
    const r = coordinatorRun(ds, 6);
    expect(r.state.deltas.map((d) => d.target)).toEqual(r.versions.slice(3));
    expect(r.state.deltas.map((d) => d.base)).toEqual(r.versions.slice(2, 6));
    const again = nextBroadcast(r.state, r.broadcast, step(r.master, 9), ds);
    expect(again.dropped).toEqual([r.state.hash, r.state.deltas[0]!.hash]);
    expect(again.state.deltas).toHaveLength(4);
  });

  it('a volunteer that skipped rounds gets the chained deltas while the chain reaches its version, then full weights', async () => {
    // fp32 full weights: an int8 delta costs about a quarter of them, so a chain of 3 is still cheaper.
    const ds: Downstream = { weightsFormat: 'fp32', deltaFormat: 'int8', blockSize: 64, keep: 3 };
    const r = coordinatorRun(ds, 6);
    const heldAt = (v: number): HeldWeights => {
      const w = decodeFullWeights(r.blobs.get(r.versions[v]!)!);
      return { ...w, hash: r.versions[v]! };
    };
    // Missed 2 rounds (holds version 4 of 6): two links, far fewer bytes than the full weights.
    const two = await volunteerTakes(heldAt(4), r.state, ds, r.blobs);
    expect(two.links).toBe(2);
    expect(two.w.hash).toBe(r.state.hash);
    expect(two.bytes).toBeLessThan(r.state.bytes * 0.6);
    // Missed 3 (version 3): the whole chain.
    const three = await volunteerTakes(heldAt(3), r.state, ds, r.blobs);
    expect(three.links).toBe(3);
    expect(three.w.hash).toBe(r.state.hash);
    // Missed 4 (version 2): the chain no longer reaches it, full weights.
    const old = await volunteerTakes(heldAt(2), r.state, ds, r.blobs);
    expect(old.links).toBe(-1);
    expect(old.w.hash).toBe(r.state.hash);
    // Holds the current version: nothing to fetch.
    expect(planWeights(r.state.hash, offerOf(r.state, ds, ref))).toEqual([]);
    // Holds nothing (a volunteer joining mid-training): full weights.
    expect(planWeights(null, offerOf(r.state, ds, ref))).toBeNull();
  });

  it('takes full weights when the chain would cost more', () => {
    // Deltas of half the full weights' size each (about what int8 deltas are to fp16 full weights): one link is cheaper, two are not.
    const r = coordinatorRun(INT8, 3);
    const offer = offerOf(r.state, INT8, (hash, bytes) => ref(hash, hash === r.state.hash ? bytes : r.state.bytes / 2));
    expect(planWeights(r.versions[2]!, offer)).toHaveLength(1);
    expect(planWeights(r.versions[1]!, offer)).toBeNull();
  });
});

describe('refusals', () => {
  const ds = INT8;
  const r = coordinatorRun(ds, 3);
  const offer = offerOf(r.state, ds, ref);
  const held2: HeldWeights = { ...decodeFullWeights(r.blobs.get(r.versions[2]!)!), hash: r.versions[2]! };
  const chain = planWeights(held2.hash, offer)!;
  const deflated = r.blobs.get(chain[0]!.blob.hash)!;
  let blobs: Uint8Array[] = [];
  const s = (h: string) => h.slice(0, 12);

  it('the coordinator\'s deltas are deflated; one that inflates past a delta of the model\'s size, or is not deflated, is refused', async () => {
    blobs = [await inflate(deflated)];
    expect(deflated.byteLength).toBeLessThan(blobs[0]!.byteLength);
    const bomb = deflateSync(new Uint8Array(inflatedDeltaLimit(N) + 1));
    await expect(inflate(bomb)).rejects.toThrow(`a weights delta inflates past ${inflatedDeltaLimit(N)} bytes, more than a delta of this model can be`);
    await expect(inflate(blobs[0]!)).rejects.toThrow('a weights delta blob is not deflated data');
  });

  it('a chain applied to weights that are not its base (stale or forged)', () => {
    const held1: HeldWeights = { ...decodeFullWeights(r.blobs.get(r.versions[1]!)!), hash: r.versions[1]! };
    expect(() => applyChain(held1, chain, blobs, ds.blockSize)).toThrow(`delta 1 of 1 applies to weights ${s(r.versions[2]!)}, this volunteer holds ${s(r.versions[1]!)}`);
    // Weights that claim a version they are not: the result cannot hash to the version named.
    const forged: HeldWeights = { ...held2, flat: Float32Array.from(held2.flat, (x, i) => (i === 5 ? x + 0.5 : x)) };
    expect(() => applyChain(forged, chain, blobs, ds.blockSize)).toThrow(`delta 1 of 1 from ${s(r.versions[2]!)} makes weights`);
    expect(() => applyChain(forged, chain, blobs, ds.blockSize)).toThrow(`not ${s(r.versions[3]!)} as the coordinator says`);
  });

  it('a tampered or malformed delta blob', () => {
    const d = decodeDelta(blobs[0]!, ds.blockSize);
    const values = Int8Array.from(d.values as Int8Array, (x, i) => (i === 3 ? -x || 1 : x));
    const tampered = encodeDelta({ ...d, values });
    expect(() => applyChain(held2, chain, [tampered], ds.blockSize)).toThrow('as the coordinator says');
    const short = encodeDelta({ ...d, values: (d.values as Int8Array).subarray(0, N - 1) });
    expect(() => applyChain(held2, chain, [short], ds.blockSize)).toThrow(`weights delta: update has ${N - 1} values, the model has ${N} parameters`);
    const nan = encodeDelta({ ...d, scales: Float32Array.from(d.scales, (x, i) => (i === 2 ? NaN : x)) });
    expect(() => applyChain(held2, chain, [nan], ds.blockSize)).toThrow('weights delta: update scale 2 is NaN');
  });

  it('an offer whose chain does not join up, or whose full weights are another version', () => {
    const broken = { ...offer, deltas: [offer.deltas[0]!, offer.deltas[2]!] };
    expect(() => planWeights(held2.hash, broken)).toThrow(`the weights offer's delta chain is broken: delta 1 applies to ${s(r.versions[2]!)}, delta 0 makes ${s(r.versions[1]!)}`);
    const wrongEnd = { ...offer, deltas: offer.deltas.slice(0, 2) };
    expect(() => planWeights(held2.hash, wrongEnd)).toThrow(`the weights offer's delta chain ends at ${s(r.versions[2]!)}, not at the offered weights ${s(r.versions[3]!)}`);
    const otherFull = { ...offer, full: ref(r.versions[1]!, 1) };
    expect(() => planWeights(null, otherFull)).toThrow(`the weights offer names version ${s(r.versions[3]!)} but its full weights are blob ${s(r.versions[1]!)}`);
  });
});
