/**
 * The volunteer's side of the protocol, shared by browser tabs and Node
 * workers: say hello, resend unacknowledged results, then pull, acknowledge,
 * compute (with heartbeats), keep the result until the coordinator acks it,
 * and rest according to the intensity.
 */
import type { Socket } from 'socket.io-client';
import {
  type AccountBalance, type Assignment, type ClientToServerEvents, type CopyOutcome, type ErrorCode, type HeldCopy, type HelloReply,
  type HelloRequest, MAX_HELD_IN_HELLO, type Reply, type ServedProject, type ServedProjects, type ServerToClientEvents,
  type VolunteerNews, type WireTensor,
} from '../protocol/events.ts';
import type { HeldCopies } from './held.ts';
import * as v from 'valibot';
import { HeldJobsSchema, MAX_HELD_JOBS } from '../protocol/schemas.ts';
import type { PendingStore } from './pending.ts';
import { reconnectDelay } from './backoff.ts';
import { restAfter } from './throttle.ts';

export type VolunteerSocket = Socket<ServerToClientEvents, ClientToServerEvents>;

export type VolunteerState = 'idle' | 'connecting' | 'waiting' | 'computing' | 'uploading' | 'resting' | 'paused' | 'stopped';

export interface VolunteerHooks {
  state?(s: VolunteerState, detail?: string): void;
  hello?(r: HelloReply): void;
  assignment?(a: Assignment): void;
  computed?(a: Assignment, computeMs: number): void;
  uploaded?(copyId: string, status: string): void;
  /** A result was written to the pending store (its upload is slow, failed, or the shard was long). */
  kept?(copyId: string): void;
  /** A copy in hand that will not be delivered (its computation failed, or the coordinator took it back); the coordinator reissues it. */
  dropped?(copyId: string): void;
  /**
   * The coordinator took back a copy in hand (a heartbeat's reply lists it as lost: its lease ran out, its job
   * ended): its computation was told to stop, or its result is dropped, and nothing is uploaded for it.
   */
  lost?(copyId: string, reason: string): void;
  outcome?(o: CopyOutcome): void;
  balance?(b: AccountBalance): void;
  error?(message: string): void;
  /** The coordinator refused this volunteer for good; the loop has stopped. */
  refused?(code: ErrorCode, message: string): void;
  /** What joining a private project's group by one of `join`'s codes said, after each hello. */
  joined?(r: JoinOutcome): void;
  /** The weights kept for these jobs were dropped: the jobs ended. */
  weightsDropped?(jobIds: readonly string[]): void;
}

/** Joining a group by an invite code: the project, or the coordinator's reason for refusing. */
export type JoinOutcome = { ok: true; code: string; project: ServedProject; already: boolean; served: ServedProjects } | { ok: false; code: string; error: string };

const FINAL_HELLO_REFUSALS = new Set<ErrorCode>(['forbidden', 'not_found', 'bad_request']);

export interface VolunteerOptions {
  socket: VolunteerSocket;
  hello: HelloRequest;
  /** Computes a copy; `abort` fires when the coordinator takes the copy back (an executor that cannot stop ignores it). */
  execute(a: Assignment, abort: AbortSignal): Promise<{ outputs: WireTensor[]; computeMs: number }>;
  pending: PendingStore;
  /** Fraction of time spent computing, 0.05..1. */
  intensity?: number;
  hooks?: VolunteerHooks;
  /** Jitter for reconnect delays (tests fix it); Math.random by default. */
  random?: () => number;
  /**
   * Invite codes of private projects' groups to join after every hello (issue 15): membership belongs to the
   * volunteer's identity, so a new identity (a Node worker's every start) joins again, and a known one is told `already`.
   */
  join?: readonly string[];
  /** Persist credentials so a reload resumes as the same volunteer. */
  saveCredentials?(c: { volunteerId: string; secret: string }): void | Promise<void>;
  /**
   * Where the ids of the copies held are written down (a page: they outlive a reload), so the next start
   * offers them back to the coordinator in its first hello (held.ts). Without it only this run's own copies
   * are offered, after a dropped connection.
   */
  held?: HeldCopies;
  /**
   * The weights of local-steps jobs this volunteer keeps (a tab's IndexedDB, an executor's memory): said to the
   * coordinator after every hello (`jobs:held`), and those of jobs that ended are dropped, whether the reply names
   * them or a `jobs:ended` push does later.
   */
  keptWeights?: KeptWeights;
}

/** Where a volunteer keeps local-steps jobs' weights, by job. */
export interface KeptWeights {
  jobs(): Promise<string[]>;
  drop(jobIds: readonly string[]): Promise<void>;
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

/**
 * Shards computed faster than this are pipelined (the next copy is fetched
 * while one computes): for them a round trip per shard is a large share of
 * the time. Longer ones gain little, and a copy held ahead is lost on reload.
 */
const PIPELINE_BELOW_MS = 1000;

/**
 * A result of a shard computed faster than KEEP_AT_ONCE_MS is written to the
 * pending store only when its upload is not acknowledged within
 * KEEP_UNACKED_AFTER_MS (or the page goes away, or the upload fails): most
 * are acknowledged well before, and writing every short shard's outputs
 * (512 KiB and more) to IndexedDB and deleting them again costs the browser a
 * good share of the shard's compute. What is at risk is one short shard
 * computed in the last half second before a crash, whose copy the
 * coordinator reissues; longer shards are kept before their upload starts.
 */
export const KEEP_AT_ONCE_MS = 1000;
export const KEEP_UNACKED_AFTER_MS = 500;

const rest = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
const nextTask = () => new Promise<void>((resolve) => setTimeout(resolve, 0));


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
    s.on('news', (n) => this.heard(n));
    s.on('jobs:ended', (e) => {
      // The coordinator's word, checked all the same: it only ever makes this volunteer drop what it keeps.
      const r = v.safeParse(HeldJobsSchema, e);
      if (r.success) this.dropWeights(r.output.jobIds);
    });
    s.on('connect', () => {
      this.reconnects = 0;
      this.wake.set();
      // Back after a disconnect (a coordinator restart) while a long shard computes: say hello now, not when the
      // shard is done, so the copy's heartbeats are heard and kept results are resent at once.
      if (this.running && this.helloReply) void this.ensureHello().catch((e) => o.hooks?.error?.((e as Error).message));
    });
    s.on('connect_error', (e: Error & { data?: { code?: string } }) => {
      o.hooks?.error?.(`cannot connect: ${e.message}`);
      const code = e.data?.code;
      // Credentials the coordinator does not know (its data was reset): come back as a new volunteer.
      if (code === 'unauthorized' && (s.auth as { volunteerId?: string }).volunteerId) {
        s.auth = { protocol: (s.auth as { protocol?: number }).protocol };
      }
      // Another protocol version: no retry can fix that.
      if (code !== 'bad_request') this.reconnectSoon();
    });
    // After a transport failure socket.io reconnects by itself; after a disconnect the server chose
    // (a coordinator shutting down, restarting, or deploying), it does not: we do.
    s.on('disconnect', () => this.reconnectSoon());
  }

  private reconnects = 0;
  private reconnectTimer: ReturnType<typeof setTimeout> | null = null;

  /** Reconnects with backoff and jitter, unless socket.io is already on it or the loop is not running. */
  private reconnectSoon(): void {
    const s = this.o.socket;
    if (!this.running || s.active || this.reconnectTimer) return;
    const delay = reconnectDelay(this.reconnects++, this.o.random);
    this.o.hooks?.state?.('connecting', `reconnecting in ${(delay / 1000).toFixed(1)} s`);
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = null;
      if (this.running && !s.connected && !s.active) s.connect();
    }, delay);
  }

  /** Outcomes and balance, from a reply or a push. */
  private heard(n: VolunteerNews | undefined): void {
    if (!n) return;
    for (const x of n.outcomes) this.o.hooks?.outcome?.(x);
    if (n.balance) this.o.hooks?.balance?.(n.balance);
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
    if (this.reconnectTimer) { clearTimeout(this.reconnectTimer); this.reconnectTimer = null; }
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

  /** The hello under way, if any: the loop and a reconnect may both ask for one. */
  private helloing: Promise<boolean> | null = null;

  private ensureHello(): Promise<boolean> {
    if (this.helloReply && this.o.socket.connected && this.helloedSocketId === this.o.socket.id) return Promise.resolve(true);
    return this.helloing ??= this.sayHello().finally(() => { this.helloing = null; });
  }

  private async sayHello(): Promise<boolean> {
    if (!this.o.socket.connected) return false;
    const holding = this.holdingNow();
    const r = await call<HelloReply>(this.o.socket, 'hello', { ...this.o.hello, ...(holding.length ? { holding } : {}) });
    if (!r.ok) {
      // A refusal no retry can fix (a project that does not allow this page, a bad wallet): stop, and say why.
      // `refused` comes first, so a host that ends on it knows the error that follows is no passing problem.
      if (FINAL_HELLO_REFUSALS.has(r.code)) {
        this.running = false;
        this.o.hooks?.refused?.(r.code, r.error);
        this.o.hooks?.error?.(r.error);
        this.setState('stopped', r.error);
        return false;
      }
      this.o.hooks?.error?.(r.error);
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
    this.heldVerdicts(r);
    // Before the first request for work, so a private project's shards can be among the first.
    // A copy: the host may drop codes from its list as they are used.
    for (const code of [...(this.o.join ?? [])]) this.o.hooks?.joined?.(await this.joinGroup(code));
    // Beside the work, not before it: the answer only frees storage.
    void this.sayHeldWeights();
    const again = [...this.unacknowledged.values()];
    this.unacknowledged.clear();
    for (const acknowledge of again) acknowledge();
    await this.flushPending();
    return true;
  }

  private helloedSocketId: string | undefined;
  /** Copies held (in hand or prefetched), each with what stops its acknowledgement and heartbeats. */
  private holds = new Map<string, () => void>();
  /**
   * Copies a previous run wrote down as held (a page before its reload), with their assignment where it was kept,
   * until the coordinator says in the hello reply whether they are still this volunteer's.
   */
  private orphans = new Map<string, { assignment: Assignment | null; kept: boolean }>();
  /** Copies the coordinator kept for us at hello (orphans), to compute before asking for more. */
  private resumed: Assignment[] = [];

  /** The copies this volunteer holds, as a hello offers them back: this run's, then a previous run's. */
  private holdingNow(): HeldCopy[] {
    const out: HeldCopy[] = [];
    for (const id of this.holds.keys()) out.push({ copyId: id, state: this.delivering.has(id) ? 'kept' : 'computing' });
    for (const [id, o] of this.orphans) {
      if (!this.holds.has(id)) out.push({ copyId: id, state: o.kept ? 'kept' : o.assignment ? 'computing' : 'interrupted' });
    }
    return out.slice(0, MAX_HELD_IN_HELLO);
  }

  /** What the coordinator kept of the copies the hello offered: a previous run's kept ones are computed first. */
  private heldVerdicts(r: HelloReply): void {
    const verdicts = r.holding;
    if (!verdicts) return;
    const resent = new Map(verdicts.resent.map((a) => [a.copyId, a]));
    for (const id of verdicts.resumed) {
      const o = this.orphans.get(id);
      if (!o || o.kept || this.holds.has(id)) continue; // a kept result goes out with the pending ones, after the hello
      const a = o.assignment ?? resent.get(id);
      this.orphans.delete(id);
      if (a) this.resumed.push(this.received(a));
    }
    for (const x of verdicts.refused) {
      const o = this.orphans.get(x.copyId);
      this.orphans.delete(x.copyId);
      this.o.hooks?.error?.(`a copy held before is not ours any more: ${x.reason}`);
      // Its assignment in hand (a long shard the reload interrupted): finished all the same, as a late result may still
      // count (it is refused at upload when another copy took its place).
      if (o?.assignment && !o.kept && !this.holds.has(x.copyId)) this.resumed.push(this.received(o.assignment));
    }
    // Offered and not answered (beyond the hello's limit) or answered: either way this hello has spoken for them.
    this.orphans.clear();
    this.writeHeld();
  }

  /** Writes down the copies held now (and those a previous run held, until a hello has settled them). */
  private writeHeld(): void {
    this.o.held?.save([...new Set([...this.holds.keys(), ...this.orphans.keys()])]);
  }

  /** Held copies whose acknowledgement did not get through, each with what sends it again. */
  private unacknowledged = new Map<string, () => void>();
  /** Results being saved and uploaded in the background, and their copies. */
  private deliveries = new Set<Promise<void>>();
  private delivering = new Set<string>();
  /** Results not written to the pending store yet (short shards, upload in flight): each entry writes its own. */
  private unkept = new Map<string, () => Promise<void>>();
  /** Copies the coordinator took back while we held them, with why (takenBack), until the loop has dropped them. */
  private lost = new Map<string, string>();
  /** The computation under way, by copy: told to stop when its copy is taken back. */
  private computing = new Map<string, AbortController>();
  /** Whether the last shard took less than PIPELINE_BELOW_MS: only then is a copy fetched ahead of the next one. */
  private shortShards = false;

  /**
   * Tells the coordinator which jobs' weights this volunteer keeps, and drops those it says have ended: a tab that
   * was away (closed, offline, reloaded) when a job ended frees what it kept at its next hello. A coordinator that
   * does not know the request (an older one) refuses it, and everything is kept as before.
   */
  private async sayHeldWeights(): Promise<void> {
    const kept = this.o.keptWeights;
    if (!kept) return;
    try {
      const jobIds = (await kept.jobs()).slice(0, MAX_HELD_JOBS);
      if (jobIds.length === 0) return;
      const r = await call<{ ended: string[] }>(this.o.socket, 'jobs:held', { jobIds });
      if (!r.ok) return;
      // Only what it was asked about.
      this.dropWeights(r.ended.filter((id) => jobIds.includes(id)));
    } catch {
      // Not connected any more, or the store could not be read: the weights wait for the next hello (or age out).
    }
  }

  private dropWeights(jobIds: readonly string[]): void {
    if (jobIds.length === 0 || !this.o.keptWeights) return;
    void this.o.keptWeights.drop(jobIds).then(
      () => this.o.hooks?.weightsDropped?.(jobIds),
      (e: Error) => this.o.hooks?.error?.(`could not drop the weights of ended jobs: ${e.message}`),
    );
  }

  /** Joins a private project's group with an invite code (needs a hello first). */
  async joinGroup(code: string): Promise<JoinOutcome> {
    try {
      const r = await call<{ project: ServedProject; already: boolean; served: ServedProjects }>(this.o.socket, 'group:join', { code });
      return r.ok ? { ok: true, code, project: r.project, already: r.already, served: r.served } : { ok: false, code, error: r.error };
    } catch (e) {
      return { ok: false, code, error: (e as Error).message };
    }
  }

  /** Leaves a group: the project's work stops from the next request on. */
  async leaveGroup(projectId: string): Promise<Reply<{ project: ServedProject; served: ServedProjects }>> {
    return call(this.o.socket, 'group:leave', { projectId });
  }

  /** The projects this volunteer computes for (public ones, and the groups it is in). */
  async servedProjects(): Promise<Reply<ServedProjects>> {
    return call(this.o.socket, 'group:list', {});
  }

  /** Uploads every kept result; each is removed only once the coordinator acknowledged it. */
  async flushPending(): Promise<void> {
    for (const p of await this.o.pending.all()) {
      // Its delivery is under way already: a second upload would only come back as a duplicate.
      if (this.delivering.has(p.copyId)) continue;
      // Larger than this connection may send now: the coordinator no longer holds that copy for us (its lease
      // expired, it was reissued, its job ended) and would drop the connection at the message's first frame.
      const bytes = p.outputs.reduce((n, o) => n + o.data.byteLength, 0);
      const allowed = this.helloReply?.limits.uploadBytes;
      if (allowed !== undefined && bytes > allowed) {
        await this.o.pending.remove(p.copyId);
        this.o.hooks?.error?.(`result for ${p.copyId} not sent: its ${bytes} bytes are more than the coordinator takes on this connection now (${allowed}), as it no longer holds that copy for you (its lease expired, or it was reissued)`);
        continue;
      }
      try {
        await this.upload(p.copyId, p.outputs, p.computeMs, false);
      } catch {
        return; // still disconnected: try again after the next connect
      }
    }
  }

  /** Writes every result not kept yet to the pending store now: the page is going away. */
  keepAll(): Promise<void> {
    return Promise.all([...this.unkept.values()].map((keep) => keep())).then(() => {});
  }

  /**
   * Uploads a result; with `next`, the reply may carry the next assignment
   * (one round trip instead of two). `kept` says whether (and when) the
   * result is in the pending store, so it is removed from there only then.
   */
  private async upload(copyId: string, outputs: WireTensor[], computeMs: number, next = false,
    kept: () => Promise<void> | null = () => Promise.resolve()): Promise<Assignment | null> {
    const forget = async () => {
      const k = kept();
      if (k) { await k; await this.o.pending.remove(copyId); }
    };
    const r = await call<{ status: string; next?: { assignment: Assignment | null }; news?: VolunteerNews }>(
      this.o.socket, 'work:result', { copyId, outputs, computeMs, ...(next ? { next: true } : {}) }, 120_000);
    if (r.ok) {
      this.heard(r.news);
      await forget();
      this.o.hooks?.uploaded?.(copyId, r.status);
      return r.next?.assignment ? this.received(r.next.assignment) : null;
    }
    // The coordinator refused it for good (expired, forged, bad result): keeping it would only loop.
    await forget();
    this.o.hooks?.error?.(`result for ${copyId} refused: ${r.error}`);
    return null;
  }

  /** Prefetching the next copy only makes sense while nothing will make us stop or rest first. */
  private get wantsNext(): boolean {
    return this.running && !this.paused && this.intensity >= 1;
  }

  /**
   * The loop is a two-stage pipeline: while one copy computes, the previous
   * result is saved and uploaded, and that upload's reply brings the copy
   * after this one (`next: true`), so the device never waits for a round
   * trip. When nothing is on its way (the first shards, or after a pause),
   * the successor is fetched with a plain request while a copy computes. At
   * most two copies are held at once (the coordinator's own limit): the one
   * computing and the one after it. Shards of a second or more go one at a
   * time, as before: result upload, next copy in its reply.
   */
  private async run(): Promise<void> {
    /** The copy to compute now, if one is in hand. */
    let current: Assignment | null = null;
    /** The copy after it: on its way in a prefetch request or in the reply to an upload. */
    let coming: Promise<Assignment | null> | null = null;
    // What a previous run (the page before a reload) held: offered back in the first hello.
    try {
      const held = (await this.o.held?.load()) ?? [];
      // A copy whose result was kept before the reload is not computed again: its result is sent after the hello.
      const kept = held.length ? new Set((await this.o.pending.all()).map((p) => p.copyId)) : new Set<string>();
      for (const h of held) this.orphans.set(h.copyId, { assignment: h.assignment ?? null, kept: kept.has(h.copyId) });
    } catch (e) {
      this.o.hooks?.error?.(`could not read the copies held before: ${(e as Error).message}`);
    }
    while (this.running) {
      this.wake.woken = false;
      if (this.paused) {
        if (current) { await this.release(current); current = null; }
        if (coming) { await this.releaseComing(coming); coming = null; }
        for (const a of this.resumed.splice(0)) await this.release(a);
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
        if (!current && coming) {
          const c = coming;
          coming = null;
          current = await this.arrival(c);
          continue; // stop or pause may have come meanwhile
        }
        if (!current) current = this.resumed.shift() ?? null;
        if (!current) {
          this.setState('waiting');
          const r = await call<{ assignment: Assignment | null; retryInMs?: number; reason?: string; news?: VolunteerNews }>(this.o.socket, 'work:request', {});
          if (!r.ok) { this.o.hooks?.error?.(r.error); await this.wake.sleep(5000); continue; }
          this.heard(r.news);
          if (!r.assignment) { this.setState('waiting', r.reason); await this.wake.sleep(r.retryInMs ?? 5000); continue; }
          current = this.received(r.assignment);
        }
        // The copy after this one, fetched while this one computes, unless an upload in flight asks for it already.
        if (!coming && this.wantsNext && this.shortShards) coming = this.prefetch();
        const a = current;
        current = null;
        const t0 = Date.now();
        const done = await this.compute(a);
        this.shortShards = Date.now() - t0 < PIPELINE_BELOW_MS;
        if (!done) continue;
        // Stopped or paused meanwhile: deliver without asking for more; what is coming is handed back above or below.
        // Long shards go one at a time: holding one more copy would gain little and lose it on a reload.
        const ask = this.wantsNext && this.resumed.length === 0 && (!coming || this.shortShards);
        const delivered = this.deliver(a, done, ask, Date.now() - t0);
        if (coming) {
          const c = coming;
          coming = ask ? delivered : null;
          current = await this.arrival(c);
        } else if (ask) {
          coming = delivered;
        }
        if (this.running && this.intensity < 1) {
          this.setState('resting');
          await rest(restAfter(done.computeMs, this.intensity));
        }
      } catch (e) {
        this.o.hooks?.error?.((e as Error).message);
        await this.wake.sleep(1000);
      }
    }
    if (current) await this.release(current);
    if (coming) await this.releaseComing(coming);
    for (const a of this.resumed.splice(0)) await this.release(a);
    // The shard in hand when we were stopped is delivered before stop() returns.
    while (this.deliveries.size) await Promise.all([...this.deliveries]);
  }

  /** Waits for a copy on its way; says what we wait for when it is not there already. */
  private async arrival(p: Promise<Assignment | null>): Promise<Assignment | null> {
    let settled = false;
    void p.then(() => { settled = true; });
    await Promise.resolve();
    if (!settled) this.setState(this.deliveries.size ? 'uploading' : 'waiting');
    return p;
  }

  /** A copy just assigned to us: the coordinator learns we hold it (lazy ack, heartbeats) until it is delivered or handed back. */
  private received(raw: Assignment): Assignment {
    const a = withByteArrays(raw);
    // Lazy acknowledgement: a copy whose result is acknowledged quickly needs
    // no separate ack; otherwise (long compute, a wait behind the copy
    // computing, or an upload that hangs) it is acknowledged well within
    // ackWithinMs and kept alive by heartbeats.
    let beat: ReturnType<typeof setInterval> | undefined;
    const acknowledge = () => {
      if (!this.holds.has(a.copyId)) return;
      call<{ leaseDeadline: number }>(this.o.socket, 'work:ack', { copyId: a.copyId }).then((r) => {
        if (!r.ok) { this.o.hooks?.error?.(r.error); return; }
        if (!this.holds.has(a.copyId)) return;
        beat = setInterval(() => {
          call<{ extended: string[]; lost: { copyId: string; reason: string }[] }>(this.o.socket, 'work:heartbeat', { copyIds: [a.copyId] }).then((r) => {
            // The coordinator's word, checked all the same, and only about the copy it was asked about.
            const lost = r.ok && Array.isArray(r.lost) ? r.lost.find((x) => x?.copyId === a.copyId) : undefined;
            if (lost) this.takenBack(a.copyId, String(lost.reason));
          }, () => {});
        }, Math.max(250, Math.min(this.helloReply?.heartbeatMs ?? 10_000, a.leaseMs / 3)));
      }, () => {
        // Sent while the coordinator was away (or never answered): without an ack the copy expires and is
        // reissued although we compute it, so it goes again after the next hello (sayHello).
        if (!this.holds.has(a.copyId)) return;
        this.unacknowledged.set(a.copyId, acknowledge);
        this.o.hooks?.error?.('could not acknowledge a copy (the coordinator is away); acknowledging it once reconnected');
      });
    };
    const ackTimer = setTimeout(acknowledge, Math.min(1000, a.ackWithinMs / 4));
    this.holds.set(a.copyId, () => { clearTimeout(ackTimer); if (beat) clearInterval(beat); this.unacknowledged.delete(a.copyId); });
    // At once, before anything else can happen to the page: a reload right after still offers it back.
    this.writeHeld();
    return a;
  }

  /**
   * The coordinator took back a copy we hold (its lease ran out, its job ended): it has reissued the shard or
   * needs it no more, and a result would be refused or would stand beside the reissued copy's. So the copy is let
   * go at once (no more heartbeats, not offered at the next hello), its computation is told to stop, and what
   * it computes anyway is dropped (compute). A result already on its way is left to its upload's reply.
   */
  private takenBack(copyId: string, reason: string): void {
    if (!this.holds.has(copyId) || this.delivering.has(copyId)) return;
    this.lost.set(copyId, reason);
    this.letGo(copyId);
    this.computing.get(copyId)?.abort(new Error(`copy taken back by the coordinator: ${reason}`));
    this.o.hooks?.dropped?.(copyId);
    this.o.hooks?.lost?.(copyId, reason);
    this.o.hooks?.error?.(`copy ${copyId} was taken back by the coordinator (${reason}): stopped computing it, nothing uploaded`);
  }

  /** Stops acknowledging and heartbeating a copy: delivered, failed or handed back. */
  private letGo(copyId: string): void {
    this.holds.get(copyId)?.();
    if (this.holds.delete(copyId)) this.writeHeld();
  }

  /** Asks for the copy after the one about to compute; null when there is none now (the upload asks again). */
  private async prefetch(): Promise<Assignment | null> {
    const kept = this.resumed.shift();
    if (kept) return kept;
    try {
      const r = await call<{ assignment: Assignment | null; news?: VolunteerNews }>(this.o.socket, 'work:request', {});
      if (r.ok) this.heard(r.news);
      return r.ok && r.assignment ? this.received(r.assignment) : null;
    } catch {
      return null;
    }
  }

  /** Hands back a prefetched copy we will not start, so it is reissued at once and counts as no error. */
  private async release(a: Assignment): Promise<void> {
    this.letGo(a.copyId);
    // Taken back already: the coordinator has it.
    if (this.lost.delete(a.copyId)) return;
    await call(this.o.socket, 'work:release', { copyId: a.copyId }).catch(() => {});
  }

  private async releaseComing(p: Promise<Assignment | null>): Promise<void> {
    const a = await p;
    if (a) await this.release(a);
  }

  /**
   * Computes a copy; a failure is reported to the coordinator (it reissues the copy) and gives null. A copy the
   * coordinator took back (takenBack) gives null too, and nothing is reported: not started when it was taken
   * back before, its result dropped when it was taken back meanwhile, and the executor's stop no failure.
   */
  private async compute(a: Assignment): Promise<{ outputs: WireTensor[]; computeMs: number } | null> {
    if (this.lost.delete(a.copyId)) return null;
    this.o.hooks?.assignment?.(a);
    this.setState('computing', a.jobId);
    const abort = new AbortController();
    this.computing.set(a.copyId, abort);
    try {
      const done = await this.o.execute(a, abort.signal);
      return this.lost.delete(a.copyId) ? null : done;
    } catch (e) {
      if (this.lost.delete(a.copyId)) return null;
      this.letGo(a.copyId);
      const message = (e as Error).message ?? String(e);
      await call(this.o.socket, 'work:fail', { copyId: a.copyId, error: message.slice(0, 2000) }).catch(() => {});
      this.o.hooks?.error?.(`shard failed: ${message}`);
      this.o.hooks?.dropped?.(a.copyId);
      return null;
    } finally {
      this.computing.delete(a.copyId);
    }
  }

  /**
   * Keeps the result (at once, or for short shards only if its upload is not
   * acknowledged soon) and uploads it, in the background while the next copy
   * computes; resolves with the copy the upload's reply brought (asked for
   * with `next`), or null. Never rejects: an upload that fails leaves the
   * result in the pending store, flushed after the next hello.
   */
  private deliver(a: Assignment, result: { outputs: WireTensor[]; computeMs: number }, next: boolean, wallMs = result.computeMs): Promise<Assignment | null> {
    this.delivering.add(a.copyId);
    let saving: Promise<void> | null = null;
    const keep = () => saving ??= this.o.pending.save({ copyId: a.copyId, outputs: result.outputs, computeMs: result.computeMs, savedAt: Date.now() })
      .then(() => this.o.hooks?.kept?.(a.copyId))
      // Not safe across a reload, but still worth delivering now.
      .catch((e) => { this.o.hooks?.error?.(`could not keep the result of ${a.copyId}: ${(e as Error).message}`); });
    let timer: ReturnType<typeof setTimeout> | undefined;
    const p = (async () => {
      try {
        // Long by the clock (rests at a low intensity count: that is work a reload would throw away) or by compute.
        if (Math.max(wallMs, result.computeMs) >= KEEP_AT_ONCE_MS) await keep();
        else {
          this.unkept.set(a.copyId, keep);
          timer = setTimeout(keep, KEEP_UNACKED_AFTER_MS);
        }
        this.o.hooks?.computed?.(a, result.computeMs);
        // The loop starts the next shard in this same task (the copy is usually in hand): send the result
        // after that, so encoding and sending it (milliseconds for large outputs) overlaps the next compute.
        await nextTask();
        try {
          return await this.upload(a.copyId, result.outputs, result.computeMs, next, () => saving);
        } catch {
          // Not delivered now: kept, and flushed after the next hello.
          await keep();
          return null;
        }
      } finally {
        clearTimeout(timer);
        this.unkept.delete(a.copyId);
        this.letGo(a.copyId);
        this.delivering.delete(a.copyId);
      }
    })();
    const tracked = p.then(() => {}, () => {});
    this.deliveries.add(tracked);
    void tracked.then(() => this.deliveries.delete(tracked));
    return p;
  }
}

/** socket.io-client hands binary over as ArrayBuffer in browsers and Buffer in Node: make both Uint8Array. */
export function withByteArrays(a: Assignment): Assignment {
  return {
    ...a,
    inputs: a.inputs.map((t) => ({ ...t, data: t.data instanceof Uint8Array ? t.data : new Uint8Array(t.data as ArrayBuffer) })),
  };
}
