/**
 * `window.__tabgrid`: a read-only snapshot of the page's status for headless
 * tabs (`tabgrid worker --tabs`) and e2e tests, so they need not scrape the DOM.
 */
import type { Contributor } from './contributor.svelte.ts';

export interface TabgridStatus {
  phase: string;
  state: string;
  stateDetail: string | null;
  pauseReason: string | null;
  backend: string | null;
  backendReason: string;
  backendNotice: string | null;
  selfTests: { backend: string; ok: boolean; error?: string }[];
  connected: boolean;
  otherTab: boolean;
  volunteerId: string | null;
  account: string | null;
  balance: number | null;
  counts: { computed: number; uploaded: number; validated: number; rejected: number; notNeeded: number; pending: number };
  currentJob: string | null;
  currentCopy: string | null;
  /** The copy written down (committed to IndexedDB) for a reload to finish under the same copy; null if none. */
  inHand: string | null;
  walletError: string | null;
  error: string | null;
  /** Private projects' groups (issue 15): the ones joined by invite on this page, the ones served now, and a refusal. */
  groups: { joined: string[]; served: string[]; joinError: string | null };
}

export function installTestHook(c: Contributor): void {
  const snapshot = (): Readonly<TabgridStatus> => Object.freeze({
    phase: c.phase,
    state: c.volunteerState,
    stateDetail: c.stateDetail,
    pauseReason: c.pauseReason,
    backend: c.backend,
    backendReason: c.backendReason,
    backendNotice: c.backendNotice,
    selfTests: (c.report?.selfTests ?? []).map((t) => ({ backend: t.backend, ok: t.ok, ...(t.error ? { error: t.error } : {}) })),
    connected: c.connected,
    otherTab: c.otherTab,
    volunteerId: c.volunteerId,
    account: c.account,
    // The live figures, not what the page shows of them (refreshed a few times a second).
    balance: c.live.balance,
    counts: { ...c.live.counts },
    currentJob: c.live.current?.jobId ?? null,
    currentCopy: c.live.current?.copyId ?? null,
    inHand: c.inHandCopy,
    walletError: c.walletError,
    error: c.probeError ?? c.lastError,
    groups: { joined: [...c.joinedNames], served: (c.served?.groups ?? []).map((p) => p.name), joinError: c.groupError },
  });
  Object.defineProperty(window, '__tabgrid', { get: snapshot, configurable: false, enumerable: false });
}
