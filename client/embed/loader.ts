/**
 * `embed.js`: the one script tag a site owner pastes.
 *
 *   <script src="https://COORDINATOR/embed.js" data-project="ID" data-wallet="0x…" data-intensity="0.3" async></script>
 *
 * It asks before anything runs: it fetches only the project's embed settings
 * (which also enforces the project's allowed origins), shows a consent card in
 * a shadow root and, after Accept, opens the compute in a hidden iframe on the
 * coordinator's own origin. The socket, the Web Worker and the model cache live
 * in that frame; this page's thread only draws the card and the indicator.
 * Nothing model- or shard-related is fetched before Accept.
 *
 * Kept tiny and self-contained (built as an IIFE by vite.embed.config.ts): no
 * framework, no innerHTML (it works under Trusted Types), styles through a
 * constructable stylesheet (it works without style-src 'unsafe-inline').
 */
import {
  type Body, clampIntensity, consentKey, type CreditTarget, type EmbedConfig, type EmbedState, type HostMessage, makeConsent,
  parseEmbedConfig, parseFrameMessage, PROJECT_ID, TAG, validConsent, VERSION, WALLET_SHAPE,
} from './messages.ts';
import { CSS } from './loader-style.ts';

type EventName = 'state' | 'shard' | 'credit';
type Listener = (detail: unknown) => void;
interface Battery extends EventTarget { charging: boolean; level: number }

/** Below this charge, on battery, nothing starts (and running work pauses). */
const MIN_BATTERY = 0.3;
/** The shard in hand may finish after Stop; the frame is removed after this at the latest. */
const STOP_GRACE_MS = 5000;
/** A frame that has not said hello by then was blocked (CSP frame-src, frame-ancestors) or is unreachable. */
const FRAME_LOAD_MS = 20_000;

(() => {
  const w = window as Window & { tabgrid?: unknown };
  const script = (document.currentScript ?? document.querySelector('script[data-project][src*="embed.js"]')) as HTMLScriptElement | null;
  if (!script?.src) return;
  if (w.tabgrid) { console.warn('tabgrid: embed.js is included twice; the second copy does nothing'); return; }

  const src = new URL(script.src, location.href);
  const origin = src.origin;
  const base = new URL('.', src).href;
  const coordinatorHost = src.host;
  const ds = script.dataset;
  const projectId = ds.project ?? '';
  let siteWallet: string | undefined = ds.wallet?.trim() || undefined;
  if (siteWallet && !WALLET_SHAPE.test(siteWallet)) {
    console.error(`tabgrid: data-wallet="${siteWallet}" is not a wallet address (0x + 40 hex digits); credit will not go to the site`);
    siteWallet = undefined;
  }
  const key = consentKey(origin, projectId);
  const declinedKey = `tabgrid:declined:${origin}:${projectId}`;

  const listeners: Record<EventName, Set<Listener>> = { state: new Set(), shard: new Set(), credit: new Set() };
  let state: EmbedState = 'loading';
  let reason: string | null = null;
  let config: EmbedConfig | null = null;
  let intensity = 0.3;
  let visitorWallet: string | undefined;
  let consented = false;
  let frame: HTMLIFrameElement | null = null;
  let frameReady = false;
  let stopTimer: ReturnType<typeof setTimeout> | undefined;
  let loadTimer: ReturnType<typeof setTimeout> | undefined;
  let shards = 0;
  let credit = 0;
  let battery: Battery | null = null;
  let sentPause: string | null = null;
  /** Whether the visitor accepted on this page view (or earlier): only then may an error be shown on screen. */
  let started = false;

  const stateDetail = () => ({ state, ...(reason ? { reason } : {}) });

  // Host callbacks run isolated: one that throws neither breaks the loader nor hides the error.
  const emit = (type: EventName, detail: unknown) => {
    for (const cb of listeners[type]) {
      try { cb(detail); } catch (e) { setTimeout(() => { throw e; }); }
    }
  };

  const setState = (s: EmbedState, why: string | null = null) => {
    if (s === state && why === reason) return;
    state = s;
    reason = why;
    emit('state', stateDetail());
    render();
  };

  w.tabgrid = Object.freeze({
    version: VERSION,
    get state() { return state; },
    /** Subscribes; `state` listeners get the current state at once. Returns an unsubscribe function. */
    on(type: EventName, cb: Listener) {
      const set = listeners[type];
      if (!set || typeof cb !== 'function') throw new TypeError('tabgrid.on(type, callback): type is state, shard or credit');
      set.add(cb);
      if (type === 'state') { try { cb(stateDetail()); } catch (e) { setTimeout(() => { throw e; }); } }
      return () => { set.delete(cb); };
    },
    off(type: EventName, cb: Listener) { listeners[type]?.delete(cb); },
    /** Stops the work on this page view; the visitor's consent stands (the indicator's Stop withdraws it). */
    stop() { stop(false); },
  });

  const storage = (s: 'localStorage' | 'sessionStorage'): Storage | null => {
    try { return w[s]; } catch { return null; }
  };
  const store = (s: 'localStorage' | 'sessionStorage', k: string, v: string | null) => {
    try { if (v === null) storage(s)?.removeItem(k); else storage(s)?.setItem(k, v); } catch { /* storage disabled: this page view only */ }
  };

  // ---- when not to start: data saving, battery, hidden page ----

  const dataSaver = (): string | null => {
    const conn = (navigator as Navigator & { connection?: { saveData?: boolean } }).connection;
    if (conn?.saveData) return 'Data Saver is on';
    if (matchMedia('(prefers-reduced-data: reduce)').matches) return 'this browser asks sites to use less data';
    return null;
  };
  const hostPause = (): string | null => {
    if (document.visibilityState === 'hidden') return 'this tab is hidden';
    if (battery && !battery.charging && battery.level < MIN_BATTERY) return `on battery below ${MIN_BATTERY * 100}%`;
    return dataSaver();
  };
  const onEnvironment = () => {
    if (!consented || state === 'stopping' || state === 'stopped' || state === 'error') return;
    const why = hostPause();
    if (!frame) {
      if (why) setState('paused', why);
      else openFrame();
      return;
    }
    if (frameReady && why !== sentPause) {
      sentPause = why;
      post({ type: 'pause', reason: why });
    }
  };
  document.addEventListener('visibilitychange', onEnvironment);
  (navigator as Navigator & { connection?: EventTarget }).connection?.addEventListener?.('change', onEnvironment);
  const batteryReady = ((navigator as Navigator & { getBattery?: () => Promise<Battery> }).getBattery?.() ?? Promise.reject())
    .then((b) => {
      battery = b;
      b.addEventListener('chargingchange', onEnvironment);
      b.addEventListener('levelchange', onEnvironment);
    })
    .catch(() => { /* no Battery API: nothing to watch */ });

  // ---- the frame ----

  const post = (m: Body<HostMessage>) => {
    frame?.contentWindow?.postMessage({ tag: TAG, v: VERSION, ...m }, origin);
  };

  function openFrame() {
    if (frame || !config) return;
    setState('starting');
    frameReady = false;
    sentPause = null;
    const f = document.createElement('iframe');
    f.title = 'tabgrid';
    // Hidden from assistive technology while it only computes; shown when it asks the visitor to confirm.
    f.setAttribute('aria-hidden', 'true');
    f.tabIndex = -1;
    // Scripts and its own origin (storage, same-origin fetches); no top navigation or forms. Popups only
    // for the consent window (browsers without IntersectionObserver v2), which the frame opens on the
    // visitor's click, unsandboxed so that it is the coordinator's page as any other.
    f.setAttribute('sandbox', 'allow-scripts allow-same-origin allow-popups allow-popups-to-escape-sandbox');
    f.referrerPolicy = 'no-referrer';
    f.className = 'frame';
    f.src = new URL(`${config.frame.slice(1)}?project=${encodeURIComponent(projectId)}`, base).href;
    frame = f;
    root.append(f);
    mount();
    loadTimer = setTimeout(() => {
      const msg = `the tabgrid frame from ${origin} did not load; if this page has a Content-Security-Policy, its frame-src must allow ${origin}`;
      console.error(`tabgrid: ${msg}`);
      removeFrame();
      setState('error', msg);
    }, FRAME_LOAD_MS);
  }

  /** The frame is hidden while it computes; it is shown (and reachable by keyboard) while it asks the visitor. */
  function showFrame(f: HTMLIFrameElement, ask: boolean) {
    f.classList.toggle('ask', ask);
    f.title = ask ? 'tabgrid: confirm' : 'tabgrid';
    if (ask) { f.removeAttribute('aria-hidden'); f.removeAttribute('tabindex'); } else { f.setAttribute('aria-hidden', 'true'); f.tabIndex = -1; }
  }

  function removeFrame() {
    clearTimeout(stopTimer);
    clearTimeout(loadTimer);
    frame?.remove();
    frame = null;
    frameReady = false;
  }

  addEventListener('message', (e) => {
    // Only our frame, on the coordinator's origin; anything else on this page is not ours to read.
    if (!frame || e.source !== frame.contentWindow || e.origin !== origin) return;
    const m = parseFrameMessage(e.data);
    if (!m) return;
    switch (m.type) {
      case 'ready':
        clearTimeout(loadTimer);
        frameReady = true;
        post({
          type: 'start', intensity,
          ...(siteWallet ? { siteWallet } : {}),
          ...(visitorWallet && config?.creditTo === 'visitor' ? { visitorWallet } : {}),
        });
        onEnvironment();
        break;
      case 'state':
        // The frame asks the visitor itself (a page the project does not vouch for): show it, until they answer.
        showFrame(frame, m.state === 'confirm' && state !== 'stopping');
        if (m.state === 'stopped') {
          if (state === 'stopping') finishStop();
        } else if (m.state === 'declined') {
          removeFrame();
          consented = false;
          store('localStorage', key, null);
          store('sessionStorage', declinedKey, '1');
          setState('declined', m.detail);
        } else if (state !== 'stopping') {
          setState(m.state, m.detail);
          if (m.state === 'error') removeFrame();
        }
        break;
      case 'shard':
        shards = m.shards;
        emit('shard', { shards: m.shards, computeMs: m.computeMs });
        render();
        break;
      case 'credit':
        credit = m.total;
        emit('credit', { amount: m.amount, total: m.total, to: m.to as CreditTarget });
        render();
        break;
      case 'error':
        console.warn(`tabgrid: ${m.message}`);
        if (m.field === 'wallet') {
          // The visitor's wallet failed its checksum: ask again, with the reason.
          removeFrame();
          consented = false;
          store('localStorage', key, null);
          walletError = m.message;
          setState('consent');
        } else if (m.fatal) {
          removeFrame();
          setState('error', m.message);
        }
        break;
    }
  });

  function stop(revoke: boolean) {
    if (revoke) {
      store('localStorage', key, null);
      // Not asked again during this visit; a later visit asks again.
      store('sessionStorage', declinedKey, '1');
    }
    consented = false;
    if (!frame || !frameReady) { removeFrame(); setState('stopped', revoke ? 'stopped by the visitor' : 'stopped by the page'); return; }
    setState('stopping', revoke ? 'stopped by the visitor' : 'stopped by the page');
    post({ type: 'stop' });
    stopTimer = setTimeout(finishStop, STOP_GRACE_MS);
  }

  function finishStop() {
    const why = reason;
    removeFrame();
    setState('stopped', why);
  }

  // ---- the card and the indicator (one shadow root) ----

  const hostEl = document.createElement('tabgrid-embed');
  const root = hostEl.attachShadow({ mode: 'open' });
  if ('adoptedStyleSheets' in Document.prototype) {
    const sheet = new CSSStyleSheet();
    sheet.replaceSync(CSS);
    root.adoptedStyleSheets = [sheet];
  } else {
    // Old browsers only; under a strict CSP this needs style-src 'unsafe-inline'.
    const style = document.createElement('style');
    style.textContent = CSS;
    root.append(style);
  }
  const panel = document.createElement('div');
  panel.className = 'root';
  // The card's words are English whatever the page's language, for screen readers' pronunciation.
  panel.lang = 'en';
  root.append(panel);
  let walletError: string | null = null;
  let hideTimer: ReturnType<typeof setTimeout> | undefined;

  function mount() {
    if (hostEl.isConnected) return;
    // First in the document: keyboard and screen-reader users meet the card before the page, though it sits in a corner.
    const attach = () => document.body.prepend(hostEl);
    if (document.body) attach(); else document.addEventListener('DOMContentLoaded', attach, { once: true });
  }

  type Child = Node | string | null | false | undefined;
  function h(tag: string, attrs: Record<string, string> = {}, ...children: Child[]): HTMLElement {
    const el = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
    for (const c of children) if (c) el.append(c);
    return el;
  }

  function logo(): SVGElement {
    const ns = 'http://www.w3.org/2000/svg';
    const svg = document.createElementNS(ns, 'svg');
    svg.setAttribute('viewBox', '0 0 32 32');
    svg.setAttribute('class', 'logo');
    svg.setAttribute('aria-hidden', 'true');
    const rect = (x: number, y: number, s: number, fill: string, op = '1') => {
      const r = document.createElementNS(ns, 'rect');
      for (const [k, v] of Object.entries({ x, y, width: s, height: s, rx: s > 20 ? 6 : 1.5, fill, opacity: op })) r.setAttribute(k, String(v));
      svg.append(r);
    };
    rect(0, 0, 32, '#1f6feb');
    rect(6, 6, 8, '#fff'); rect(18, 6, 8, '#fff', '.7'); rect(6, 18, 8, '#fff', '.7'); rect(18, 18, 8, '#fff');
    return svg;
  }

  const short = (a: string) => `${a.slice(0, 6)}…${a.slice(-4)}`;
  const pct = () => `${Math.round(intensity * 100)}%`;
  const fmt = (x: number) => (x === 0 ? '0' : x < 0.001 ? x.toExponential(1) : x < 10 ? x.toPrecision(2) : x.toFixed(0));

  function card(cfg: EmbedConfig): HTMLElement {
    const train = cfg.jobs.some((j) => j.kind === 'train');
    const infer = cfg.jobs.some((j) => j.kind !== 'train') || !train;
    const what = `${infer ? 'machine-learning inference' : ''}${infer && train ? ' and ' : ''}${train ? 'model training' : ''}`;
    const name = h('strong', {}, cfg.project.name);
    let input: HTMLInputElement | null = null;
    const err = h('p', { class: 'err', id: 'tg-err', role: 'alert' }, walletError ?? '');
    let creditLine: HTMLElement;
    if (cfg.creditTo === 'visitor') {
      input = h('input', {
        id: 'tg-wallet', type: 'text', autocomplete: 'off', spellcheck: 'false', placeholder: '0x… (optional)',
        'aria-describedby': 'tg-wallet-hint tg-err', ...(walletError ? { 'aria-invalid': 'true' } : {}),
      }) as HTMLInputElement;
      input.value = visitorWallet ?? '';
      creditLine = h('li', {},
        h('label', { for: 'tg-wallet' }, 'Credit goes to your wallet, if you enter one:'),
        input,
        h('span', { class: 'hint', id: 'tg-wallet-hint' }, siteWallet ? `Empty: this site's wallet (${short(siteWallet)}) is credited.` : 'Empty: the credit stays with this browser, unclaimed.'),
        err);
    } else {
      creditLine = h('li', {}, 'Credit goes to ', siteWallet ? h('span', {}, "this site's wallet ", h('code', { title: siteWallet }, short(siteWallet))) : 'this site (no wallet is set, so it stays unclaimed)', '.');
    }
    const hours = cfg.consentHours;
    const lasts = hours >= 48 && hours % 24 === 0 ? `${hours / 24} days` : `${hours} hour${hours === 1 ? '' : 's'}`;
    const decline = h('button', { type: 'button', class: 'btn', 'data-tabgrid-consent': 'decline' }, 'Decline');
    const accept = h('button', { type: 'button', class: 'btn primary', 'data-tabgrid-consent': 'accept' }, 'Accept');
    const doDecline = () => {
      store('sessionStorage', declinedKey, '1');
      setState('declined', 'declined by the visitor');
    };
    decline.addEventListener('click', (e) => { if (e.isTrusted) doDecline(); });
    accept.addEventListener('click', (e) => {
      // Consent comes from the visitor: a script clicking on their behalf is ignored.
      if (!e.isTrusted) return;
      const wallet = input?.value.trim() ?? '';
      if (wallet && !WALLET_SHAPE.test(wallet)) {
        walletError = 'That is not a wallet address: 0x followed by 40 hex digits.';
        render();
        root.getElementById('tg-wallet')?.focus();
        return;
      }
      walletError = null;
      visitorWallet = wallet || undefined;
      store('localStorage', key, JSON.stringify(makeConsent(Date.now(), cfg.consentHours, visitorWallet)));
      store('sessionStorage', declinedKey, null);
      consented = true;
      started = true;
      onEnvironment();
    });
    const el = h('section', { class: 'card', role: 'dialog', 'aria-modal': 'false', 'aria-labelledby': 'tg-title', 'aria-describedby': 'tg-desc' },
      h('div', { class: 'head' }, logo(), h('h2', { id: 'tg-title' }, 'Lend spare computing power to ', name, '?')),
      h('p', { id: 'tg-desc' },
        'If you accept, this page runs ', h('strong', {}, what), ` for ${cfg.project.name} in the background on this device, `,
        `with tabgrid (from ${coordinatorHost}). It first downloads a model, usually a few megabytes.`),
      h('ul', {},
        h('li', {}, 'Uses about ', h('strong', {}, pct()), ' of one processor core; pauses when this tab is hidden or your battery is low.'),
        creditLine,
        h('li', {}, `Remembered for ${lasts}. Stop any time from the tabgrid badge that stays on screen while it runs.`)),
      h('div', { class: 'actions' }, decline, accept));
    el.addEventListener('keydown', (e) => { if (e.key === 'Escape' && e.isTrusted) doDecline(); });
    return el;
  }

  // The indicator is built once and updated in place, so its live region announces state changes (a replaced node would not).
  let badge: { box: HTMLElement; name: Text; status: HTMLElement; counts: Text; stop: HTMLElement } | null = null;
  const LABEL: Partial<Record<EmbedState, string>> = {
    starting: 'Starting…', running: 'Computing', paused: 'Paused', stopping: 'Stopping…', stopped: 'Stopped', error: 'Stopped',
  };

  function indicator(): HTMLElement {
    if (!badge) {
      const stopBtn = h('button', { type: 'button', id: 'tg-stop', class: 'btn stop', 'data-tabgrid-control': 'stop', 'aria-label': 'Stop tabgrid computing on this device' }, 'Stop');
      stopBtn.addEventListener('click', (e) => { if (e.isTrusted) stop(true); });
      const name = document.createTextNode('');
      const counts = document.createTextNode('');
      const status = h('span', { role: 'status' });
      const box = h('section', { role: 'region', 'aria-label': 'tabgrid' },
        h('span', { class: 'dot', 'aria-hidden': 'true' }),
        h('div', { class: 'txt' }, h('div', { class: 'line' }, h('strong', {}, 'tabgrid'), name), h('div', { class: 'sub' }, status, counts)),
        stopBtn);
      badge = { box, name, status, counts, stop: stopBtn };
    }
    const detail = state === 'stopped' ? 'nothing runs now' : state === 'stopping' ? null : reason;
    badge.box.className = `badge ${state}`;
    badge.name.data = ` · ${config?.project.name ?? ''}`;
    const text = `${LABEL[state] ?? state}${detail ? ` (${detail})` : ''}`;
    if (badge.status.textContent !== text) badge.status.textContent = text;
    badge.counts.data = state === 'stopped' ? '' : ` · ${pct()}${shards ? ` · ${shards} shard${shards === 1 ? '' : 's'}` : ''}${credit ? ` · ${fmt(credit)} credit` : ''}`;
    badge.stop.hidden = state === 'stopped' || state === 'stopping';
    return badge.box;
  }

  function render() {
    clearTimeout(hideTimer);
    const active = root.activeElement;
    const focused = active?.getAttribute('data-tabgrid-consent') ?? active?.id;
    // Errors before Accept stay in the console: a visitor who agreed to nothing is shown nothing.
    const view = state === 'consent' && config ? card(config) : LABEL[state] && started ? indicator() : null;
    if (panel.firstChild !== view) panel.replaceChildren(...(view ? [view] : []));
    if (state === 'stopped' || state === 'error') hideTimer = setTimeout(() => { panel.replaceChildren(); if (!frame) hostEl.remove(); }, 6000);
    if (!view && !frame) { hostEl.remove(); return; }
    mount();
    // Re-rendering the card must not drop the visitor's keyboard focus.
    if (focused && !root.activeElement) (root.querySelector<HTMLElement>(`[data-tabgrid-consent="${focused}"]`) ?? root.getElementById(focused))?.focus();
  }

  // ---- start ----

  async function main() {
    if (!PROJECT_ID.test(projectId)) {
      console.error('tabgrid: the script tag needs data-project="<project id>"');
      setState('error', 'data-project is missing or malformed');
      return;
    }
    const saver = dataSaver();
    if (saver) { setState('unavailable', `${saver}, so tabgrid does not offer to run`); return; }
    let res: Response;
    let body: unknown;
    try {
      // No cookies, no referrer: the coordinator learns this page's origin (CORS sends it) and nothing more.
      res = await fetch(`${base}api/v1/embed/${encodeURIComponent(projectId)}`, { credentials: 'omit', referrerPolicy: 'no-referrer', headers: { accept: 'application/json' } });
      body = await res.json().catch(() => null);
    } catch (e) {
      const msg = `cannot reach the tabgrid coordinator at ${origin} (${(e as Error).message}); if this page has a Content-Security-Policy, its connect-src must allow ${origin}`;
      console.error(`tabgrid: ${msg}`);
      setState('error', msg);
      return;
    }
    if (!res.ok) {
      const msg = (body as { error?: unknown } | null)?.error;
      const text = typeof msg === 'string' ? msg.slice(0, 500) : `the coordinator refused with HTTP ${res.status}`;
      console.error(`tabgrid: ${text}`);
      setState('refused', text);
      return;
    }
    const cfg = parseEmbedConfig(body);
    if (!cfg) { setState('error', 'unexpected reply from the tabgrid coordinator'); return; }
    config = cfg;
    intensity = clampIntensity(ds.intensity, cfg.defaultIntensity);
    await batteryReady;
    const consent = validConsent(storage('localStorage')?.getItem(key) ?? null, Date.now(), cfg.consentHours);
    if (consent) {
      visitorWallet = consent.visitorWallet;
      consented = true;
      started = true;
      onEnvironment();
    } else {
      store('localStorage', key, null);
      if (storage('sessionStorage')?.getItem(declinedKey)) setState('declined', 'declined earlier in this visit');
      else setState('consent');
    }
  }

  void main();
  document.dispatchEvent(new Event('tabgrid:ready'));
})();
