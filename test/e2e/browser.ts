/**
 * Browser fixtures for the contributor-app e2e tests: a fresh `vite build`
 * when the sources changed, headless Chromium through playwright-core, the
 * page's `window.__tabgrid` status, and counters over what the page sends.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, rmdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';
import type { TabgridStatus } from '../../client/app/test-hook.ts';
import { REPO } from '../helpers/coordinator.ts';

export const ARTIFACTS = join(REPO, 'test-artifacts');
const DIST_INDEX = join(REPO, 'dist/client/index.html');
const SOURCES = ['client', 'public', 'shared', 'vite.config.ts', 'vite.precompress.ts', 'package-lock.json'];

function newestMtime(path: string): number {
  if (!existsSync(path)) return 0;
  const st = statSync(path);
  if (!st.isDirectory()) return st.mtimeMs;
  let newest = st.mtimeMs;
  for (const e of readdirSync(path)) newest = Math.max(newest, newestMtime(join(path, e)));
  return newest;
}

/**
 * Builds dist/client once when it is missing or older than its sources. Test
 * files run in parallel, so a lock directory makes the others wait for one build.
 */
export async function ensureClientBuilt(): Promise<void> {
  const lock = join(REPO, '.tmp/client-build.lock');
  mkdirSync(join(REPO, '.tmp'), { recursive: true });
  const deadline = Date.now() + 180_000;
  for (;;) {
    try {
      mkdirSync(lock);
      break;
    } catch {
      // A lock older than the longest build is left over from a killed run.
      if (existsSync(lock) && Date.now() - statSync(lock).mtimeMs > 180_000) rmdirSync(lock);
      if (Date.now() > deadline) throw new Error('timed out waiting for another test file to build the client');
      await new Promise((r) => setTimeout(r, 250));
    }
  }
  try {
    const built = existsSync(DIST_INDEX) ? statSync(DIST_INDEX).mtimeMs : 0;
    const newest = Math.max(...SOURCES.map((s) => newestMtime(join(REPO, s))));
    if (built < newest) {
      execFileSync(process.execPath, [join(REPO, 'node_modules/vite/bin/vite.js'), 'build', '--logLevel', 'warn'], { cwd: REPO, stdio: 'inherit' });
    }
  } finally {
    rmdirSync(lock);
  }
}

/** onnxruntime-web's bundle and its WebGPU-capable (JSEP) wasm, as the built app ships them. */
export function ortAssets(): { dir: string; js: string; wasm: string } {
  const dir = join(REPO, 'dist/client/assets');
  const names = readdirSync(dir);
  const js = names.find((n) => /^ort\.bundle\.min-.*\.js$/.test(n));
  const wasm = names.find((n) => /^ort-wasm-simd-threaded\.jsep-.*\.wasm$/.test(n));
  if (!js || !wasm) throw new Error(`no onnxruntime-web bundle or wasm in ${dir}: ${names.join(', ')}`);
  return { dir, js, wasm };
}

export const CHROME = process.env.CHROME_PATH ?? '/usr/bin/chromium';

/** Without the background-networking ones, Chromium's calls home flood this closed network. */
export const CHROMIUM_FLAGS = [
  '--no-sandbox', '--disable-quic', '--no-first-run', '--disable-background-networking',
  '--disable-component-update', '--disable-sync',
];

export function launchChromium(o: { webgpu?: boolean } = {}): Promise<Browser> {
  if (!existsSync(CHROME)) {
    throw new Error(`no Chromium at ${CHROME}: install it (apt-get install -y chromium) or set CHROME_PATH`);
  }
  return chromium.launch({
    executablePath: CHROME,
    headless: true,
    args: [...CHROMIUM_FLAGS, ...(o.webgpu ? ['--enable-unsafe-webgpu'] : [])],
  });
}

export interface PageParams {
  autostart?: boolean;
  backend?: 'wasm' | 'webgpu';
  intensity?: number;
  wallet?: string;
}

export function contributorUrl(server: string, p: PageParams = {}): string {
  const u = new URL('/', server);
  if (p.autostart) u.searchParams.set('autostart', '1');
  if (p.backend) u.searchParams.set('backend', p.backend);
  if (p.intensity !== undefined) u.searchParams.set('intensity', String(p.intensity));
  if (p.wallet !== undefined) u.searchParams.set('wallet', p.wallet);
  // Headless pages count as visible, but say so anyway: a hidden tab must not pause a test.
  u.searchParams.set('hidden', 'run');
  return u.href;
}

/**
 * Records the page's uncaught errors and console errors, as they happen, into `into` (and returns it).
 * Pass the array the test will check: the listeners fill it later, so a copy taken now stays empty.
 */
export function watchPage(page: Page, label: string, into: string[] = []): string[] {
  page.on('pageerror', (e) => into.push(`${label} pageerror: ${e.message}`));
  // With where it came from: for a failed request, Chromium's text names only the status, the location its URL.
  page.on('console', (m) => {
    if (m.type() === 'error') into.push(`${label} console: ${m.text()}${m.location().url ? ` (at ${m.location().url})` : ''}`);
  });
  return into;
}

/**
 * Whether a problem watchPage recorded is the coordinator at `url` being away (stopped, restarting):
 * its socket.io connection failing, or a request to it failing at the network level (`net::ERR_...`,
 * no HTTP status). Errors from anything else, HTTP errors and uncaught page errors are not.
 */
export function coordinatorAway(url: string): (problem: string) => boolean {
  const origin = new URL(url);
  const host = origin.host.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const socket = new RegExp(`^[^:]+ console: WebSocket connection to 'ws://${host}/socket\\.io/[^']*' failed: `);
  const request = new RegExp(`^[^:]+ console: Failed to load resource: net::ERR_[A-Z_]+ \\(at http://${host}/`);
  return (problem) => socket.test(problem) || request.test(problem);
}

export function status(page: Page): Promise<TabgridStatus> {
  return page.evaluate(() => (window as unknown as { __tabgrid: TabgridStatus }).__tabgrid);
}

export async function waitForStatus(page: Page, pred: (s: TabgridStatus) => boolean, what: string, timeoutMs = 45_000): Promise<TabgridStatus> {
  const deadline = Date.now() + timeoutMs;
  let last: TabgridStatus | null = null;
  while (Date.now() < deadline) {
    last = await status(page).catch(() => null);
    if (last && pred(last)) return last;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`page never reached: ${what}; last status ${JSON.stringify(last)}`);
}

/** Counts socket.io events the page emits (`work:request`, `work:result`, ...) over its websockets. */
export function countEmits(page: Page): Map<string, number> {
  const counts = new Map<string, number>();
  page.on('websocket', (ws) => {
    ws.on('framesent', (f) => {
      if (typeof f.payload !== 'string') return;
      // engine.io message "4" + socket.io EVENT "2" or BINARY_EVENT "5<n>-", optional ack id, then the JSON array.
      const m = /^4(?:2|5\d+-)\d*\["([^"]+)"/.exec(f.payload);
      if (m) counts.set(m[1]!, (counts.get(m[1]!) ?? 0) + 1);
      // A result that asks for the next copy in the same round trip is a shard request too.
      if (m?.[1] === 'work:result' && f.payload.includes('"next":true')) counts.set('work:result+next', (counts.get('work:result+next') ?? 0) + 1);
    });
  });
  return counts;
}

/** Counts requests for blobs (models, weights) the page and its workers make. */
export function countBlobRequests(context: BrowserContext): string[] {
  const urls: string[] = [];
  context.on('request', (r) => { if (new URL(r.url()).pathname.startsWith('/blobs/')) urls.push(r.url()); });
  return urls;
}
