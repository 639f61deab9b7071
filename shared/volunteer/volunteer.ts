/**
 * The volunteer's side of the protocol, shared by browser tabs and Node
 * workers: say hello, resend unacknowledged results, then pull, acknowledge,
 * compute (with heartbeats), keep the result until the coordinator acks it,
 * and rest according to the intensity.
 */
import type { Socket } from 'socket.io-client';
import type {
  Assignment, ClientToServerEvents, CopyOutcome, ErrorCode, HelloReply, HelloRequest, Reply, ServerToClientEvents, WireTensor,
} from '../protocol/events.ts';
import type { PendingStore } from './pending.ts';
import { restAfter } from './throttle.ts';

export type VolunteerSocket = Socket<ServerToClientEvents, ClientToServerEvents>;

export type VolunteerState = 'idle' | 'connecting' | 'waiting' | 'computing' | 'uploading' | 'resting' | 'paused' | 'stopped';

export interface VolunteerHooks {
  state?(s: VolunteerState, detail?: string): void;
  hello?(r: HelloReply): void;
  assignment?(a: Assignment): void;
  computed?(a: Assignment, computeMs: number): void;
  uploaded?(copyId: string, status: string): void;
  outcome?(o: CopyOutcome): void;
  balance?(b: { account: string; balance: number }): void;
  error?(message: string): void;
  /** The coordinator refused this volunteer for good; the loop has stopped. */
  refused?(code: ErrorCode, message: string): void;
}

const FINAL_HELLO_REFUSALS = new Set<ErrorCode>(['forbidden', 'not_found', 'bad_request']);

export interface VolunteerOptions {
  socket: VolunteerSocket;
  hello: HelloRequest;
  execute(a: Assignment): Promise<{ outputs: WireTensor[]; computeMs: number }>;
  pending: PendingStore;
  /** Fraction of time spent computing, 0.05..1. */
  intensity?: number;
  hooks?: VolunteerHooks;
  /** Persist credentials so a reload resumes as the same volunteer. */
  saveCredentials?(c: { volunteerId: string; secret: string }): void | Promise<void>;
}

/**
 * A wake-up a sleeping loop can be roused by at once (a nudge, a reconnect,
 * stop); a wake that arrives while the loop is busy is kept for its next sleep.
 */
class Wake {
  woken = false;
  private waiters: (() => void)[] = [];

  set(): void {
    this.woken = true;
    for (const w of this.waiters.splice(0)) w();
  }

  sleep(ms: number): Promise<void> {
    if (this.woken) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const done = () => { clearTimeout(t); resolve(); };
      const t = setTimeout(() => { this.waiters = this.waiters.filter((w) => w !== done); resolve(); }, ms);
      this.waiters.push(done);
    });
  }
}

const rest = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));


/** Emits with an ack, rejecting when the socket is down or no ack arrives in time. */
function call<R>(socket: VolunteerSocket, event: keyof ClientToServerEvents, payload: unknown, timeoutMs = 30_000): Promise<Reply<R>> {
  return new Promise((resolve, reject) => {
    if (!socket.connected) return reject(new Error('not connected'));
    (socket.timeout(timeoutMs) as unknown as { emit: (e: string, p: unknown, cb: (err: Error | null, r: Reply<R>) => void) => void })
      .emit(event, payload, (err, r) => (err ? reject(err) : resolve(r)));
  });
}

export class Volunteer {
  private running = false;
  private paused = false;
  private wake = new Wake();
  private helloReply: HelloReply | null = null;
  private loop: Promise<void> | null = null;
  intensity: number;

  constructor(private readonly o: VolunteerOptions) {
    this.intensity = o.intensity ?? 1;
    const s = o.socket;
    s.on('work:nudge', () => { this.wake.set(); });
    s.on('copy:outcome', (x) => o.hooks?.outcome?.(x));
    s.on('credit:balance', (b) => o.hooks?.balance?.(b));
    s.on('connect', () => { this.wake.set(); });
    s.on('connect_error', (e) => o.hooks?.error?.(`cannot connect: ${e.message}`));
  }

  get account(): string | null {
    return this.helloReply?.account ?? null;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.paused = false;
    if (!this.o.socket.connected) this.o.socket.connect();
    this.loop = this.run();
  }

  /** Stops requesting work; the shard in hand (if any) finishes and its result is kept and uploaded. */
  async stop(): Promise<void> {
    this.running = false;
    this.wake.set();
    await this.loop;
    this.o.hooks?.state?.('stopped');
  }

  pause(reason: string): void {
    this.paused = true;
    this.o.hooks?.state?.('paused', reason);
  }

  resume(): void {
    this.paused = false;
    this.wake.set();
  }

  private setState(s: VolunteerState, detail?: string) {
    this.o.hooks?.state?.(s, detail);
  }

  private async ensureHello(): Promise<boolean> {
    if (this.helloReply && this.o.socket.connected && this.helloedSocketId === this.o.socket.id) return true;
    if (!this.o.socket.connected) return false;
    const r = await call<HelloReply>(this.o.socket, 'hello', this.o.hello);
    if (!r.ok) {
      this.o.hooks?.error?.(r.error);
      // A refusal no retry can fix (a project that does not allow this page, a bad wallet): stop, and say why.
      if (FINAL_HELLO_REFUSALS.has(r.code)) {
        this.running = false;
        this.o.hooks?.refused?.(r.code, r.error);
        this.setState('stopped', r.error);
        return false;
      }
      throw new Error(r.error);
    }
    this.helloReply = r;
    this.helloedSocketId = this.o.socket.id;
    // Reconnects present these credentials, so results stay attributable.
    if (r.secret) {
      this.o.socket.auth = { ...(this.o.socket.auth as object), volunteerId: r.volunteerId, secret: r.secret };
      await this.o.saveCredentials?.({ volunteerId: r.volunteerId, secret: r.secret });
    }
    this.o.hooks?.hello?.(r);
    await this.flushPending();
    return true;
  }

  private helloedSocketId: string | undefined;

  /** Uploads every kept result; each is removed only once the coordinator acknowledged it. */
  async flushPending(): Promise<void> {
    for (const p of await this.o.pending.all()) {
      try {
        await this.upload(p.copyId, p.outputs, p.computeMs, false);
      } catch {
        return; // still disconnected: try again after the next connect
      }
    }
  }

  /** Uploads a kept result; with `next`, the reply may carry the next assignment (one round trip instead of two). */
  private async upload(copyId: string, outputs: WireTensor[], computeMs: number, next = false): Promise<Assignment | null> {
    const r = await call<{ status: string; next?: { assignment: Assignment | null } }>(
      this.o.socket, 'work:result', { copyId, outputs, computeMs, ...(next ? { next: true } : {}) }, 120_000);
    if (r.ok) {
      await this.o.pending.remove(copyId);
      this.o.hooks?.uploaded?.(copyId, r.status);
      return r.next?.assignment ?? null;
    }
    // The coordinator refused it for good (expired, forged, bad result): keeping it would only loop.
    await this.o.pending.remove(copyId);
    this.o.hooks?.error?.(`result for ${copyId} refused: ${r.error}`);
    return null;
  }

  /** Prefetching the next copy only makes sense while nothing will make us stop or rest first. */
  private get wantsNext(): boolean {
    return this.running && !this.paused && this.intensity >= 1;
  }

  private async run(): Promise<void> {
    let next: Assignment | null = null;
    while (this.running) {
      this.wake.woken = false;
      if (this.paused) {
        if (next) { await this.release(next); next = null; }
        this.setState('paused');
        await this.wake.sleep(1000);
        continue;
      }
      try {
        if (!(await this.ensureHello())) {
          if (!this.running) break;
          this.setState('connecting');
          await this.wake.sleep(1000);
          continue;
        }
        let a = next;
        next = null;
        if (!a) {
          this.setState('waiting');
          const r = await call<{ assignment: Assignment | null; retryInMs?: number; reason?: string }>(this.o.socket, 'work:request', {});
          if (!r.ok) { this.o.hooks?.error?.(r.error); await this.wake.sleep(5000); continue; }
          if (!r.assignment) { this.setState('waiting', r.reason); await this.wake.sleep(r.retryInMs ?? 5000); continue; }
          a = r.assignment;
        }
        const done = await this.work(a);
        next = done.next;
        if (this.running && this.intensity < 1) {
          this.setState('resting');
          await rest(restAfter(done.computeMs, this.intensity));
        }
      } catch (e) {
        this.o.hooks?.error?.((e as Error).message);
        await this.wake.sleep(1000);
      }
    }
    if (next) await this.release(next);
  }

  /** Hands back a prefetched copy we will not start, so it is reissued at once and counts as no error. */
  private async release(a: Assignment): Promise<void> {
    await call(this.o.socket, 'work:release', { copyId: a.copyId }).catch(() => {});
  }

  private async work(raw: Assignment): Promise<{ computeMs: number; next: Assignment | null }> {
    const a = withByteArrays(raw);
    this.o.hooks?.assignment?.(a);
    this.setState('computing', a.jobId);
    // Lazy acknowledgement: a shard whose result is acknowledged quickly needs
    // no separate ack; otherwise (long compute, or an upload that hangs) the
    // copy is acknowledged well within ackWithinMs and kept alive by heartbeats.
    // Either way the coordinator learns we hold it.
    let beat: ReturnType<typeof setInterval> | undefined;
    const ackTimer = setTimeout(() => {
      call<{ leaseDeadline: number }>(this.o.socket, 'work:ack', { copyId: a.copyId }).then((r) => {
        if (!r.ok) { this.o.hooks?.error?.(r.error); return; }
        beat = setInterval(() => {
          call(this.o.socket, 'work:heartbeat', { copyIds: [a.copyId] }).catch(() => {});
        }, Math.max(250, Math.min(this.helloReply?.heartbeatMs ?? 10_000, a.leaseMs / 3)));
      }).catch(() => {});
    }, Math.min(1000, a.ackWithinMs / 4));
    const stopBeating = () => { clearTimeout(ackTimer); if (beat) clearInterval(beat); };
    let result: { outputs: WireTensor[]; computeMs: number };
    try {
      result = await this.o.execute(a);
    } catch (e) {
      stopBeating();
      const message = (e as Error).message ?? String(e);
      await call(this.o.socket, 'work:fail', { copyId: a.copyId, error: message.slice(0, 2000) }).catch(() => {});
      this.o.hooks?.error?.(`shard failed: ${message}`);
      return { computeMs: 0, next: null };
    }
    await this.o.pending.save({ copyId: a.copyId, outputs: result.outputs, computeMs: result.computeMs, savedAt: Date.now() });
    this.o.hooks?.computed?.(a, result.computeMs);
    this.setState('uploading');
    let next: Assignment | null = null;
    try {
      next = await this.upload(a.copyId, result.outputs, result.computeMs, this.wantsNext);
    } catch {
      // Kept in the pending store; flushed after the next hello.
    } finally {
      stopBeating();
    }
    // Stopped or paused while the reply was on its way: hand the prefetched copy back.
    if (next && !this.wantsNext) { await this.release(next); next = null; }
    return { computeMs: result.computeMs, next };
  }
}

/** socket.io-client hands binary over as ArrayBuffer in browsers and Buffer in Node: make both Uint8Array. */
export function withByteArrays(a: Assignment): Assignment {
  return {
    ...a,
    inputs: a.inputs.map((t) => ({ ...t, data: t.data instanceof Uint8Array ? t.data : new Uint8Array(t.data as ArrayBuffer) })),
  };
}
