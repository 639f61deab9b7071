/**
 * Load generators: socket.io-client connections that either echo a payload
 * (the bare baseline) or speak tabgrid's volunteer protocol as fast as the
 * coordinator answers. Both kinds run in the same process and the same event
 * loop, started and paused the same way, so the client side costs the same
 * per message on both sides of a comparison.
 */
import { io, type Socket } from 'socket.io-client';
import type { Assignment, ClientToServerEvents, HelloRequest, ServerToClientEvents, VolunteerNews } from '../../shared/protocol/events.ts';
import { PROTOCOL_VERSION, SOCKET_PATH } from '../../shared/protocol/version.ts';
import { reluBytes } from './relu-model.ts';

export type VolunteerSocket = Socket<ServerToClientEvents, ClientToServerEvents>;
interface EchoEvents { echo: (data: Uint8Array, ack: (data: Uint8Array) => void) => void }
export type EchoSocket = Socket<Record<string, never>, EchoEvents>;

/** Long enough never to fire on a slow machine, short enough that a wedged server ends the run. */
const ACK_TIMEOUT_MS = 60_000;

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * Opens `count` websocket connections, `batch` handshakes at a time (so the
 * server is not flooded with simultaneous upgrades). forceNew: one engine.io
 * connection per socket, never one multiplexed connection for all.
 */
export async function connectMany<S extends Socket>(url: string, count: number, auth: object, batch = 100): Promise<S[]> {
  const out: S[] = [];
  for (let i = 0; i < count; i += batch) {
    const n = Math.min(batch, count - i);
    out.push(...await Promise.all(Array.from({ length: n }, () => new Promise<S>((res, rej) => {
      const s = io(url, { path: SOCKET_PATH, transports: ['websocket'], auth, forceNew: true, reconnection: false }) as unknown as S;
      s.once('connect', () => res(s));
      s.once('connect_error', (e: Error) => rej(new Error(`cannot connect to ${url}: ${e.message}`)));
    }))));
  }
  return out;
}

export function disconnectAll(sockets: readonly Socket[]): void {
  for (const s of sockets) s.disconnect();
}

/** All bench volunteers share one numeric class, so every copy is compared with every other. */
export const BENCH_HELLO: HelloRequest = {
  backend: 'wasm',
  capabilities: { agent: 'node', backends: ['wasm'], ortVersion: 'bench', threads: 1 },
};

export async function volunteers(url: string, count: number): Promise<VolunteerSocket[]> {
  const sockets = await connectMany<VolunteerSocket>(url, count, { protocol: PROTOCOL_VERSION });
  for (let i = 0; i < sockets.length; i += 100) {
    await Promise.all(sockets.slice(i, i + 100).map(async (s) => {
      const r = await s.timeout(ACK_TIMEOUT_MS).emitWithAck('hello', BENCH_HELLO);
      if (!r.ok) throw new Error(`hello refused: ${r.code}: ${r.error}`);
    }));
  }
  return sockets;
}

/** Counters read at window edges: a rate is the difference over the window's duration. */
export interface Counters {
  /** Completed units: echoes for the bare side, accepted results for the coordinator. */
  done: number;
  /** Emits answered by an acknowledgement (request, ack, result for the coordinator). */
  emits: number;
  /** Work requests answered "no work available": the job ran dry, and the figure would understate. */
  starved: number;
  /** Server pushes received (news, work:nudge); news that rode on a reply is no push. */
  pushes: number;
  validOutcomes: number;
  errors: number;
}

const zero = (): Counters => ({ done: 0, emits: 0, starved: 0, pushes: 0, validOutcomes: 0, errors: 0 });

/** What a benchmark drives, whatever the sockets speak. */
export interface Load {
  readonly counters: Counters;
  readonly errorSamples: readonly string[];
  start(): void;
  pause(): Promise<void>;
}

/**
 * Runs one loop per socket while started. pause() lets every loop finish the
 * unit it is in (a volunteer finishes its copy), so a paused side holds no
 * half-done work and leaves the machine idle for the other side.
 */
export abstract class LoadSide<S extends Socket> implements Load {
  readonly counters: Counters = zero();
  readonly errorSamples: string[] = [];
  private running = false;
  private loops: Promise<void>[] = [];

  constructor(readonly sockets: readonly S[]) {}

  start(): void {
    if (this.running) return;
    this.running = true;
    this.loops = this.sockets.map(async (s) => {
      while (this.running) await this.unit(s);
    });
  }

  async pause(): Promise<void> {
    this.running = false;
    await Promise.all(this.loops);
    this.loops = [];
  }

  protected error(what: string): void {
    this.counters.errors++;
    if (this.errorSamples.length < 5) this.errorSamples.push(what);
  }

  protected abstract unit(s: S): Promise<void>;
}

export class EchoSide extends LoadSide<EchoSocket> {
  constructor(sockets: readonly EchoSocket[], private readonly payload: Uint8Array) {
    super(sockets);
  }

  protected async unit(s: EchoSocket): Promise<void> {
    const back = await s.timeout(ACK_TIMEOUT_MS).emitWithAck('echo', this.payload);
    this.counters.emits++;
    if (back.byteLength !== this.payload.byteLength) { this.error(`echo returned ${back.byteLength} bytes`); return; }
    this.counters.done++;
  }
}

/**
 * Honest volunteers at full speed, on the protocol's lean path as the real
 * volunteer loop uses it: request a copy once, then return Relu of its input
 * (the right answer, so both replicas agree and are validated and credited)
 * with `next: true`, which brings the following copy in the same round trip.
 * Shards this short are acknowledged by their result (lazy ack). A result
 * counts once the coordinator acknowledges it `accepted`, which it does only
 * after the group commit holding it (and the validation it completes).
 */
export class VolunteerSide extends LoadSide<VolunteerSocket> {
  private held = new Map<VolunteerSocket, Assignment>();
  /** A reply that accepted a result and brought the next copy, preferably with news (as most do): what the protocol floor replays. */
  sampleReply: object | null = null;

  constructor(sockets: readonly VolunteerSocket[]) {
    super(sockets);
    for (const s of sockets) {
      s.on('news', (n) => { this.counters.pushes++; this.heard(n); });
      s.on('work:nudge', () => { this.counters.pushes++; });
    }
  }

  private heard(n: VolunteerNews | undefined): void {
    if (n) for (const o of n.outcomes) if (o.outcome === 'valid') this.counters.validOutcomes++;
  }

  protected async unit(s: VolunteerSocket): Promise<void> {
    const c = this.counters;
    let a: Assignment | undefined = this.held.get(s);
    if (a === undefined) {
      const w = await s.timeout(ACK_TIMEOUT_MS).emitWithAck('work:request', {});
      c.emits++;
      if (!w.ok) { this.error(`work:request: ${w.code}: ${w.error}`); await sleep(100); return; }
      this.heard(w.news);
      if (!w.assignment) { c.starved++; await sleep(Math.min(w.retryInMs, 250)); return; }
      a = w.assignment as Assignment;
    }
    this.held.delete(s);
    const x = a.inputs[0]!;
    const r = await s.timeout(ACK_TIMEOUT_MS).emitWithAck('work:result', {
      copyId: a.copyId,
      outputs: [{ name: a.outputs[0]!, dtype: 'float32', dims: x.dims, data: reluBytes(x.data) }],
      computeMs: 0,
      next: true,
    });
    c.emits++;
    if (!r.ok) { this.error(`work:result: ${r.code}: ${r.error}`); return; }
    this.heard(r.news);
    if (r.status !== 'accepted') { this.error(`work:result: ${r.status}`); return; }
    if (r.next?.assignment) {
      this.held.set(s, r.next.assignment);
      if (!this.sampleReply || (r.news?.outcomes.length && r.news.balance)) this.sampleReply = r;
    }
    c.done++;
  }
}
