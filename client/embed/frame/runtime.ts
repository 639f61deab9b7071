/**
 * The compute inside the embed frame: the contributor runtime (compute worker
 * with probe and self-test, IndexedDB model cache and pending results, the
 * shared Volunteer loop) restricted to one project, introduced to the
 * coordinator with the embedding page's origin, and reporting to the host
 * page only what this page view did.
 */
import type { Backend, HelloRequest } from '../../../shared/protocol/events.ts';
import { MemoryPendingStore, type PendingStore } from '../../../shared/volunteer/pending.ts';
import { Volunteer, type VolunteerSocket, type VolunteerState } from '../../../shared/volunteer/volunteer.ts';
import { walletProblem } from '../../../shared/wallet.ts';
import { ComputeClient } from '../../app/compute-client.ts';
import { type HeldLock, tryAcquireContributorLock } from '../../lib/contributor-lock.ts';
import { saveCredentials } from '../../lib/credentials.ts';
import { openTabgridDB } from '../../lib/db.ts';
import { PageHeldCopies } from '../../lib/held-copies.ts';
import { IdbPendingStore } from '../../lib/pending-store.ts';
import { PowerPolicy } from '../../lib/power-policy.ts';
import { openVolunteerSocket } from '../../lib/volunteer-socket.ts';
import type { BackendChange } from '../../worker/compute-api.ts';
import { consentPlace } from '../consent-place.ts';
import { type Body, clampIntensity, type CreditTarget, type FrameMessage, type FrameState, type StartMessage } from '../messages.ts';
import type { ConfirmInfo, ConfirmOutcome } from './confirm.ts';


export interface EmbedRuntimeOptions {
  /** The coordinator's base URL: this frame's own origin. */
  coordinator: string;
  projectId: string;
  /** The embedding page's origin, told to the coordinator, which checks it against the project's allow-list. */
  hostOrigin: string;
  post(m: Body<FrameMessage>): void;
  /** The visitor's confirmation inside this frame (confirm.ts), for a page the project does not vouch for. */
  confirm(i: ConfirmInfo): Promise<ConfirmOutcome>;
}

/** What the project's public record (`GET /api/v1/projects/:id`) says about embedding. */
interface ProjectRules {
  name: string;
  creditTo: 'site' | 'visitor';
  allowedOrigins: string[] | null;
  siteWallet: string | null;
  consentHours: number;
}

/** Same default as the contributor app: no work on battery below this percentage. */
const BATTERY_THRESHOLD = 30;
const NO_LOCK: HeldLock = { release() {} };

export class EmbedRuntime {
  private readonly compute: ComputeClient;
  private pending: PendingStore = new MemoryPendingStore();
  /** Whether this frame may use IndexedDB (see start): only then does it keep weights to drop. */
  private storage = false;
  private power: PowerPolicy | null = null;
  private socket: VolunteerSocket | null = null;
  private volunteer: Volunteer | null = null;
  private lock: HeldLock | null = null;
  private began = false;
  private stopped = false;
  private loopStarted = false;
  private hostPause: string | null = null;
  private shards = 0;
  private credit = 0;
  private creditTo: CreditTarget = 'anonymous';
  private wallet: string | undefined;
  private lastSent = '';
  private lastError = '';
  private readonly asking = new AbortController();

  constructor(private readonly o: EmbedRuntimeOptions) {
    this.compute = new ComputeClient((c) => void this.onBackendChanged(c), (m) => this.fail(m));
  }

  async start(m: StartMessage): Promise<void> {
    if (this.began) return;
    this.began = true;
    this.state('starting', 'checking the project');
    this.compute.setIntensity(clampIntensity(m.intensity));

    // Where credit goes and who must consent are the project's rules (its public record), not the page's say.
    let rules: ProjectRules | null = null;
    try {
      const res = await fetch(`${this.o.coordinator}/api/v1/projects/${encodeURIComponent(this.o.projectId)}`, { headers: { accept: 'application/json' } });
      if (res.status === 404) return this.fail('this tabgrid project does not exist (any more)');
      rules = parseRules(await res.json());
    } catch { /* unknown rules: the visitor confirms here, and the coordinator checks the hello anyway */ }
    const place = consentPlace(rules?.allowedOrigins ?? null, this.o.hostOrigin);
    if (place.at === 'refused') return this.fail(place.reason);
    const creditTo = rules?.creditTo ?? 'site';
    const visitor = creditTo === 'visitor' && m.visitorWallet ? m.visitorWallet : undefined;
    this.wallet = visitor ?? m.siteWallet;
    this.creditTo = visitor ? 'visitor' : m.siteWallet ? 'site' : 'anonymous';
    const problem = this.wallet ? walletProblem(this.wallet) : null;
    if (problem) {
      this.o.post({ type: 'error', message: `${visitor ? 'your wallet' : "the site's data-wallet"}: ${problem}`, fatal: true, field: visitor ? 'wallet' : null });
      return this.halt();
    }

    if (place.at === 'frame') {
      // The page may have skipped any card of its own: nothing starts until the visitor confirms here.
      const registered = creditTo === 'site' && rules?.siteWallet ? rules.siteWallet : null;
      const intensity = clampIntensity(m.intensity);
      this.state('confirm', null);
      let outcome: ConfirmOutcome;
      try {
        outcome = await this.o.confirm({
          hostOrigin: this.o.hostOrigin, projectId: this.o.projectId, projectName: rules?.name ?? this.o.projectId,
          coordinatorHost: new URL(this.o.coordinator).host, intensity,
          wallet: registered ?? this.wallet ?? null, walletIs: registered ? 'project' : visitor ? 'visitor' : 'page',
          consentHours: rules?.consentHours ?? 24,
          note: (detail) => this.state('confirm', detail),
          signal: this.asking.signal,
        });
      } catch (e) {
        return this.fail((e as Error).message);
      }
      if (outcome === 'aborted' || this.stopped) return;
      if (outcome === 'declined') {
        this.state('declined', 'declined by the visitor');
        return this.halt();
      }
      this.state('starting', 'confirmed by the visitor');
    }

    // Browsers that block third-party storage (incognito, blocked third-party cookies) deny this frame
    // IndexedDB and Web Locks: it then computes without a model cache, keeping results in memory.
    const storage = await openTabgridDB().then(() => true, () => false);
    this.storage = storage;
    if (storage) this.pending = new IdbPendingStore(this.o.coordinator);

    // One contributing tab per browser (per site, since the frame's storage is partitioned by the top-level site).
    let lock = storage ? await tryAcquireContributorLock().catch(() => NO_LOCK) : NO_LOCK;
    if (!lock) {
      this.state('paused', 'another tab of this site is already contributing');
      lock = await waitForLock();
    }
    if (this.stopped) { lock.release(); return; }
    this.lock = lock;

    this.state('starting', 'testing this device');
    let backend: Backend | null;
    try {
      const report = await this.compute.start({ coordinator: this.o.coordinator, backend: 'auto' });
      backend = report.backend;
      if (!backend) return this.fail(report.reason);
      await this.session(backend, report.capabilities);
    } catch (e) {
      return this.fail(`could not start: ${(e as Error).message}`);
    }
    if (this.stopped) return;
    this.power = new PowerPolicy({ pauseWhenHidden: true, batteryThreshold: BATTERY_THRESHOLD }, () => this.apply());
    this.apply();
  }

  /** The host page's own reason to pause (hidden, battery, Save-Data), or null. */
  setHostPause(reason: string | null): void {
    this.hostPause = reason;
    this.apply();
  }

  /** Stops asking for work; the shard in hand finishes and its result is sent (or kept for next time). */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.asking.abort();
    await this.volunteer?.stop();
    this.halt();
  }

  private halt() {
    this.stopped = true;
    this.power?.dispose();
    this.socket?.removeAllListeners();
    this.socket?.disconnect();
    this.compute.terminate('stopped');
    this.lock?.release();
    this.lock = null;
    this.state('stopped', null);
  }

  private fail(message: string) {
    if (this.stopped) return;
    this.o.post({ type: 'error', message: message.slice(0, 500), fatal: true, field: null });
    this.state('error', message.slice(0, 300));
    void this.volunteer?.stop();
    this.power?.dispose();
    this.socket?.disconnect();
    this.compute.terminate(message);
    this.lock?.release();
    this.stopped = true;
  }

  private async session(backend: Backend, capabilities: HelloRequest['capabilities']) {
    const socket = await openVolunteerSocket(this.o.coordinator, () => {});
    this.socket = socket;
    const hello: HelloRequest = {
      backend, capabilities, projectId: this.o.projectId, embedOrigin: this.o.hostOrigin,
      ...(this.wallet ? { wallet: this.wallet } : {}),
    };
    this.volunteer = new Volunteer({
      socket,
      hello,
      pending: this.pending,
      // The duty cycle runs inside the worker (intensity), between session runs.
      intensity: 1,
      execute: (a) => this.compute.run(a),
      saveCredentials: (c) => saveCredentials(this.o.coordinator, c).catch(() => { /* no storage: a new volunteer next time */ }),
      // The frame reloads with every page of the host site: what it held is offered back at the next page's hello.
      held: new PageHeldCopies(this.o.coordinator),
      ...(this.storage ? { keptWeights: this.compute.keptWeights } : {}),
      hooks: {
        state: (s, detail) => this.onVolunteerState(s, detail),
        computed: (_a, ms) => {
          this.shards++;
          this.o.post({ type: 'shard', shards: this.shards, computeMs: Math.round(ms) });
        },
        outcome: (x) => {
          if (x.outcome !== 'valid' || x.credit <= 0) return;
          this.credit += x.credit;
          this.o.post({ type: 'credit', amount: x.credit, total: this.credit, to: this.creditTo });
        },
        // A hello refused for good (by its error code: the project is gone or does not allow this page) ends the frame.
        refused: (_code, m) => this.fail(m),
        error: (m) => {
          if (this.stopped) return;
          // The loop retries; tell the host once per distinct problem, not every second.
          if (m !== this.lastError) {
            this.lastError = m;
            this.o.post({ type: 'error', message: m.slice(0, 500), fatal: false, field: null });
          }
        },
      },
    });
  }

  private onVolunteerState(s: VolunteerState, detail?: string) {
    if (this.stopped && s !== 'stopped') return;
    switch (s) {
      case 'connecting': this.state('starting', 'connecting'); break;
      case 'paused': this.state('paused', detail ?? this.pauseReason() ?? 'paused'); break;
      // Per-shard steps (computing, uploading, resting) are one "running" state for the host.
      // "waiting" without a reason precedes every request: news only when coming back from elsewhere.
      case 'waiting': if (detail) this.state('running', 'no work right now'); else if (!this.lastSent.startsWith('running|')) this.state('running', null); break;
      case 'computing': case 'uploading': case 'resting': this.state('running', null); break;
      default: break;
    }
  }

  private pauseReason(): string | null {
    return this.hostPause ?? this.power?.pauseReason() ?? null;
  }

  /** Starts, pauses or resumes the loop as the host and this frame's power policy allow; never starts only to pause. */
  private apply() {
    const v = this.volunteer;
    if (this.stopped || !v || !this.power) return;
    const reason = this.pauseReason();
    if (reason) {
      if (this.loopStarted) v.pause(reason);
      else this.state('paused', reason);
    } else if (!this.loopStarted) {
      this.loopStarted = true;
      v.start();
    } else {
      v.resume();
    }
  }

  /** A lost GPU device: carry on with WASM in a fresh worker, reintroduced to the coordinator, or stop. */
  private async onBackendChanged(c: BackendChange) {
    if (this.stopped) return;
    const wasLooping = this.loopStarted;
    await this.volunteer?.stop();
    this.socket?.removeAllListeners();
    this.socket?.disconnect();
    this.volunteer = null;
    this.loopStarted = false;
    if (!c.to) return this.fail(`the GPU device was lost and no other backend works here (${c.reason})`);
    try {
      const report = await this.compute.start({ coordinator: this.o.coordinator, backend: c.to });
      if (!report.backend) return this.fail(report.reason);
      await this.session(report.backend, report.capabilities);
    } catch (e) {
      return this.fail(`could not restart after losing the GPU: ${(e as Error).message}`);
    }
    if (wasLooping) this.apply();
  }

  private state(state: FrameState, detail: string | null) {
    const key = `${state}|${detail}`;
    if (key === this.lastSent) return;
    this.lastSent = key;
    this.o.post({ type: 'state', state, detail });
  }
}

function parseRules(x: unknown): ProjectRules | null {
  if (typeof x !== 'object' || x === null) return null;
  const b = x as { name?: unknown; embed?: { creditTo?: unknown; allowedOrigins?: unknown; siteWallet?: unknown; consentHours?: unknown } };
  const origins = b.embed?.allowedOrigins;
  return {
    name: typeof b.name === 'string' ? b.name.slice(0, 200) : '',
    creditTo: b.embed?.creditTo === 'visitor' ? 'visitor' : 'site',
    allowedOrigins: Array.isArray(origins) && origins.every((o) => typeof o === 'string') ? origins : null,
    siteWallet: typeof b.embed?.siteWallet === 'string' ? b.embed.siteWallet : null,
    consentHours: typeof b.embed?.consentHours === 'number' && b.embed.consentHours > 0 ? b.embed.consentHours : 24,
  };
}

/** Waits until no other tab of this storage partition holds the contributor lock. */
function waitForLock(): Promise<HeldLock> {
  if (!navigator.locks) return Promise.resolve({ release() {} });
  return new Promise((resolve, reject) => {
    navigator.locks.request('tabgrid:contributor', () => new Promise<void>((release) => resolve({ release: () => release() }))).catch(reject);
  });
}
