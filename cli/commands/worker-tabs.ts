/**
 * `tabgrid worker --tabs N`: volunteers as real headless Chromium tabs of the
 * contributor page, for servers without a display. Each tab gets its own
 * browser context (its own profile: IndexedDB, credentials, the one-tab lock),
 * so N tabs are N volunteers. The page does all the work; this only opens it
 * with `?autostart=1`, reports what the tabs say through `window.__tabgrid`,
 * and stops them cleanly (the shard in hand is finished and uploaded).
 */
import { existsSync } from 'node:fs';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';
import { walletProblem } from '../../shared/wallet.ts';

export interface TabWorkerOptions {
  tabs: number;
  server: string;
  backend?: 'webgpu' | 'wasm';
  wallet?: string;
  /** Invite codes of private projects' groups each tab joins (the page's ?join=). */
  join?: string[];
  /** Fraction of time computing, 0.05..1 (default 1: a server lends everything). */
  intensity?: number;
  signal?: AbortSignal;
  /** Where progress lines go (default stderr). */
  log?: (line: string) => void;
  /** How often a summary line is printed, ms (default 30 s). */
  reportEveryMs?: number;
}

/** What the contributor page exposes as `window.__tabgrid` (the fields read here). */
interface TabStatus {
  phase: string;
  state: string;
  backend: string | null;
  backendReason: string;
  backendNotice: string | null;
  volunteerId: string | null;
  account: string | null;
  counts: { computed: number; uploaded: number; validated: number; rejected: number; pending: number };
  error: string | null;
  walletError: string | null;
  /** Private projects' groups: what joining said (issue 15). */
  groups?: { joined: string[]; joinError: string | null };
}

const DEFAULT_CHROMIUM = '/usr/bin/chromium';

export const CHROMIUM_ARGS = [
  '--no-sandbox', '--disable-quic', '--no-first-run', '--disable-background-networking',
  '--disable-component-update', '--disable-sync',
  // Headless tabs are never visible: keep their timers and workers at full speed.
  '--disable-background-timer-throttling', '--disable-renderer-backgrounding', '--disable-backgrounding-occluded-windows',
];

/** The Chromium binary to drive: CHROME_PATH, else /usr/bin/chromium; a clear error says how to get one. */
export function findChromium(env: NodeJS.ProcessEnv = process.env): string {
  const candidates = env.CHROME_PATH ? [env.CHROME_PATH] : [DEFAULT_CHROMIUM, '/usr/bin/chromium-browser', '/usr/bin/google-chrome'];
  const found = candidates.find((p) => existsSync(p));
  if (found) return found;
  throw new Error(
    env.CHROME_PATH
      ? `CHROME_PATH points at ${env.CHROME_PATH}, which does not exist`
      : `no Chromium found at ${candidates.join(', ')}. Install it (Debian/Ubuntu: \`sudo apt-get install -y chromium\`; `
        + `Fedora: \`sudo dnf install chromium\`; or \`npx playwright-core install chromium\` and point CHROME_PATH at the binary it prints), `
        + 'or set CHROME_PATH to any Chrome or Chromium executable',
  );
}

/** The contributor page URL a headless tab opens. */
export function contributorUrl(o: Pick<TabWorkerOptions, 'server' | 'backend' | 'wallet' | 'intensity' | 'join'>): string {
  const base = new URL(o.server.endsWith('/') ? o.server : `${o.server}/`);
  const u = new URL('./', base);
  u.searchParams.set('autostart', '1');
  // No one looks at a headless tab: "hidden" must not pause it.
  u.searchParams.set('hidden', 'run');
  if (o.backend) u.searchParams.set('backend', o.backend);
  if (o.wallet) u.searchParams.set('wallet', o.wallet);
  for (const code of o.join ?? []) u.searchParams.append('join', code);
  u.searchParams.set('intensity', String(o.intensity ?? 1));
  return u.href;
}

/** Launch arguments: WebGPU unless WASM was asked for; a plain-http LAN coordinator is treated as secure so WebGPU exists. */
export function chromiumArgs(o: Pick<TabWorkerOptions, 'server' | 'backend'>): string[] {
  const args = [...CHROMIUM_ARGS];
  if (o.backend !== 'wasm') args.push('--enable-unsafe-webgpu', '--ignore-gpu-blocklist');
  const u = new URL(o.server);
  const loopback = ['localhost', '127.0.0.1', '[::1]'].includes(u.hostname);
  if (u.protocol === 'http:' && !loopback) args.push(`--unsafely-treat-insecure-origin-as-secure=${u.origin}`);
  return args;
}

export async function runTabWorkers(opts: TabWorkerOptions): Promise<void> {
  const log = opts.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  if (!Number.isInteger(opts.tabs) || opts.tabs < 1) throw new Error('--tabs must be an integer >= 1');
  let server: URL;
  try {
    server = new URL(opts.server);
    if (server.protocol !== 'http:' && server.protocol !== 'https:') throw new Error('not http');
  } catch {
    throw new Error(`--server must be an http(s) URL, got ${JSON.stringify(opts.server)}`);
  }
  if (opts.wallet) {
    const problem = walletProblem(opts.wallet);
    if (problem) throw new Error(`--wallet: ${problem}`);
  }
  if (opts.signal?.aborted) return;
  const executablePath = findChromium();
  await checkCoordinator(server.href);

  const url = contributorUrl(opts);
  const browser = await chromium.launch({
    executablePath, headless: true, args: chromiumArgs(opts),
    // Ctrl-C must reach us first: the tabs finish their shards before the browser closes.
    handleSIGINT: false, handleSIGTERM: false, handleSIGHUP: false,
  });
  const tabs: Tab[] = [];
  let closing = false;
  try {
    for (let i = 0; i < opts.tabs; i++) {
      const tab = new Tab(i, browser, url, log);
      tabs.push(tab);
      await tab.open();
    }
    log(`tabgrid: ${opts.tabs} headless tab${opts.tabs === 1 ? '' : 's'} contributing to ${server.origin} (${url})`);
    const report = setInterval(() => void summarize(tabs, log), opts.reportEveryMs ?? 30_000);
    const watch = setInterval(() => { for (const t of tabs) void t.poll(); }, 1000);
    try {
      await new Promise<void>((resolve, reject) => {
        if (opts.signal?.aborted) return resolve();
        opts.signal?.addEventListener('abort', () => resolve(), { once: true });
        browser.on('disconnected', () => { if (!closing) reject(new Error('Chromium exited unexpectedly')); });
      });
    } finally {
      clearInterval(report);
      clearInterval(watch);
    }
    closing = true;
    log('tabgrid: stopping tabs (finishing the shards in hand)…');
    const finals = await Promise.all(tabs.map((t) => t.stop()));
    log(`tabgrid: stopped: ${finals.map((s, i) => describeTab(i, s)).join(' | ')}`);
  } finally {
    closing = true;
    await browser.close().catch(() => {});
  }
}

async function checkCoordinator(server: string): Promise<void> {
  try {
    const res = await fetch(new URL('api/v1/swarm', server), { signal: AbortSignal.timeout(10_000) });
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
  } catch (e) {
    throw new Error(`cannot reach a tabgrid coordinator at ${server}: ${(e as Error).message}`);
  }
}

function describeTab(index: number, s: TabStatus | null): string {
  if (!s) return `#${index} not loaded`;
  const c = s.counts;
  return `#${index} ${s.backend ?? '-'} ${s.state}: ${c.uploaded} delivered, ${c.validated} validated, ${c.rejected} rejected`;
}

async function summarize(tabs: Tab[], log: (line: string) => void) {
  const parts = await Promise.all(tabs.map(async (t) => describeTab(t.index, await t.status())));
  log(`tabgrid: ${parts.join(' | ')}`);
}

/** One headless tab in its own context; reopened if its renderer crashes. */
class Tab {
  private context: BrowserContext | null = null;
  private page: Page | null = null;
  private said = new Set<string>();
  closed = false;

  constructor(readonly index: number, private readonly browser: Browser, private readonly url: string, private readonly log: (l: string) => void) {}

  async open(): Promise<void> {
    this.context = await this.browser.newContext({ viewport: { width: 1100, height: 900 } });
    const page = (this.page = await this.context.newPage());
    page.on('pageerror', (e) => this.say(`page error: ${e.message}`));
    page.on('crash', () => {
      this.say('renderer crashed; reopening');
      void this.reopen();
    });
    await page.goto(this.url, { waitUntil: 'load' });
  }

  private async reopen() {
    if (this.closed) return;
    await this.context?.close().catch(() => {});
    await this.open().catch((e) => this.say(`cannot reopen: ${(e as Error).message}`));
  }

  async status(): Promise<TabStatus | null> {
    try {
      return (await this.page?.evaluate(() => (window as unknown as { __tabgrid?: TabStatus }).__tabgrid ?? null)) ?? null;
    } catch {
      return null;
    }
  }

  /** Reports each new fact once: the backend and why, a fallback, errors. */
  async poll(): Promise<void> {
    const s = await this.status();
    if (!s) return;
    if (s.backend || s.phase === 'unsupported') this.sayOnce(`backend ${s.backend ?? 'none'}: ${s.backendReason}`);
    if (s.backendNotice) this.sayOnce(s.backendNotice);
    if (s.walletError) this.sayOnce(`wallet refused: ${s.walletError}`);
    for (const name of s.groups?.joined ?? []) this.sayOnce(`in project ${name}'s group`);
    if (s.groups?.joinError) this.sayOnce(`cannot join: ${s.groups.joinError}`);
    if (s.volunteerId) this.sayOnce(`volunteer ${s.volunteerId} crediting ${s.account}`);
    if (s.error) this.sayOnce(`error: ${s.error}`);
  }

  /** Presses Stop, so the shard in hand is finished and uploaded, then closes the tab; returns its last status. */
  async stop(timeoutMs = 60_000): Promise<TabStatus | null> {
    const page = this.page;
    this.closed = true;
    if (!page) return null;
    // Facts not reported yet (a short run between two polls) are still worth a line.
    await this.poll();
    try {
      const stop = page.getByTestId('stop');
      if (await stop.isVisible()) {
        await stop.click({ timeout: 5000 });
        await page.waitForFunction(
          () => {
            const s = (window as unknown as { __tabgrid?: TabStatus }).__tabgrid;
            return !s || s.phase === 'stopped' || s.phase === 'unsupported';
          },
          null,
          { timeout: timeoutMs },
        );
      }
    } catch (e) {
      this.say(`did not stop cleanly: ${(e as Error).message}`);
    }
    const last = await this.status();
    await this.context?.close().catch(() => {});
    return last;
  }

  private say(line: string) {
    this.log(`tab #${this.index}: ${line}`);
  }

  private sayOnce(line: string) {
    if (this.said.has(line)) return;
    this.said.add(line);
    this.say(line);
  }
}
