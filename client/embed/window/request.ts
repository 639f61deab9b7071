/**
 * What the compute frame asks the visitor in the consent window (for browsers
 * without IntersectionObserver v2, which cannot prove the frame's own card
 * visible: see frame/confirm.ts), and the answer the window posts back to
 * the frame that opened it. Both ends are on the coordinator's origin; the
 * frame accepts an answer only from the window it opened, from its own
 * origin, carrying the nonce it made.
 */
export const WINDOW_TAG = 'tabgrid-consent-window';

export interface ConsentAsk {
  nonce: string;
  hostOrigin: string;
  projectName: string;
  coordinatorHost: string;
  intensity: number;
  wallet: string | null;
  walletIs: 'page' | 'visitor' | 'project';
  hours: number;
}

export interface ConsentAnswer {
  tag: typeof WINDOW_TAG;
  nonce: string;
  outcome: 'allowed' | 'declined';
}

/** The window's address: the question rides in the fragment, which never reaches a server or a log. */
export function consentWindowUrl(origin: string, ask: ConsentAsk): string {
  return `${origin}/embed-consent.html#${encodeURIComponent(JSON.stringify(ask))}`;
}

export function parseAsk(hash: string): ConsentAsk | null {
  try {
    const a = JSON.parse(decodeURIComponent(hash.replace(/^#/, ''))) as Partial<ConsentAsk>;
    const str = (v: unknown, max = 200): v is string => typeof v === 'string' && v.length > 0 && v.length <= max;
    if (!str(a.nonce, 64) || !str(a.hostOrigin) || !str(a.projectName) || !str(a.coordinatorHost)) return null;
    if (typeof a.intensity !== 'number' || !(a.intensity > 0 && a.intensity <= 1)) return null;
    if (a.wallet !== null && !(typeof a.wallet === 'string' && /^0x[0-9a-fA-F]{40}$/.test(a.wallet))) return null;
    if (a.walletIs !== 'page' && a.walletIs !== 'visitor' && a.walletIs !== 'project') return null;
    if (typeof a.hours !== 'number' || !(a.hours > 0)) return null;
    return a as ConsentAsk;
  } catch {
    return null;
  }
}

export function isAnswer(d: unknown, nonce: string): d is ConsentAnswer {
  const a = d as Partial<ConsentAnswer> | null;
  return !!a && a.tag === WINDOW_TAG && a.nonce === nonce && (a.outcome === 'allowed' || a.outcome === 'declined');
}
