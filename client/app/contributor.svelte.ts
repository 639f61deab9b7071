/**
 * The contributor page's state and behaviour, apart from how it looks: it owns
 * the compute worker, the socket.io connection and the shared Volunteer loop,
 * and turns their events into reactive state the components render.
 */
import type { Assignment, Backend, Capabilities, HelloRequest, ServedProjects } from '../../shared/protocol/events.ts';
import { INVITE_CODE_PROBLEM, inviteCodeOf } from '../../shared/protocol/invite.ts';
import { type JoinOutcome, Volunteer, type VolunteerSocket, type VolunteerState } from '../../shared/volunteer/volunteer.ts';
import { walletProblem } from '../../shared/wallet.ts';
import type { BlobCacheStats } from '../lib/blob-cache.ts';
import { anotherTabContributes, type HeldLock, tryAcquireContributorLock } from '../lib/contributor-lock.ts';
import { type AccountView, fetchAccount, fetchPayouts, fetchSwarm, type PayoutProofRow, type SwarmView } from '../lib/coordinator-api.ts';
import { loadCredentials, saveCredentials } from '../lib/credentials.ts';
import type { LocalWallet } from '../lib/local-wallet.ts';
import { coalesce } from '../lib/coalesce.ts';
import { PageHeldCopies } from '../lib/held-copies.ts';
import { InHandKeeper } from '../lib/in-hand.ts';
import type { PageParams } from '../lib/params.ts';
import { IdbPendingStore } from '../lib/pending-store.ts';
import { openVolunteerSocket } from '../lib/volunteer-socket.ts';
import { PowerPolicy } from '../lib/power-policy.ts';
import { loadSettings, saveSettings, type Settings } from '../lib/settings.ts';
import { ThroughputSeries } from '../lib/throughput.ts';
import type { BackendChange, InitReport, ShardResult } from '../worker/compute-api.ts';
import { planBackend } from '../worker/backend-plan.ts';
import { type DeviceProbe, probeDevice } from '../worker/probe.ts';
import { ComputeClient } from './compute-client.ts';

/** A claim of this browser's volunteer credit to a wallet: signing and sending, done (what moved), or refused (why). */
export type ClaimState =
  | { phase: 'signing'; wallet: string }
  | { phase: 'done'; wallet: string; movedPayable: number; movedPending: number }
  | { phase: 'failed'; wallet: string; error: string };

export type Phase = 'probing' | 'ready' | 'unsupported' | 'starting' | 'running' | 'stopping' | 'stopped';

export interface Rejection {
  copyId: string;
  jobId: string;
  outcome: string;
  reason: string;
  at: number;
}

export interface CurrentShard {
  jobId: string;
  projectId: string;
  /** The copy's opaque id: a volunteer is never told which shard it computes. */
  copyId: string;
  since: number;
}

interface Session {
  socket: VolunteerSocket;
  volunteer: Volunteer;
  wallet: string;
  backend: Backend;
}

/** Marks a tab that was contributing, so a reload carries on (and resends what it computed). */
const RESUME_KEY = 'tabgrid.contributing';
const SAMPLE_MS = 1000;
/**
 * Per-shard figures (counts, shard in hand, credit) reach the page at most this
 * often: at several shards a second, showing each change re-rendered the page
 * (style, layout, paint, compositing) several times per shard, on the thread
 * and cores the computation shares.
 */
const VIEW_MS = 250;

type Counts = { computed: number; uploaded: number; validated: number; rejected: number; notNeeded: number; pending: number };

export class Contributor {
  phase = $state<Phase>('probing');
  settings = $state<Settings>(loadSettings());
  /** What the page found before Start (no runtime needed); the worker's own probe replaces it after Start. */
  probe = $state.raw<DeviceProbe | null>(null);
  /** The self-tests' report: only after Start. */
  report = $state.raw<InitReport | null>(null);
  probeError = $state<string | null>(null);
  backend = $state<Backend | null>(null);
  backendReason = $state('');
  /** Set when the backend changed after the probe (lost GPU device). */
  backendNotice = $state<string | null>(null);
  volunteerState = $state<VolunteerState>('idle');
  stateDetail = $state<string | null>(null);
  pauseReason = $state<string | null>(null);
  connected = $state(false);
  otherTab = $state(false);
  walletError = $state<string | null>(null);
  /** The projects this volunteer computes for (public ones, and private groups it joined); null until heard. */
  served = $state.raw<ServedProjects | null>(null);
  /** Why an invite code did not let it in, or a leave failed; and what the last join or leave did. */
  groupError = $state<string | null>(null);
  groupNotice = $state<string | null>(null);
  /** Names of the groups joined by invite on this page (the headless tabs report them). */
  joinedNames = $state<string[]>([]);
  lastError = $state<string | null>(null);
  /** What the page shows of `live`, refreshed at most every VIEW_MS. */
  counts = $state<Counts>({ computed: 0, uploaded: 0, validated: 0, rejected: 0, notNeeded: 0, pending: 0 });
  creditedHere = $state(0);
  rejections = $state<Rejection[]>([]);
  current = $state<CurrentShard | null>(null);
  /** The figures as they change (read by the test hook); `counts`, `current`, `creditedHere` and `balance` show them. */
  readonly live: { counts: Counts; current: CurrentShard | null; creditedHere: number; balance: number | null } = {
    counts: { computed: 0, uploaded: 0, validated: 0, rejected: 0, notNeeded: 0, pending: 0 }, current: null, creditedHere: 0, balance: null,
  };
  private readonly showSoon = coalesce(() => this.show(), VIEW_MS);
  volunteerId = $state<string | null>(null);
  account = $state<string | null>(null);
  balance = $state<number | null>(null);
  accountView = $state.raw<AccountView | null>(null);
  /** The balance's split: pending (in its hold), payable (paid in the next epoch, once in a wallet) and debt (reversed after it was claimed or paid). */
  credit = $state<{ pending: number; payable: number; debt: number; underReview: number } | null>(null);
  /** The latest claim of this browser's volunteer credit to its in-browser wallet (WalletCard's button). */
  claim = $state<ClaimState | null>(null);
  /** The claimed wallet's balance (pending, payable, debt) and its changes, once a claim went through. */
  claimedView = $state.raw<AccountView | null>(null);
  /** Payout epochs that paid this wallet, with their Merkle proofs. */
  payouts = $state.raw<PayoutProofRow[]>([]);
  swarm = $state.raw<SwarmView | null>(null);
  swarmError = $state<string | null>(null);
  cache = $state.raw<BlobCacheStats | null>(null);
  /** Bumped on every throughput sample so the chart redraws. */
  samples = $state(0);
  readonly throughput = new ThroughputSeries();

  private readonly compute: ComputeClient;
  private readonly pending: IdbPendingStore;
  private readonly power: PowerPolicy;
  private session: Session | null = null;
  private lock: HeldLock | null = null;
  private capabilities: Capabilities | null = null;
  private startedAt = 0;
  private timers: ReturnType<typeof setInterval>[] = [];
  private idlePolls = 0;
  private readonly inHand: InHandKeeper;
  /** Models whose cache entry has been counted: the cache only changes when a new one is fetched. */
  private readonly modelsSeen = new Set<string>();
  // Per-shard refreshes, coalesced: each is an IndexedDB read or a request to the coordinator, and a re-render.
  private readonly pendingCountSoon = coalesce(() => void this.refreshPendingCount(), 250);
  private readonly accountSoon = coalesce(() => void this.refreshAccount(), 2000);
  /** Whether the session's Volunteer loop runs (it may wait for the power policy before its first start). */
  private loopStarted = false;

  /** Invite codes to use at the next hello (?join=, or pasted before contributing); each is used once. */
  private readonly joinCodes: string[] = [];

  constructor(readonly params: PageParams) {
    for (const code of params.join) this.queueJoin(code);
    if (params.intensity !== null) this.settings.intensity = params.intensity;
    if (params.runWhenHidden !== null) this.settings.pauseWhenHidden = !params.runWhenHidden;
    if (params.wallet !== null) this.settings.wallet = params.wallet;
    this.pending = new IdbPendingStore(params.coordinator);
    this.inHand = new InHandKeeper(params.coordinator);
    this.compute = new ComputeClient((c) => void this.onBackendChanged(c), (m) => { this.probeError = m; });
    this.compute.setIntensity(this.settings.intensity);
    this.power = new PowerPolicy(this.powerOptions(), () => this.applyPower());
  }

  get coordinator(): string {
    return this.params.coordinator;
  }

  /** The copy written down for a reloaded page to finish (in-hand.ts); null if none. */
  get inHandCopy(): string | null {
    return this.inHand.kept;
  }

  get running(): boolean {
    return this.phase === 'running' || this.phase === 'starting';
  }

  /** Probes the device (no runtime yet), then starts when asked to (URL or reload); Start loads the runtime and self-tests. */
  async init(): Promise<void> {
    void this.refreshSwarm();
    void this.refreshPendingCount();
    // Faster while contributing, when progress moves and the volunteer is watching it.
    this.timers.push(setInterval(() => { if (this.running || ++this.idlePolls % 3 === 0) void this.refreshSwarm(); }, 5000));
    this.timers.push(setInterval(() => void this.checkOtherTab(), 3000));
    // A claimed wallet's credit turns payable and gets paid while the page sits there: show it when it does.
    this.timers.push(setInterval(() => { if (this.claim?.phase === 'done') void this.refreshAccount(); }, 5000));
    this.timers.push(setInterval(() => this.sample(), SAMPLE_MS));
    void this.checkOtherTab();
    // A reload while a shard computes: write it down now, so the reloaded page can finish it under the same copy;
    // and keep results whose upload is still unacknowledged, so the reloaded page resends them.
    addEventListener('pagehide', () => { this.inHand.flush(); void this.session?.volunteer.keepAll(); });
    try {
      // Only the probe before Start: onnxruntime (5–7 MB on the wire) is loaded once the visitor chooses to contribute.
      const probe = await probeDevice();
      const plan = planBackend(this.params.backend, probe);
      this.probe = probe;
      this.backend = plan.backend;
      this.backendReason = plan.reason;
      this.phase = plan.backend ? 'ready' : 'unsupported';
    } catch (e) {
      this.probeError = `probing this device failed: ${(e as Error).message}`;
      this.phase = 'unsupported';
      return;
    }
    void this.refreshAccount();
    let resume = false;
    try { resume = sessionStorage.getItem(RESUME_KEY) === '1'; } catch { /* storage disabled */ }
    if (this.params.autostart || resume) await this.start();
  }

  /** Validates the wallet, takes the one-tab lock and starts the volunteer loop; false when it did not start. */
  async start(): Promise<boolean> {
    if (this.phase !== 'ready' && this.phase !== 'stopped') return false;
    const wallet = this.settings.wallet.trim();
    this.walletError = wallet ? walletProblem(wallet) : null;
    if (this.walletError) return false;
    this.phase = 'starting';
    this.lastError = null;
    const lock = await tryAcquireContributorLock();
    if (!lock) {
      this.otherTab = true;
      this.phase = 'ready';
      return false;
    }
    this.lock = lock;
    this.otherTab = false;
    // Ask once, when the volunteer shows intent: cached models and pending results then survive storage pressure.
    void navigator.storage?.persist?.().catch(() => false);
    try {
      if (!this.report && !(await this.startCompute())) {
        lock.release();
        this.lock = null;
        this.phase = 'unsupported';
        return false;
      }
      await this.ensureSession(wallet, this.backend!);
      this.startedAt = Date.now();
      this.loopStarted = false;
      this.phase = 'running';
      try { sessionStorage.setItem(RESUME_KEY, '1'); } catch { /* storage disabled */ }
      this.applyPower();
      return true;
    } catch (e) {
      this.lastError = (e as Error).message;
      lock.release();
      this.lock = null;
      this.phase = 'ready';
      return false;
    }
  }

  /**
   * Starts the compute worker: it loads the runtime this device needs and
   * self-tests each backend planned; false when none passed.
   */
  private async startCompute(): Promise<boolean> {
    this.stateDetail = 'loading the runtime and running the self-test';
    const report = await this.compute.start({ coordinator: this.coordinator, backend: this.params.backend });
    this.stateDetail = null;
    this.report = report;
    this.probe = report.probe;
    this.capabilities = report.capabilities;
    this.backend = report.backend;
    this.backendReason = report.reason;
    return report.backend !== null;
  }

  /** Stops asking for work; the shard in hand finishes and its result is uploaded. */
  async stop(): Promise<void> {
    if (!this.running) return;
    try { sessionStorage.removeItem(RESUME_KEY); } catch { /* storage disabled */ }
    this.phase = 'stopping';
    await this.session?.volunteer.stop();
    this.loopStarted = false;
    this.live.current = null;
    this.show();
    this.pauseReason = null;
    this.lock?.release();
    this.lock = null;
    this.phase = 'stopped';
    this.volunteerState = 'stopped';
  }

  setIntensity(x: number) {
    this.settings.intensity = Math.min(1, Math.max(0.05, x));
    this.compute.setIntensity(this.settings.intensity);
    this.persistSettings();
  }

  setPowerOptions(p: { pauseWhenHidden?: boolean; batteryThreshold?: number }) {
    Object.assign(this.settings, p);
    this.power.set(this.powerOptions());
    this.persistSettings();
  }

  /** Records the wallet as typed; the message appears as soon as the input is complete enough to judge. */
  setWallet(w: string) {
    this.settings.wallet = w;
    const t = w.trim();
    this.walletError = t && (t.length >= 42 || !/^(0x?)?[0-9a-fA-F]*$/.test(t)) ? walletProblem(t) : null;
    this.persistSettings();
    if (!this.walletError) void this.refreshAccount();
  }

  checkWallet() {
    const t = this.settings.wallet.trim();
    this.walletError = t ? walletProblem(t) : null;
  }

  async refreshCache() {
    this.cache = await this.compute.cacheStats().catch(() => this.cache);
  }

  private persistSettings() {
    saveSettings($state.snapshot(this.settings));
  }

  private powerOptions() {
    return { pauseWhenHidden: this.settings.pauseWhenHidden, batteryThreshold: this.settings.batteryThreshold };
  }

  /** Starts, pauses or resumes the loop as the power policy allows; a loop is never started only to be paused. */
  private applyPower() {
    const reason = this.power.pauseReason();
    const v = this.session?.volunteer;
    if (this.phase !== 'running' || !v) { this.pauseReason = null; return; }
    if (reason) {
      if (this.pauseReason === reason) return;
      this.pauseReason = reason;
      if (this.loopStarted) v.pause(reason);
      else this.volunteerState = 'paused';
    } else if (!this.loopStarted) {
      this.pauseReason = null;
      this.loopStarted = true;
      v.start();
    } else if (this.pauseReason) {
      this.pauseReason = null;
      v.resume();
    }
  }

  private async ensureSession(wallet: string, backend: Backend): Promise<Session> {
    const old = this.session;
    if (old && old.wallet === wallet && old.backend === backend) return old;
    if (old) this.disposeSession(old);
    const socket = await openVolunteerSocket(this.coordinator, (c) => { this.connected = c; });
    const hello: HelloRequest = { backend, capabilities: this.capabilities!, ...(wallet ? { wallet } : {}) };
    const volunteer = new Volunteer({
      socket,
      hello,
      pending: this.pending,
      // The duty cycle runs inside the worker, between session runs; the loop itself never rests.
      intensity: 1,
      execute: (a) => this.execute(a),
      saveCredentials: (c) => saveCredentials(this.coordinator, c),
      // What this page holds, offered back after a reload (the shard being computed finishes under the same copy).
      held: new PageHeldCopies(this.coordinator),
      keptWeights: this.compute.keptWeights,
      // The same array: codes pasted later join at the next hello too.
      join: this.joinCodes,
      hooks: {
        joined: (r) => this.joined(r),
        state: (s, detail) => {
          if (this.phase === 'stopped' && s !== 'stopped') return;
          this.volunteerState = s;
          this.stateDetail = detail ?? null;
          if (s !== 'computing' && s !== 'uploading' && this.live.current) { this.live.current = null; this.showSoon(); }
        },
        hello: (r) => {
          this.volunteerId = r.volunteerId;
          this.account = r.account;
          this.lastError = null;
          void this.refreshAccount();
          void this.refreshPendingCount();
          void this.refreshServed();
        },
        assignment: (a) => {
          this.inHand.start(a);
          this.live.current = { jobId: a.jobId, projectId: a.projectId, copyId: a.copyId, since: Date.now() };
          this.showSoon();
          // A job the page has not heard of yet: fetch its name and progress now, not at the next poll.
          if (!this.swarm?.jobs.some((j) => j.id === a.jobId)) void this.refreshSwarm();
        },
        computed: (a, ms) => {
          this.inHand.done(a.copyId);
          this.live.counts.computed++;
          this.showSoon();
          this.throughput.record(ms);
          // The first points at once; after that the chart follows its one-second samples.
          if (this.throughput.x.length < 2) this.sample();
          if (!this.modelsSeen.has(a.model.hash)) {
            this.modelsSeen.add(a.model.hash);
            void this.refreshCache();
          }
        },
        dropped: (copyId) => { this.inHand.done(copyId); },
        kept: () => { this.pendingCountSoon(); },
        uploaded: () => {
          this.live.counts.uploaded++;
          this.showSoon();
          // Most results are acknowledged before they are ever kept, and then the count cannot have moved. It may
          // have when some are counted, or when a count is being read (it may have seen this result before its removal).
          if (this.live.counts.pending > 0 || this.pendingReads > 0) this.pendingCountSoon();
        },
        outcome: (o) => {
          if (o.outcome === 'valid') this.live.counts.validated++;
          else if (o.outcome === 'invalid' || o.outcome === 'error') {
            this.live.counts.rejected++;
            this.rejections = [
              { copyId: o.copyId, jobId: o.jobId, outcome: o.outcome, reason: o.reason ?? 'no reason given', at: Date.now() },
              ...this.rejections,
            ].slice(0, 20);
          } else this.live.counts.notNeeded++;
          this.live.creditedHere += o.credit;
          this.showSoon();
          this.accountSoon();
          this.refreshSwarmSoon();
        },
        balance: (b) => {
          if (!this.account || b.account === this.account) {
            this.live.balance = b.balance;
            this.credit = { pending: b.pending, payable: b.payable, debt: b.debt, underReview: b.underReview ?? 0 };
            this.showSoon();
          }
        },
        error: (m) => { this.lastError = m; },
      },
    });
    const s: Session = { socket, volunteer, wallet, backend };
    this.session = s;
    return s;
  }

  /**
   * Joins a private project's group by an invite code or link (issue 15). While contributing it joins at once;
   * before, the code waits for the next hello (joining needs the volunteer's identity).
   */
  async join(text: string): Promise<void> {
    this.groupError = null;
    this.groupNotice = null;
    const code = inviteCodeOf(text);
    if (!code) {
      this.groupError = `${INVITE_CODE_PROBLEM}; paste the code or the whole invite link`;
      return;
    }
    const v = this.session?.volunteer;
    if (this.phase !== 'running' || !v || !this.connected) {
      this.queueJoin(code);
      this.groupNotice = 'The invite will be used when you start contributing.';
      return;
    }
    this.joined(await v.joinGroup(code));
  }

  /** Leaves a group: that project's work stops coming from the next request on. */
  async leave(projectId: string): Promise<void> {
    this.groupError = null;
    this.groupNotice = null;
    const v = this.session?.volunteer;
    if (!v || !this.connected) {
      this.groupError = 'Not connected: start contributing to leave a group.';
      return;
    }
    const r = await v.leaveGroup(projectId).catch((e: Error) => ({ ok: false as const, error: e.message }));
    if (!r.ok) {
      this.groupError = r.error;
      return;
    }
    this.served = { public: r.served.public, groups: r.served.groups };
    this.joinedNames = this.joinedNames.filter((n) => n !== r.project.name);
    this.groupNotice = `You left project ${r.project.name}; its work no longer comes here.`;
  }

  private queueJoin(code: string) {
    if (!this.joinCodes.includes(code)) this.joinCodes.push(code);
  }

  /** What joining by a code said: membership belongs to this volunteer from now on, so the code is not used again. */
  private joined(r: JoinOutcome) {
    const i = this.joinCodes.indexOf(r.code);
    if (i >= 0) this.joinCodes.splice(i, 1);
    if (!r.ok) {
      this.groupError = `Invite not accepted: ${r.error}`;
      return;
    }
    this.groupError = null;
    this.served = { public: r.served.public, groups: r.served.groups };
    if (!this.joinedNames.includes(r.project.name)) this.joinedNames = [...this.joinedNames, r.project.name];
    this.groupNotice = r.already ? `Already in project ${r.project.name}'s group.` : `Joined project ${r.project.name}'s group: its private work may now come here.`;
    // A reload must not join again (the volunteer may have left the group since).
    try {
      const u = new URL(location.href);
      if (u.searchParams.getAll('join').includes(r.code)) {
        const rest = u.searchParams.getAll('join').filter((x) => x !== r.code);
        u.searchParams.delete('join');
        for (const x of rest) u.searchParams.append('join', x);
        history.replaceState(history.state, '', u.href);
      }
    } catch { /* no history (a worker) */ }
  }

  private async refreshServed() {
    const v = this.session?.volunteer;
    if (!v) return;
    const r = await v.servedProjects().catch(() => null);
    if (r?.ok) this.served = { public: r.public, groups: r.groups };
  }

  private disposeSession(s: Session) {
    s.socket.removeAllListeners();
    s.socket.disconnect();
    if (this.session === s) this.session = null;
    this.connected = false;
  }

  private execute(a: Assignment): Promise<ShardResult> {
    return this.compute.run(a);
  }

  /**
   * The GPU device was lost: say so, move to WASM in a fresh worker (the old
   * runtime may be wedged in the run that was on the GPU), and reintroduce
   * ourselves to the coordinator with the new backend.
   */
  private async onBackendChanged(c: BackendChange) {
    const wasRunning = this.running;
    this.backendNotice = c.to
      ? `Switched from ${c.from} to ${c.to}: ${c.reason}.`
      : `Stopped: ${c.reason}, and no other backend passed its self-test.`;
    this.compute.terminate(c.reason);
    if (wasRunning) await this.session?.volunteer.stop();
    if (this.session) this.disposeSession(this.session);
    let report: InitReport | null = null;
    if (c.to) {
      try {
        report = await this.compute.start({ coordinator: this.coordinator, backend: c.to });
      } catch (e) {
        this.backendNotice += ` Restarting on ${c.to} failed: ${(e as Error).message}`;
      }
    }
    this.backend = report?.backend ?? null;
    if (report) {
      this.capabilities = report.capabilities;
      this.report = { ...report, selfTests: [...(this.report?.selfTests.filter((t) => t.backend !== report.backend) ?? []), ...report.selfTests] };
    }
    if (!this.backend) {
      this.lock?.release();
      this.lock = null;
      this.phase = 'unsupported';
      return;
    }
    if (wasRunning) {
      await this.ensureSession(this.settings.wallet.trim(), this.backend);
      this.loopStarted = false;
      this.pauseReason = null;
      this.phase = 'running';
      this.applyPower();
    }
  }

  /** Shows the live figures; a count that did not change is not written (it would re-render for nothing). */
  private show() {
    for (const k of Object.keys(this.live.counts) as (keyof Counts)[]) {
      if (this.counts[k] !== this.live.counts[k]) this.counts[k] = this.live.counts[k];
    }
    if (this.current !== this.live.current) this.current = this.live.current;
    if (this.creditedHere !== this.live.creditedHere) this.creditedHere = this.live.creditedHere;
    if (this.balance !== this.live.balance) this.balance = this.live.balance;
  }

  private lastSample = 0;

  private sample() {
    if (this.phase !== 'running' && this.throughput.x.length === 0) return;
    if (Date.now() - this.lastSample < 300) return;
    this.lastSample = Date.now();
    this.throughput.sample(Date.now(), this.startedAt);
    this.samples++;
  }

  private pendingSeq = 0;

  /** Pending counts being read now. */
  private pendingReads = 0;

  private async refreshPendingCount() {
    // Counts may resolve out of order; only the latest one speaks for now.
    const seq = ++this.pendingSeq;
    this.pendingReads++;
    try {
      const n = await this.pending.count();
      if (seq === this.pendingSeq) { this.live.counts.pending = n; this.showSoon(); }
    } catch { /* IndexedDB unavailable */ } finally {
      this.pendingReads--;
    }
  }

  private swarmLoading = false;
  private swarmAt = 0;
  private swarmTimer: ReturnType<typeof setTimeout> | null = null;

  /** Progress moved: show it, at most every second and a half, the last change included. */
  private refreshSwarmSoon() {
    if (this.swarmTimer) return;
    const wait = Math.max(0, this.swarmAt + 1500 - Date.now());
    this.swarmTimer = setTimeout(() => { this.swarmTimer = null; void this.refreshSwarm(); }, wait);
  }

  private async refreshSwarm() {
    if (this.swarmLoading) return;
    this.swarmLoading = true;
    this.swarmAt = Date.now();
    try {
      this.swarm = await fetchSwarm(this.coordinator);
      this.swarmError = null;
    } catch (e) {
      this.swarmError = `cannot reach the coordinator at ${this.coordinator} (${(e as Error).message})`;
    } finally {
      this.swarmLoading = false;
    }
  }

  /**
   * Moves this browser's volunteer credit to its in-browser wallet: the wallet
   * signs the claim message itself (client/lib/claim.ts, loaded now), the
   * volunteer's saved secret proves who did the work.
   */
  async claimTo(w: LocalWallet): Promise<void> {
    if (this.claim?.phase === 'signing') return;
    const creds = await loadCredentials(this.coordinator);
    if (!creds) {
      this.claim = { phase: 'failed', wallet: w.address, error: 'this browser has no volunteer credit here yet: contribute first' };
      return;
    }
    this.claim = { phase: 'signing', wallet: w.address };
    try {
      const { signAndClaim } = await import('../lib/claim.ts');
      const r = await signAndClaim(this.coordinator, creds, w);
      this.claim = { phase: 'done', wallet: r.wallet, movedPayable: r.movedPayable, movedPending: r.movedPending };
    } catch (e) {
      this.claim = { phase: 'failed', wallet: w.address, error: (e as Error).message };
    }
    await this.refreshAccount();
  }

  private async refreshAccount() {
    if (this.claim?.phase === 'done') {
      const wallet = this.claim.wallet;
      try {
        this.claimedView = await fetchAccount(this.coordinator, wallet);
        this.payouts = await fetchPayouts(this.coordinator, wallet);
      } catch { /* coordinator down: keep what we had */ }
    }
    const wallet = this.settings.wallet.trim();
    const account = this.account ?? (wallet && !walletProblem(wallet) ? wallet : null);
    if (!account) { this.accountView = null; return; }
    try {
      const view = await fetchAccount(this.coordinator, account);
      this.accountView = view;
      this.live.balance = view.balance;
      this.credit = { pending: view.pending, payable: view.payable, debt: view.debt, underReview: view.underReview ?? 0 };
      if (account.startsWith('0x')) this.payouts = await fetchPayouts(this.coordinator, account).catch(() => this.payouts);
      this.show();
    } catch { /* unknown account or coordinator down: keep what we had */ }
  }

  private async checkOtherTab() {
    if (this.lock) { this.otherTab = false; return; }
    try { this.otherTab = await anotherTabContributes(); } catch { /* locks unavailable */ }
  }
}
