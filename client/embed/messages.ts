/**
 * The postMessage protocol between the host page's loader (`embed.js`) and the
 * compute frame (`embed-frame.html`, on the coordinator's origin). Both sides
 * check the sender (window and origin) before looking at a message, then its
 * shape: the frame with valibot (`frame/schema.ts`), the loader with the
 * hand-written check below, because the loader must stay tiny and
 * dependency-free.
 *
 * Frame → host messages carry only what this page view did (its own shard
 * count, compute time, credit earned here) and never an address, a volunteer
 * id or anything another embedding site could have put in the frame's storage.
 */

export const TAG = 'tabgrid-embed';
export const VERSION = 1;

/** States the host page sees through `tabgrid.on('state')`. */
export type EmbedState =
  | 'loading' | 'consent' | 'confirm' | 'declined' | 'unavailable' | 'refused'
  | 'starting' | 'running' | 'paused' | 'stopping' | 'stopped' | 'error';

/**
 * The frame's own states, a subset: the loader owns its card and refusals.
 * `confirm`: the visitor must confirm inside the frame (a project that lists
 * no allowed origins: see consent-place.ts), so the loader shows the frame;
 * `declined`: the visitor declined there.
 */
export type FrameState = 'starting' | 'confirm' | 'declined' | 'running' | 'paused' | 'stopped' | 'error';
const FRAME_STATES: readonly string[] = ['starting', 'confirm', 'declined', 'running', 'paused', 'stopped', 'error'];

export interface StartMessage {
  tag: typeof TAG;
  v: typeof VERSION;
  type: 'start';
  /** Fraction of time computing, 0.05..1 (the frame clamps again). */
  intensity: number;
  /** The site's wallet (`data-wallet`), if any. */
  siteWallet?: string;
  /** The visitor's own wallet, only offered when the project credits visitors. */
  visitorWallet?: string;
}

export type HostMessage =
  | StartMessage
  | { tag: typeof TAG; v: typeof VERSION; type: 'stop' }
  /** The host page's own reason to pause (hidden, battery, Save-Data), or null to resume. */
  | { tag: typeof TAG; v: typeof VERSION; type: 'pause'; reason: string | null };

export type FrameMessage =
  | { tag: typeof TAG; v: typeof VERSION; type: 'ready' }
  | { tag: typeof TAG; v: typeof VERSION; type: 'state'; state: FrameState; detail: string | null }
  /** A shard computed on this page view: how many so far, and how long this one took. */
  | { tag: typeof TAG; v: typeof VERSION; type: 'shard'; shards: number; computeMs: number }
  /** Credit for a shard of this page view that validated; `to` says whose account, not which. */
  | { tag: typeof TAG; v: typeof VERSION; type: 'credit'; amount: number; total: number; to: CreditTarget }
  | { tag: typeof TAG; v: typeof VERSION; type: 'error'; message: string; fatal: boolean; field: 'wallet' | null };

/** A message without its envelope (`tag`, `v`), as the sides write them before posting. */
export type Body<M> = M extends unknown ? Omit<M, 'tag' | 'v'> : never;

export type CreditTarget = 'site' | 'visitor' | 'anonymous';

const isObj = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);
const isNum = (x: unknown, min: number, max: number): x is number => typeof x === 'number' && Number.isFinite(x) && x >= min && x <= max;
const isText = (x: unknown, max: number): x is string => typeof x === 'string' && x.length <= max;

/**
 * The loader's check of a message from the frame: exact keys, types and
 * bounds, so a surprising payload is dropped instead of reaching the host's
 * listeners. Returns the message or null.
 */
export function parseFrameMessage(x: unknown): FrameMessage | null {
  if (!isObj(x) || x.tag !== TAG || x.v !== VERSION || typeof x.type !== 'string') return null;
  const keys = Object.keys(x).sort().join(',');
  switch (x.type) {
    case 'ready':
      return keys === 'tag,type,v' ? (x as FrameMessage) : null;
    case 'state':
      return keys === 'detail,state,tag,type,v' && typeof x.state === 'string' && FRAME_STATES.includes(x.state)
        && (x.detail === null || isText(x.detail, 300)) ? (x as FrameMessage) : null;
    case 'shard':
      return keys === 'computeMs,shards,tag,type,v' && isNum(x.shards, 0, 1e9) && Number.isInteger(x.shards)
        && isNum(x.computeMs, 0, 864e5) ? (x as FrameMessage) : null;
    case 'credit':
      return keys === 'amount,tag,to,total,type,v' && isNum(x.amount, 0, 1e12) && isNum(x.total, 0, 1e15)
        && (x.to === 'site' || x.to === 'visitor' || x.to === 'anonymous') ? (x as FrameMessage) : null;
    case 'error':
      return keys === 'fatal,field,message,tag,type,v' && isText(x.message, 500) && typeof x.fatal === 'boolean'
        && (x.field === null || x.field === 'wallet') ? (x as FrameMessage) : null;
    default:
      return null;
  }
}

/** Intensity from `data-intensity` or the project's default: a number in 0.05..1, 0.3 when neither says. */
export function clampIntensity(raw: unknown, fallback = 0.3): number {
  const n = typeof raw === 'string' && raw.trim() !== '' ? Number(raw) : typeof raw === 'number' ? raw : NaN;
  const x = Number.isFinite(n) ? n : fallback;
  return Math.min(1, Math.max(0.05, Number.isFinite(x) ? x : 0.3));
}

/** Project ids as the coordinator issues them (`ID_PATTERN` in shared/protocol/schemas.ts). */
export const PROJECT_ID = /^[A-Za-z0-9_-]{6,64}$/;
/** Shape only: the EIP-55 checksum needs keccak, which the frame (and the coordinator) check. */
export const WALLET_SHAPE = /^0x[0-9a-fA-F]{40}$/;

/** What the loader keeps in the host page's localStorage after Accept. */
export interface StoredConsent {
  v: 1;
  /** When the visitor accepted (ms since epoch). */
  at: number;
  /** Accepted until (ms since epoch), at most `consentHours` after `at`. */
  until: number;
  visitorWallet?: string;
}

export const HOUR_MS = 3_600_000;
/** Never longer than this, whatever a coordinator says (30 days). */
export const MAX_CONSENT_HOURS = 720;

export function consentKey(coordinator: string, projectId: string): string {
  return `tabgrid:consent:${coordinator}:${projectId}`;
}

export function makeConsent(now: number, consentHours: number, visitorWallet?: string): StoredConsent {
  const hours = Math.min(MAX_CONSENT_HOURS, Math.max(0, consentHours));
  return { v: 1, at: now, until: now + hours * HOUR_MS, ...(visitorWallet ? { visitorWallet } : {}) };
}

/**
 * A stored consent that still holds: not expired, and no older than the
 * coordinator's current `consentHours` allows (if it lowered the setting, older
 * consents lapse sooner). Anything malformed is no consent.
 */
export function validConsent(raw: string | null, now: number, consentHours: number): StoredConsent | null {
  if (!raw) return null;
  let c: unknown;
  try { c = JSON.parse(raw); } catch { return null; }
  if (!isObj(c) || c.v !== 1 || !isNum(c.at, 0, 1e14) || !isNum(c.until, 0, 1e14)) return null;
  if (c.visitorWallet !== undefined && !(typeof c.visitorWallet === 'string' && WALLET_SHAPE.test(c.visitorWallet))) return null;
  const hours = Math.min(MAX_CONSENT_HOURS, Math.max(0, consentHours));
  const until = Math.min(c.until, c.at + hours * HOUR_MS);
  if (c.at > now + 60_000 || now >= until) return null;
  return c as unknown as StoredConsent;
}

/** The loader's check of `GET /api/v1/embed/:projectId`. */
export interface EmbedConfig {
  project: { id: string; name: string };
  jobs: { id: string; kind: string }[];
  defaultIntensity: number;
  creditTo: 'site' | 'visitor';
  consentHours: number;
  frame: string;
}

export function parseEmbedConfig(x: unknown): EmbedConfig | null {
  if (!isObj(x) || !isObj(x.project)) return null;
  const { id, name } = x.project;
  if (typeof id !== 'string' || !PROJECT_ID.test(id) || !isText(name, 200)) return null;
  if (!Array.isArray(x.jobs) || !isNum(x.consentHours, 0, 1e6) || !(x.creditTo === 'site' || x.creditTo === 'visitor')) return null;
  // The frame path must stay on the coordinator: a relative path, never another origin.
  if (typeof x.frame !== 'string' || !/^\/[A-Za-z0-9_./-]*$/.test(x.frame) || x.frame.startsWith('//')) return null;
  const jobs = x.jobs.filter(isObj).map((j) => ({ id: String(j.id ?? ''), kind: j.kind === 'train' ? 'train' : 'inference' }));
  return {
    project: { id, name },
    jobs,
    defaultIntensity: clampIntensity(x.defaultIntensity),
    creditTo: x.creditTo,
    consentHours: Math.min(MAX_CONSENT_HOURS, x.consentHours),
    frame: x.frame,
  };
}
