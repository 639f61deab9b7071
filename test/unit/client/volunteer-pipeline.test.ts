// The shared Volunteer loop's pipeline against a scripted coordinator: the next copy computes while the
// previous result uploads, without breaking the protocol (results kept until acknowledged, at most two
// copies held, Stop delivers the shard in hand and hands the prefetched copy back).
import { describe, expect, it } from 'vitest';
import type { Assignment, HelloRequest } from '../../../shared/protocol/events.ts';
import { MemoryPendingStore, type PendingResult } from '../../../shared/volunteer/pending.ts';
import { KEEP_AT_ONCE_MS, KEEP_UNACKED_AFTER_MS, Volunteer, type VolunteerSocket } from '../../../shared/volunteer/volunteer.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A coordinator with `copies` copies to hand out, two held per volunteer at most, replying after `rttMs`. */
class ScriptedCoordinator {
  connected = true;
  id = 'socket-1';
  auth: object = {};
  readonly events: string[] = [];
  readonly held = new Set<string>();
  readonly returned: string[] = [];
  maxHeld = 0;
  uploading = 0;
  uploadsStarted = 0;
  private queue: string[];

  constructor(copies: number, private readonly rttMs = 3) {
    this.queue = Array.from({ length: copies }, (_, i) => `c${i}`);
  }

  on(): this { return this; }
  connect(): void {}

  timeout() {
    return {
      emit: (event: string, payload: { copyId?: string; next?: boolean }, cb: (err: Error | null, r: unknown) => void) => {
        this.events.push(event === 'work:result' && payload.next ? 'work:result+next' : event);
        if (event === 'work:result') { this.uploading++; this.uploadsStarted++; }
        setTimeout(() => {
          if (event === 'work:result') this.uploading--;
          cb(null, this.reply(event, payload));
        }, this.rttMs);
      },
    };
  }

  private assign(): { assignment: Assignment | null } {
    if (this.held.size >= 2 || !this.queue.length) return { assignment: null };
    const copyId = this.queue.shift()!;
    this.held.add(copyId);
    this.maxHeld = Math.max(this.maxHeld, this.held.size);
    return {
      assignment: {
        copyId, jobId: 'j', projectId: 'p', kind: 'inference', model: { hash: 'm', url: '/blobs/m', bytes: 1 },
        feedBlobs: [], inputs: [{ name: 'x', dtype: 'float32', dims: [1], data: new Uint8Array(4) }], batchedInputs: ['x'], runUnit: 0,
        outputs: ['y'], ackWithinMs: 15_000, leaseMs: 120_000,
      },
    };
  }

  private reply(event: string, p: { copyId?: string; next?: boolean }): unknown {
    switch (event) {
      case 'hello': return { ok: true, volunteerId: 'v', account: 'volunteer:v', numericClass: 'x', heartbeatMs: 10_000, limits: { maxResultBytes: 1e9 } };
      case 'work:request': return { ok: true, ...this.assign() };
      case 'work:result': {
        if (!this.held.delete(p.copyId!)) return { ok: false, code: 'not_assigned', error: 'not yours' };
        this.returned.push(p.copyId!);
        return { ok: true, status: 'accepted', ...(p.next ? { next: this.assign() } : {}) };
      }
      case 'work:release': {
        this.held.delete(p.copyId!);
        this.queue.unshift(p.copyId!);
        return { ok: true };
      }
      default: return { ok: true };
    }
  }
}

/** Counts writes: the pending store is IndexedDB in a tab, and every write of a result costs the browser. */
class CountingPendingStore extends MemoryPendingStore {
  saves: string[] = [];
  override async save(r: PendingResult) { this.saves.push(r.copyId); await super.save(r); }
}

function volunteer(coord: ScriptedCoordinator, computeMs: number, reportedMs = computeMs) {
  const pending = new CountingPendingStore();
  const stats = { running: 0, overlapped: 0, maxRunning: 0, computed: [] as string[] };
  const v = new Volunteer({
    socket: coord as unknown as VolunteerSocket,
    hello: {} as HelloRequest,
    pending,
    execute: async (a) => {
      stats.running++;
      stats.maxRunning = Math.max(stats.maxRunning, stats.running);
      // Overlap: a result was on its way at some point while this shard computed.
      const started = coord.uploadsStarted;
      const inFlight = coord.uploading > 0;
      await sleep(computeMs);
      if (inFlight || coord.uploadsStarted > started) stats.overlapped++;
      stats.running--;
      stats.computed.push(a.copyId);
      return { outputs: [{ name: 'y', dtype: 'float32', dims: [1], data: new Uint8Array(4) }], computeMs: reportedMs };
    },
  });
  return { v, pending, stats };
}

describe('Volunteer pipeline', () => {
  it('computes the next copy while the previous result uploads; every copy delivered once, two held at most', async () => {
    const coord = new ScriptedCoordinator(12);
    const { v, pending, stats } = volunteer(coord, 15);
    v.start();
    for (let i = 0; i < 200 && coord.returned.length < 12; i++) await sleep(10);
    await v.stop();
    expect(coord.returned.sort()).toEqual(Array.from({ length: 12 }, (_, i) => `c${i}`).sort());
    expect(stats.maxRunning).toBe(1);
    expect(coord.maxHeld).toBeLessThanOrEqual(2);
    // Most shards started while the previous result was still on its way.
    expect(stats.overlapped).toBeGreaterThan(6);
    // Later copies come in the reply to an upload, not from a request of their own.
    expect(coord.events.filter((e) => e === 'work:request').length).toBeLessThan(4);
    expect(await pending.all()).toHaveLength(0);
  });

  it('Stop delivers the shard in hand, hands the prefetched copy back and asks for nothing more', async () => {
    const coord = new ScriptedCoordinator(100);
    const { v, pending, stats } = volunteer(coord, 15);
    v.start();
    for (let i = 0; i < 200 && coord.returned.length < 4; i++) await sleep(5);
    await v.stop();
    const asked = coord.events.filter((e) => e === 'work:request' || e === 'work:result+next').length;
    expect(coord.held.size).toBe(0);
    expect(coord.returned.sort()).toEqual([...stats.computed].sort());
    expect(await pending.all()).toHaveLength(0);
    await sleep(100);
    expect(coord.events.filter((e) => e === 'work:request' || e === 'work:result+next').length).toBe(asked);
  });

  it('keeps a result whose upload fails until a later hello delivers it', async () => {
    const coord = new ScriptedCoordinator(1);
    const { v, pending } = volunteer(coord, 5);
    const emit = coord.timeout().emit;
    let failed = false;
    coord.timeout = () => ({
      emit: (event, payload, cb) => {
        if (event === 'work:result' && !failed) { failed = true; setTimeout(() => cb(new Error('operation has timed out'), null), 3); return; }
        emit(event, payload, cb);
      },
    });
    v.start();
    for (let i = 0; i < 100 && !failed; i++) await sleep(5);
    await sleep(20);
    expect((await pending.all()).map((p) => p.copyId)).toEqual(['c0']);
    await v.flushPending();
    expect(await pending.all()).toHaveLength(0);
    expect(coord.returned).toEqual(['c0']);
    await v.stop();
  });

  it('writes short shards\' results to the pending store only when their acknowledgement is slow', async () => {
    const coord = new ScriptedCoordinator(12);
    const { v, pending } = volunteer(coord, 15);
    v.start();
    for (let i = 0; i < 200 && coord.returned.length < 12; i++) await sleep(10);
    await v.stop();
    expect(coord.returned).toHaveLength(12);
    expect(pending.saves).toEqual([]);

    // c0's acknowledgement takes longer than KEEP_UNACKED_AFTER_MS: it is written down meanwhile, and removed once acknowledged.
    const slow = new ScriptedCoordinator(1);
    const s = volunteer(slow, 5);
    const emit = slow.timeout().emit;
    slow.timeout = () => ({
      emit: (event, payload, cb) => (event === 'work:result' ? setTimeout(() => emit(event, payload, cb), KEEP_UNACKED_AFTER_MS + 300) : emit(event, payload, cb)),
    });
    s.v.start();
    await sleep(KEEP_UNACKED_AFTER_MS + 150);
    expect((await s.pending.all()).map((p) => p.copyId)).toEqual(['c0']);
    for (let i = 0; i < 100 && slow.returned.length < 1; i++) await sleep(10);
    await s.v.stop();
    expect(s.pending.saves).toEqual(['c0']);
    expect(await s.pending.all()).toHaveLength(0);
  });

  it('keepAll writes down at once every result still on its way (the page is going away)', async () => {
    const coord = new ScriptedCoordinator(1);
    const { v, pending } = volunteer(coord, 5);
    let held: (() => void) | null = null;
    const emit = coord.timeout().emit;
    coord.timeout = () => ({
      emit: (event, payload, cb) => (event === 'work:result' ? (held = () => emit(event, payload, cb)) : emit(event, payload, cb)),
    });
    v.start();
    for (let i = 0; i < 100 && !held; i++) await sleep(5);
    expect(await pending.all()).toHaveLength(0);
    await v.keepAll();
    expect((await pending.all()).map((p) => p.copyId)).toEqual(['c0']);
    held!();
    await v.stop();
    expect(await pending.all()).toHaveLength(0);
  });

  it('writes long shards\' results down before uploading them', async () => {
    const coord = new ScriptedCoordinator(3);
    const { v, pending } = volunteer(coord, 5, KEEP_AT_ONCE_MS + 1);
    v.start();
    for (let i = 0; i < 200 && coord.returned.length < 3; i++) await sleep(10);
    await v.stop();
    expect(pending.saves.sort()).toEqual(['c0', 'c1', 'c2']);
    expect(await pending.all()).toHaveLength(0);
  });
});

describe('Volunteer hello refusals', () => {
  /** A coordinator that refuses every hello with this code and a message no host could recognise by its words. */
  class Refusing extends ScriptedCoordinator {
    constructor(private readonly code: string) { super(0); }
    override timeout() {
      return {
        emit: (event: string, _p: unknown, cb: (err: Error | null, r: unknown) => void) => {
          this.events.push(event);
          setTimeout(() => cb(null, event === 'hello' ? { ok: false, code: this.code, error: 'nein' } : { ok: true }), 1);
        },
      };
    }
  }

  function watch(coord: ScriptedCoordinator) {
    const seen: string[] = [];
    const v = new Volunteer({
      socket: coord as unknown as VolunteerSocket, hello: {} as HelloRequest, pending: new MemoryPendingStore(),
      execute: async () => { throw new Error('nothing should run'); },
      hooks: {
        refused: (code, m) => seen.push(`refused ${code}: ${m}`),
        error: (m) => seen.push(`error: ${m}`),
        state: (s, d) => { if (s === 'stopped') seen.push(`stopped: ${d}`); },
      },
    });
    return { v, seen };
  }

  it('a final refusal is known by its code, told before the error it also is, and stops the loop', async () => {
    const coord = new Refusing('forbidden');
    const { v, seen } = watch(coord);
    v.start();
    for (let i = 0; i < 200 && !seen.some((s) => s.startsWith('stopped')); i++) await sleep(5);
    expect(seen).toEqual(['refused forbidden: nein', 'error: nein', 'stopped: nein']);
    await sleep(50);
    expect(coord.events).toEqual(['hello']);
    await v.stop();
  });

  it('a passing refusal is an error only; the loop tries again', async () => {
    const coord = new Refusing('internal');
    const { v, seen } = watch(coord);
    v.start();
    for (let i = 0; i < 200 && seen.length === 0; i++) await sleep(5);
    await v.stop();
    expect(seen[0]).toBe('error: nein');
    expect(seen.some((s) => s.startsWith('refused'))).toBe(false);
  });
});
