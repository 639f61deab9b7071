/**
 * A third-party site for the embed e2e tests: a plain HTTP server on its own
 * port (so its origin differs from the coordinator's) whose article page pastes
 * the one script tag, under the strict Content-Security-Policy the README
 * documents for host pages. Its own script records what `window.tabgrid`
 * reports, any CSP violation, and lets the test fake a hidden tab.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface HostPage {
  project: string;
  wallet?: string;
  intensity?: number;
  /** Replace the documented CSP (undefined: the documented one; null: none). */
  csp?: string | null;
}

export interface HostSite {
  port: number;
  /** `http://localhost:PORT`: another site than the coordinator on 127.0.0.1 (its frame is third-party). */
  origin: string;
  /** `http://127.0.0.1:PORT`: another origin, but the coordinator's site (its frame may use storage). */
  sameSiteOrigin: string;
  /** `http://127.0.0.1:OTHER_PORT`: a third origin, for allow-list refusals. */
  refusedOrigin: string;
  url(page: HostPage, origin?: string): string;
  close(): Promise<void>;
}

/** Exactly the directives the README lists for a page embedding tabgrid from `coordinator`. */
export function documentedCsp(coordinator: string): string {
  return [
    "default-src 'none'",
    `script-src 'self' ${coordinator}`,
    `connect-src ${coordinator}`,
    `frame-src ${coordinator}`,
    // The page's own stylesheet only; the card's styles need no style-src (constructable stylesheets).
    "style-src 'self'",
    "img-src 'self'",
    "base-uri 'none'",
    "form-action 'none'",
    "object-src 'none'",
    "require-trusted-types-for 'script'",
  ].join('; ');
}

const HOST_JS = `
window.hostEvents = [];
window.cspViolations = [];
document.addEventListener('securitypolicyviolation', (e) => cspViolations.push(e.violatedDirective + ' ' + e.blockedURI + ' ' + e.sample));
try { eval('1'); window.cspActive = false; } catch { window.cspActive = true; }
// Clicks inside the card's shadow root reach the document too (click is composed): when the visitor clicked last.
document.addEventListener('click', () => { window.lastClick = Date.now(); }, true);
let hidden = false;
Object.defineProperty(document, 'visibilityState', { configurable: true, get: () => (hidden ? 'hidden' : 'visible') });
window.setHidden = (h) => { hidden = h; document.dispatchEvent(new Event('visibilitychange')); };
function hook() {
  for (const type of ['state', 'shard', 'credit']) window.tabgrid.on(type, (d) => hostEvents.push({ type, ...d, at: Date.now() }));
}
if (window.tabgrid) hook(); else document.addEventListener('tabgrid:ready', hook, { once: true });
`;

// Deliberately hostile page styles: none of them may reach the card, and the card's may not reach the page.
const HOST_CSS = `
* { font-family: Georgia, serif; color: #402020; letter-spacing: .02em; }
body { margin: 0 auto; max-width: 42rem; padding: 2rem 1rem; background: #fbf6ee; line-height: 1.7; }
button { background: #d11 !important; color: #ff0 !important; border: 4px dotted #000 !important; font-size: 22px !important; }
h2 { font-size: 40px; text-transform: uppercase; }
p { font-size: 18px; }
body > * { margin: 1rem 0; }
`;

function page(p: HostPage, coordinator: string): string {
  const attrs = [`src="${coordinator}/embed.js"`, `data-project="${p.project}"`];
  if (p.wallet) attrs.push(`data-wallet="${p.wallet}"`);
  if (p.intensity !== undefined) attrs.push(`data-intensity="${p.intensity}"`);
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>The Daily Example</title><link rel="stylesheet" href="/host.css"><script src="/host.js"></script></head>
<body>
<h2>The Daily Example</h2>
<p>An article on a site that embeds tabgrid. Its own styles are loud on purpose: serif everywhere, red buttons, huge headings.</p>
<p><button id="host-button" type="button">A host button</button></p>
<p>Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor incididunt ut labore et dolore magna aliqua.
Ut enim ad minim veniam, quis nostrud exercitation ullamco laboris nisi ut aliquip ex ea commodo consequat.</p>
<script ${attrs.join(' ')} async></script>
</body></html>`;
}

/**
 * A hostile page that skips the loader and its card: it frames the compute
 * page itself and posts `start`, naming its own wallet. `mode=hidden`: a 1x1,
 * transparent frame; `mode=clickjack`: a transparent frame laid exactly over a
 * button of the page's own ("Claim your prize"), so a visitor's click on that
 * button lands in the frame. It records what the frame tells it in
 * `window.frameSaid`.
 */
function hostilePage(coordinator: string, q: URLSearchParams): string {
  const src = `${coordinator}/embed-frame.html?project=${encodeURIComponent(q.get('project') ?? '')}`;
  const style = q.get('mode') === 'clickjack'
    ? 'position:absolute;left:0;top:0;width:420px;height:300px;border:0;opacity:0;z-index:2'
    : 'position:absolute;left:0;top:0;width:1px;height:1px;border:0;opacity:0';
  const start = JSON.stringify({ tag: 'tabgrid-embed', v: 1, type: 'start', intensity: 1, siteWallet: q.get('wallet') ?? undefined });
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Free prizes</title></head><body style="margin:0">
<button id="prize" type="button" style="position:absolute;left:0;top:0;width:420px;height:300px;z-index:1">Claim your prize</button>
<iframe id="f" src="${src}" style="${style}"></iframe>
<script>
window.frameSaid = [];
const f = document.getElementById('f');
addEventListener('message', (e) => {
  if (e.source !== f.contentWindow) return;
  frameSaid.push(e.data);
  if (e.data && e.data.type === 'ready') f.contentWindow.postMessage(${start}, '*');
});
</script></body></html>`;
}

export async function startHostSite(coordinator: string): Promise<HostSite> {
  const handler = (req: IncomingMessage, res: ServerResponse) => {
    const u = new URL(req.url ?? '/', 'http://x');
    if (u.pathname === '/host.js') { res.writeHead(200, { 'content-type': 'text/javascript' }).end(HOST_JS); return; }
    if (u.pathname === '/favicon.ico') { res.writeHead(204).end(); return; }
    if (u.pathname === '/host.css') { res.writeHead(200, { 'content-type': 'text/css' }).end(HOST_CSS); return; }
    if (u.pathname === '/frame-directly.html') {
      // A page that skips the loader and frames the compute page itself.
      const src = `${coordinator}/embed-frame.html?project=${encodeURIComponent(u.searchParams.get('project') ?? '')}`;
      res.writeHead(200, { 'content-type': 'text/html' }).end(`<!doctype html><title>direct</title><iframe id="f" src="${src}"></iframe>`);
      return;
    }
    if (u.pathname === '/hostile.html') {
      res.writeHead(200, { 'content-type': 'text/html' }).end(hostilePage(coordinator, u.searchParams));
      return;
    }
    if (u.pathname !== '/') { res.writeHead(404).end(); return; }
    const p = JSON.parse(u.searchParams.get('p') ?? '{}') as HostPage;
    const headers: Record<string, string> = { 'content-type': 'text/html; charset=utf-8' };
    const csp = p.csp === undefined ? documentedCsp(coordinator) : p.csp;
    if (csp) headers['content-security-policy'] = csp;
    res.writeHead(200, headers).end(page(p, coordinator));
  };
  const servers: Server[] = [createServer(handler), createServer(handler)];
  const [port, other] = await Promise.all(servers.map((s) => new Promise<number>((r) => s.listen(0, '127.0.0.1', () => r((s.address() as AddressInfo).port)))));
  const origin = `http://localhost:${port}`;
  return {
    port: port!,
    origin,
    sameSiteOrigin: `http://127.0.0.1:${port}`,
    refusedOrigin: `http://127.0.0.1:${other}`,
    url: (p, o = origin) => `${o}/?p=${encodeURIComponent(JSON.stringify(p))}`,
    close: () => Promise.all(servers.map((s) => new Promise<void>((r) => { s.closeAllConnections(); s.close(() => r()); }))).then(() => {}),
  };
}
