/**
 * The consent window: a top-level page on the coordinator's origin, opened by
 * the compute frame on the visitor's click where the browser cannot prove the
 * frame's own card visible (no IntersectionObserver v2: Firefox, Safari).
 * A top-level window cannot be covered, made transparent or scripted by the
 * embedding page (it is never framed: frame-ancestors 'none'), so a trusted
 * click on Allow here, once the window has been visible for VISIBLE_FOR_MS
 * (a double click that opened it cannot land on Allow too), is the visitor's.
 * The answer goes to the window that opened this one, for its origin only.
 */
import { VISIBLE_FOR_MS } from '../frame/confirm.ts';
import { MAX_CONSENT_HOURS } from '../messages.ts';
import { type ConsentAnswer, parseAsk, WINDOW_TAG } from './request.ts';

const CSS = `
:root{color-scheme:light dark}
body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;background:Canvas;color:CanvasText}
main{box-sizing:border-box;min-height:100vh;padding:16px 18px;display:flex;flex-direction:column;gap:8px}
h1{margin:0;font-size:16px;font-weight:650}
p{margin:0}
.mu{opacity:.75;font-size:13px}
code{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:12.5px}
.actions{display:flex;gap:8px;justify-content:flex-end;margin-top:auto}
button{font:inherit;cursor:pointer;border-radius:8px;border:1px solid #8c959f;background:transparent;color:inherit;padding:6px 14px;font-weight:550}
button.primary{background:#1f6feb;border-color:#1f6feb;color:#fff}
button[aria-disabled=true]{opacity:.55;cursor:not-allowed}
`;

function el(tag: string, attrs: Record<string, string>, ...kids: (Node | string)[]): HTMLElement {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  e.append(...kids);
  return e;
}

const style = document.createElement('style');
style.textContent = CSS;
document.head.append(style);
const ask = parseAsk(location.hash);
const opener = window.opener as Window | null;
if (!ask || !opener) {
  document.body.replaceChildren(el('main', {}, el('h1', {}, 'Nothing to confirm'),
    el('p', {}, 'This window confirms tabgrid work for the page that opened it; it was not opened by one.')));
} else {
  const site = ask.hostOrigin.replace(/^https?:\/\//, '');
  const hours = Math.min(MAX_CONSENT_HOURS, ask.hours);
  const short = (a: string) => `${a.slice(0, 6)}…${a.slice(-4)}`;
  const credit = ask.wallet
    ? ['Credit goes to ', el('code', { title: ask.wallet }, short(ask.wallet)), ask.walletIs === 'visitor' ? ' (your wallet).' : ask.walletIs === 'project' ? ` (${ask.projectName}'s site wallet).` : ` (a wallet ${site} names).`]
    : ['The credit stays unclaimed.'];
  const allow = el('button', { type: 'button', class: 'primary', 'data-tabgrid-window-consent': 'allow', 'aria-disabled': 'true' }, 'Allow');
  const decline = el('button', { type: 'button', 'data-tabgrid-window-consent': 'decline' }, 'Decline');
  document.title = `Confirm on ${ask.coordinatorHost}`;
  document.body.replaceChildren(el('main', { 'aria-labelledby': 'tg-h' },
    el('h1', { id: 'tg-h' }, `Confirm on ${ask.coordinatorHost}`),
    el('p', {}, el('strong', {}, site), ' asks to run machine-learning work for ', el('strong', {}, ask.projectName),
      ` on this device, using about ${Math.round(ask.intensity * 100)}% of one processor core while its tab is visible.`),
    el('p', { class: 'mu' }, ...credit, ` Remembered for ${hours} hour${hours === 1 ? '' : 's'} on ${site}.`),
    el('div', { class: 'actions' }, decline, allow)));

  // Visible (and not left for another window) for VISIBLE_FOR_MS before Allow counts.
  let since: number | null = document.visibilityState === 'visible' ? performance.now() : null;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const arm = () => {
    clearTimeout(timer);
    allow.setAttribute('aria-disabled', 'true');
    if (since === null) return;
    timer = setTimeout(() => allow.setAttribute('aria-disabled', 'false'), VISIBLE_FOR_MS);
  };
  const reset = () => { since = document.visibilityState === 'visible' ? performance.now() : null; arm(); };
  document.addEventListener('visibilitychange', reset);
  window.addEventListener('blur', () => { since = null; arm(); });
  window.addEventListener('focus', reset);
  arm();

  const answer = (outcome: ConsentAnswer['outcome']) => {
    opener.postMessage({ tag: WINDOW_TAG, nonce: ask.nonce, outcome } satisfies ConsentAnswer, location.origin);
    window.close();
  };
  allow.addEventListener('click', (e) => {
    if (!e.isTrusted || since === null || performance.now() - since < VISIBLE_FOR_MS) return;
    answer('allowed');
  });
  decline.addEventListener('click', (e) => { if (e.isTrusted) answer('declined'); });
}
