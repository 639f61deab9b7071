/**
 * The visitor's confirmation inside the compute frame, for embeds whose page
 * the project does not vouch for (consent-place.ts). The frame is on the
 * coordinator's origin, so the embedding page can neither script this card
 * nor click it (`isTrusted`). What it can still do is trick a real click:
 * lay the frame, transparent or covered, over something the visitor means to
 * click (clickjacking). So a click counts only when the browser reports the
 * whole card visible (IntersectionObserver v2 `trackVisibility`: not
 * transparent, transformed, filtered or covered), and has done so for
 * VISIBLE_FOR_MS; Allow is marked disabled until then. A browser without
 * that report (Firefox, Safari) cannot prove it, so there the card offers a
 * consent window instead (window/main.ts): the visitor's click opens a
 * top-level window on the coordinator's origin, which no page can cover or
 * script, and Allow there answers this frame only (its own window, origin
 * and nonce).
 *
 * A confirmation is remembered in the frame's own storage (partitioned by the
 * top-level site in current browsers) for the embedding origin, project and
 * credited wallet, for the coordinator's consent hours.
 */
import { makeConsent, MAX_CONSENT_HOURS, validConsent } from '../messages.ts';
import { consentWindowUrl, isAnswer } from '../window/request.ts';

/** How long the card must have been fully visible before a click on Allow counts. */
export const VISIBLE_FOR_MS = 500;

export interface ConfirmInfo {
  hostOrigin: string;
  projectId: string;
  projectName: string;
  coordinatorHost: string;
  intensity: number;
  /** The wallet credited (checksummed), or null: the credit stays unclaimed. */
  wallet: string | null;
  /** Whose wallet: named by the page, entered by the visitor, or the project's registered site wallet. */
  walletIs: 'page' | 'visitor' | 'project';
  consentHours: number;
  /** Tells the page (and so the visitor's loader) why a click did not count. */
  note(detail: string): void;
  signal: AbortSignal;
}

export type ConfirmOutcome = 'allowed' | 'declined' | 'aborted';

const key = (i: Pick<ConfirmInfo, 'hostOrigin' | 'projectId'>) => `tabgrid:frame-consent:${i.projectId}:${i.hostOrigin}`;
const storage = (): Storage | null => { try { return localStorage; } catch { return null; } };

/** A confirmation given earlier on this origin for this project and this wallet, still within its hours. */
export function rememberedConfirmation(i: ConfirmInfo, now = Date.now()): boolean {
  let raw: string | null = null;
  try { raw = storage()?.getItem(key(i)) ?? null; } catch { return false; }
  const c = validConsent(raw, now, i.consentHours);
  return !!c && (c.visitorWallet ?? null) === (i.wallet?.toLowerCase() ?? null);
}

function remember(i: ConfirmInfo) {
  try { storage()?.setItem(key(i), JSON.stringify(makeConsent(Date.now(), i.consentHours, i.wallet?.toLowerCase()))); } catch { /* storage blocked: asked again next visit */ }
}

export function forgetConfirmation(i: Pick<ConfirmInfo, 'hostOrigin' | 'projectId'>): void {
  try { storage()?.removeItem(key(i)); } catch { /* nothing kept */ }
}

const CSS = `
:root{color-scheme:light dark}
html,body{margin:0;height:100%;overflow:hidden}
body{font:13.5px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;background:Canvas;color:CanvasText}
main{box-sizing:border-box;height:100%;padding:12px 14px;display:flex;flex-direction:column;gap:6px}
h1{margin:0;font-size:15px;font-weight:650}
p{margin:0}
.mu{opacity:.75;font-size:12.5px}
code{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:12px}
.why{font-size:12px;color:#9a6700;min-height:1em}
.actions{display:flex;gap:8px;justify-content:flex-end;margin-top:auto}
button{font:inherit;cursor:pointer;border-radius:8px;border:1px solid #8c959f;background:transparent;color:inherit;padding:6px 14px;font-weight:550}
button.primary{background:#1f6feb;border-color:#1f6feb;color:#fff}
button[aria-disabled=true]{opacity:.55;cursor:not-allowed}
`;

const short = (a: string) => `${a.slice(0, 6)}…${a.slice(-4)}`;

/**
 * Shows the card and resolves when the visitor allows or declines (or the
 * host stops the frame). Throws when this frame is not directly on the page
 * the visitor sees: a page framed by another could be hidden by it.
 */
export function askVisitor(i: ConfirmInfo): Promise<ConfirmOutcome> {
  if (window.parent !== window.top) {
    return Promise.reject(new Error('tabgrid asks for consent only on the page the visitor sees: this page is itself framed by another'));
  }
  const style = document.createElement('style');
  style.textContent = CSS;
  document.head.append(style);
  const el = (tag: string, attrs: Record<string, string>, ...kids: (Node | string)[]) => {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
    e.append(...kids);
    return e;
  };
  const site = i.hostOrigin.replace(/^https?:\/\//, '');
  const credit = i.wallet
    ? [`Credit goes to `, el('code', { title: i.wallet }, short(i.wallet)), i.walletIs === 'visitor' ? ' (your wallet).' : i.walletIs === 'project' ? ` (${i.projectName}'s site wallet).` : ` (a wallet ${site} names).`]
    : [`The credit stays unclaimed.`];
  const hours = Math.min(MAX_CONSENT_HOURS, i.consentHours);
  const why = el('p', { class: 'why', role: 'status' });
  const decline = el('button', { type: 'button', 'data-tabgrid-frame-consent': 'decline' }, 'Decline');
  const allow = el('button', { type: 'button', class: 'primary', 'data-tabgrid-frame-consent': 'allow', 'aria-disabled': 'true' }, 'Allow');
  const card = el('main', { 'aria-labelledby': 'tg-h' },
    el('h1', { id: 'tg-h' }, `Confirm on ${i.coordinatorHost}`),
    el('p', {}, el('strong', {}, site), ' asks to run machine-learning work for ', el('strong', {}, i.projectName),
      ` on this device, using about ${Math.round(i.intensity * 100)}% of one processor core while the tab is visible.`),
    el('p', { class: 'mu' }, ...credit, ` Remembered for ${hours} hour${hours === 1 ? '' : 's'} on ${site}.`),
    why,
    el('div', { class: 'actions' }, decline, allow));
  document.body.replaceChildren(card);

  return new Promise<ConfirmOutcome>((resolve) => {
    let visibleSince: number | null = null;
    let enableTimer: ReturnType<typeof setTimeout> | undefined;
    const supported = typeof IntersectionObserver !== 'undefined' && 'isVisible' in IntersectionObserverEntry.prototype;
    const setEnabled = (on: boolean) => allow.setAttribute('aria-disabled', on ? 'false' : 'true');
    const observer = supported
      ? new IntersectionObserver((entries) => {
        for (const e of entries) {
          const fully = (e as IntersectionObserverEntry & { isVisible?: boolean }).isVisible === true && e.intersectionRatio >= 0.99;
          clearTimeout(enableTimer);
          if (!fully) { visibleSince = null; setEnabled(false); continue; }
          visibleSince ??= performance.now();
          enableTimer = setTimeout(() => { if (visibleSince !== null) setEnabled(true); }, VISIBLE_FOR_MS);
        }
      }, { threshold: [0, 0.99], trackVisibility: true, delay: 100 } as IntersectionObserverInit)
      : null;
    if (observer) observer.observe(card);
    let popup: Window | null = null;
    const nonce = crypto.randomUUID();
    if (!observer) {
      // No proof that this card is visible: the visitor confirms in a window of its own instead.
      allow.textContent = 'Confirm in a new window';
      allow.setAttribute('data-tabgrid-frame-consent', 'window');
      allow.setAttribute('aria-disabled', 'false');
      why.textContent = 'This browser cannot show tabgrid that this card is visible, so you confirm in a small window of its own.';
    }
    const onAnswer = (e: MessageEvent) => {
      if (!popup || e.source !== popup || e.origin !== location.origin || !isAnswer(e.data, nonce)) return;
      if (e.data.outcome === 'allowed') {
        remember(i);
        finish('allowed');
      } else {
        forgetConfirmation(i);
        finish('declined');
      }
    };
    window.addEventListener('message', onAnswer);

    const finish = (o: ConfirmOutcome) => {
      observer?.disconnect();
      clearTimeout(enableTimer);
      window.removeEventListener('message', onAnswer);
      try { popup?.close(); } catch { /* already gone */ }
      document.body.replaceChildren();
      resolve(o);
    };
    i.signal.addEventListener('abort', () => finish('aborted'), { once: true });
    const refuse = (reason: string) => {
      const text = `a click did not count: ${reason}`;
      why.textContent = `That ${text.slice(2)}.`;
      i.note(text);
    };
    allow.addEventListener('click', (e) => {
      if (!e.isTrusted) return refuse('it did not come from the visitor');
      if (!observer) {
        popup = window.open(consentWindowUrl(location.origin, {
          nonce, hostOrigin: i.hostOrigin, projectName: i.projectName, coordinatorHost: i.coordinatorHost,
          intensity: i.intensity, wallet: i.wallet, walletIs: i.walletIs, hours,
        }), `tabgrid-consent-${nonce}`, 'popup,width=480,height=320');
        if (!popup) return refuse('the browser blocked the confirmation window');
        i.note('waiting for the visitor in the confirmation window');
        return;
      }
      if (visibleSince === null) return refuse('the confirmation was not fully visible (covered, transparent or off screen)');
      if (performance.now() - visibleSince < VISIBLE_FOR_MS) return refuse('the confirmation had only just appeared');
      remember(i);
      finish('allowed');
    });
    decline.addEventListener('click', (e) => {
      if (!e.isTrusted) return;
      forgetConfirmation(i);
      finish('declined');
    });
  });
}
