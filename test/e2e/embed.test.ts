/**
 * The one-script-tag embed, end to end in headless Chromium: a host page on
 * another site (http://localhost:PORT) than the coordinator
 * (http://127.0.0.1:PORT), under the strict CSP the README documents. Nothing
 * reaches the coordinator before Accept; after Accept shards are computed in
 * the hidden frame and credited to the configured wallet; the indicator stops
 * the work within one shard; a hidden page pauses; a host the project does
 * not allow is refused by the coordinator.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { readFileSync } from 'node:fs';
import type { BrowserContext, Page } from 'playwright-core';
import { beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { REPO } from '../helpers/coordinator.ts';
import { ARTIFACTS, watchPage } from './browser.ts';
import { embedGrid } from './embed-grid.ts';
import type { HostPage } from './host-site.ts';
import { account, startPartner } from './jobs.ts';

const SITE_WALLET = '0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359';
const VISITOR_WALLET = '0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed';

interface HostEvent { type: 'state' | 'shard' | 'credit'; at: number; state?: string; reason?: string; shards?: number; amount?: number; total?: number; to?: string }

describe('embed: one script tag, with consent', () => {
  const grid = embedGrid({
    // The project allows two host origins and lets visitors credit their own wallet.
    embed: (host) => ({ allowedOrigins: [host.origin, host.sameSiteOrigin], defaultIntensity: 0.3, creditTo: 'visitor' }),
    // Many quick shards, so a test never runs out of work.
    job: { records: 12_000, shardSize: 12, width: 64, layers: 6, seed: 7, replicas: 2 },
  });
  const { problems } = grid;
  beforeAll(() => {
    mkdirSync(ARTIFACTS, { recursive: true });
  });

  const requests = (prefix: string) => grid.c.logs.filter((l) => l.msg === 'request' && String(l.url).startsWith(prefix));
  const joined = () => grid.c.logs.filter((l) => l.msg === 'volunteer joined');
  /** Copies assigned to a volunteer, by the coordinator's log time (same clock as the browser's). */
  const assignedTo = (volunteer: unknown, after = 0, before = Infinity) => grid.c.logs.filter((l) => l.msg === 'assigned copy' && l.volunteer === volunteer
    && (l.time as number) > after && (l.time as number) <= before).length;
  const clickedAt = (page: Page) => page.evaluate(() => (window as unknown as { lastClick: number }).lastClick);

  async function open(p: Partial<HostPage>, o: { origin?: string; init?: (ctx: BrowserContext) => Promise<unknown>; viewport?: { width: number; height: number } } = {}) {
    const ctx = await grid.browser.newContext({ viewport: o.viewport ?? { width: 1100, height: 720 } });
    await o.init?.(ctx);
    const toCoordinator: string[] = [];
    ctx.on('request', (r) => { if (r.url().startsWith(grid.c.url)) toCoordinator.push(new URL(r.url()).pathname); });
    const page = await ctx.newPage();
    const consoleErrors: string[] = [];
    page.on('console', (m) => { if (m.type() === 'error') consoleErrors.push(m.text()); });
    page.on('pageerror', (e) => problems.push(`host pageerror: ${e.message}`));
    await page.goto(grid.host.url({ project: grid.projectId, ...p }, o.origin));
    return { ctx, page, toCoordinator, consoleErrors };
  }

  const events = (page: Page) => page.evaluate(() => (window as unknown as { hostEvents: HostEvent[] }).hostEvents);
  async function waitEvent(page: Page, pred: (e: HostEvent) => boolean, what: string, timeoutMs = 45_000): Promise<HostEvent> {
    const deadline = Date.now() + timeoutMs;
    let last: HostEvent[] = [];
    while (Date.now() < deadline) {
      last = await events(page).catch(() => last);
      const hit = last.find(pred);
      if (hit) return hit;
      await new Promise((r) => setTimeout(r, 150));
    }
    throw new Error(`the host page never saw: ${what}; its events: ${JSON.stringify(last.slice(-8))}`);
  }
  const lastState = async (page: Page) => (await events(page)).filter((e) => e.type === 'state').at(-1);
  const cspViolations = (page: Page) => page.evaluate(() => (window as unknown as { cspViolations: string[] }).cspViolations
    // The host script's own probe that its CSP is in force.
    .filter((v) => !/ eval\|1$/.test(v)));

  it('builds a small loader: embed.js under 10 KB gzipped', () => {
    const js = readFileSync(join(REPO, 'dist/client/embed.js'));
    const gz = gzipSync(js, { level: 9 }).byteLength;
    console.log(`embed.js: ${js.byteLength} bytes, ${gz} bytes gzipped (level 9)`);
    expect(gz).toBeLessThan(10 * 1024);
    // Self-contained: neither socket.io nor Svelte inside.
    expect(js.toString()).not.toMatch(/socket\.io|engine\.io|svelte/i);
  });

  it('shows an accessible consent card; with no click, or after Decline, nothing reaches the coordinator', async () => {
    const { c, projectId } = grid;
    const { ctx, page, toCoordinator } = await open({ wallet: SITE_WALLET });
    const accept = page.locator('[data-tabgrid-consent="accept"]');
    await accept.waitFor({ state: 'visible', timeout: 15_000 });
    expect(await page.evaluate(() => (window as unknown as { cspActive: boolean }).cspActive)).toBe(true);

    // Which project, what runs, how hard, where the credit goes, how long: all on the card.
    const card = page.locator('tabgrid-embed [role="dialog"]');
    const text = (await card.textContent()) ?? '';
    expect(text).toMatch(/Lend spare computing power to local\?/);
    expect(text).toMatch(/machine-learning inference/);
    expect(text).toMatch(/about 30% of one processor core/);
    expect(text).toMatch(/this site's wallet \(0xfB69…d359\)/);
    expect(text).toMatch(/Remembered for 24 hours/);
    expect(text).toContain(new URL(c.url).host);
    await expect(card.getAttribute('aria-labelledby')).resolves.toBe('tg-title');
    await expect(page.locator('[data-tabgrid-consent="decline"]').isVisible()).resolves.toBe(true);

    // No style leaks either way: the page's loud button style does not reach the card, and the card leaves the page's alone.
    const styles = await page.evaluate(() => {
      const root = document.querySelector('tabgrid-embed')!.shadowRoot!;
      const a = getComputedStyle(root.querySelector('[data-tabgrid-consent="accept"]')!);
      const h = getComputedStyle(document.getElementById('host-button')!);
      return { acceptBg: a.backgroundColor, acceptFont: a.fontFamily, hostBg: h.backgroundColor, hostSize: h.fontSize };
    });
    expect(styles.acceptBg).toBe('rgb(31, 111, 235)');
    expect(styles.acceptFont).toMatch(/^system-ui/);
    expect(styles).toMatchObject({ hostBg: 'rgb(221, 17, 17)', hostSize: '22px' });
    await page.screenshot({ path: join(ARTIFACTS, 'embed-consent-card.png') });
    await page.setViewportSize({ width: 390, height: 760 });
    await page.screenshot({ path: join(ARTIFACTS, 'embed-consent-card-phone.png') });
    await page.setViewportSize({ width: 1100, height: 720 });

    // Keyboard reachable: the card comes first in the page's tab order.
    await page.keyboard.press('Tab');
    expect(await page.evaluate(() => document.querySelector('tabgrid-embed')!.shadowRoot!.activeElement?.id)).toBe('tg-wallet');

    await page.waitForTimeout(2000);
    await page.locator('[data-tabgrid-consent="decline"]').click();
    await waitEvent(page, (e) => e.state === 'declined', 'declined');
    await page.waitForTimeout(1500);
    expect(await page.locator('tabgrid-embed').count()).toBe(0);
    expect(await page.locator('iframe').count()).toBe(0);

    // The page asked for the loader and the project's embed settings, and for nothing else.
    expect([...new Set(toCoordinator)].sort()).toEqual(['/api/v1/embed/' + projectId, '/embed.js']);
    expect(requests('/blobs/')).toEqual([]);
    expect(requests('/embed-frame.html')).toEqual([]);
    expect(c.logs.filter((l) => l.msg === 'volunteer joined' || l.msg === 'assigned copy')).toEqual([]);
    expect(await cspViolations(page)).toEqual([]);

    // Declined is remembered for this visit: a reload does not ask again.
    await page.reload();
    await waitEvent(page, (e) => e.state === 'declined', 'still declined after a reload', 10_000);
    expect(await page.locator('[data-tabgrid-consent]').count()).toBe(0);
    await ctx.close();
  });

  it('does not offer to run with Save-Data, and does not start on a low battery', async () => {
    const saver = await open({ wallet: SITE_WALLET }, {
      init: (ctx) => ctx.addInitScript(() => {
        Object.defineProperty(navigator, 'connection', { value: Object.assign(new EventTarget(), { saveData: true }) });
      }),
    });
    const e = await waitEvent(saver.page, (x) => x.state === 'unavailable', 'unavailable with Save-Data', 10_000);
    expect(e.reason).toMatch(/Data Saver is on/);
    expect(await saver.page.locator('tabgrid-embed').count()).toBe(0);
    expect(saver.toCoordinator).toEqual(['/embed.js']);
    await saver.ctx.close();

    const low = await open({ wallet: SITE_WALLET }, {
      init: (ctx) => ctx.addInitScript(() => {
        const battery = Object.assign(new EventTarget(), { charging: false, level: 0.12 });
        Object.defineProperty(navigator, 'getBattery', { value: () => Promise.resolve(battery) });
      }),
    });
    await low.page.locator('[data-tabgrid-consent="accept"]').click();
    const paused = await waitEvent(low.page, (x) => x.state === 'paused', 'paused on battery', 10_000);
    expect(paused.reason).toBe('on battery below 30%');
    await expect(low.page.locator('tabgrid-embed [role="status"]').textContent()).resolves.toMatch(/Paused \(on battery below 30%\)/);
    await low.page.waitForTimeout(1000);
    expect(await low.page.locator('iframe').count()).toBe(0);
    expect(low.toCoordinator).not.toContain('/embed-frame.html');
    expect(joined()).toEqual([]);
    await low.ctx.close();
  });

  it('refuses a host origin the project does not allow, at the coordinator', async () => {
    const { host, projectId } = grid;
    const { ctx, page, toCoordinator, consoleErrors } = await open({ wallet: SITE_WALLET }, { origin: host.refusedOrigin });
    const e = await waitEvent(page, (x) => x.state === 'refused', 'refused', 15_000);
    const want = `${host.refusedOrigin} is not allowed to embed the tabgrid project "local"; its owner allows: ${host.origin}, ${host.sameSiteOrigin}`;
    expect(e.reason).toBe(want);
    expect(consoleErrors.some((m) => m.includes(want))).toBe(true);
    expect(await page.locator('tabgrid-embed').count()).toBe(0);
    expect(toCoordinator).not.toContain('/embed-frame.html');

    // A page that skips the loader and frames the compute page itself gets nothing either: frame-ancestors blocks it.
    await page.goto(`${host.refusedOrigin}/frame-directly.html?project=${projectId}`);
    await page.waitForTimeout(2000);
    const child = page.frames().find((f) => f !== page.mainFrame());
    expect(child?.url() ?? '').not.toMatch(/embed-frame/);
    expect(joined()).toEqual([]);
    expect(requests('/blobs/')).toEqual([]);
    await ctx.close();
  });

  let siteVolunteer: unknown;

  it('after Accept computes shards in the hidden frame, fires the host\'s credit listener, and the ledger credits the site\'s wallet', async () => {
    const { c, host, projectId } = grid;
    await grid.freshJob();
    // Another site than the coordinator's: a third-party frame, which this (incognito) context denies storage,
    // as many visitors' browsers do; it computes all the same.
    const { ctx, page, consoleErrors } = await open({ wallet: SITE_WALLET, intensity: 1 });
    watchPage(page, 'accept', problems);
    await page.locator('[data-tabgrid-consent="accept"]').click();
    await waitEvent(page, (e) => e.state === 'starting', 'starting');
    const partner = startPartner(c.url);
    onTestFinished(() => partner.stop());
    const credit = await waitEvent(page, (e) => e.type === 'credit', 'a credit event', 60_000);
    expect(credit.to).toBe('site');
    expect(credit.amount).toBeGreaterThan(0);
    const shard = await waitEvent(page, (e) => e.type === 'shard', 'a shard event');
    expect(shard.shards).toBeGreaterThanOrEqual(1);
    // Events carry this page view's numbers only: no addresses, no ids.
    for (const ev of await events(page)) expect(Object.keys(ev).filter((k) => !['type', 'at', 'state', 'reason', 'shards', 'computeMs', 'amount', 'total', 'to'].includes(k))).toEqual([]);

    const hello = joined().find((l) => l.account === SITE_WALLET);
    expect(hello).toBeDefined();
    siteVolunteer = hello!.volunteer;
    const ledger = await account(c.url, SITE_WALLET);
    expect(ledger.balance).toBeGreaterThanOrEqual(credit.amount!);
    expect(ledger.entries.length).toBeGreaterThan(0);
    expect(ledger.entries.every((x) => x.jobId === grid.jobId)).toBe(true);

    // The indicator stays on screen while computing, with a Stop control.
    await waitEvent(page, (e) => e.type === 'shard' && (e.shards ?? 0) >= 2, 'two shards');
    const status = page.locator('tabgrid-embed [role="status"]');
    await expect(status.textContent()).resolves.toMatch(/Computing/);
    await expect(page.locator('[data-tabgrid-control="stop"]').isVisible()).resolves.toBe(true);
    await page.screenshot({ path: join(ARTIFACTS, 'embed-indicator.png') });
    await page.locator('tabgrid-embed .badge').screenshot({ path: join(ARTIFACTS, 'embed-indicator-closeup.png') });

    // A hidden page pauses: after the shard in hand (and at most one request already on its way), nothing more is assigned.
    await page.evaluate(() => (window as unknown as { setHidden: (h: boolean) => void }).setHidden(true));
    const paused = await waitEvent(page, (e) => e.state === 'paused', 'paused while hidden', 10_000);
    expect(paused.reason).toBe('this tab is hidden');
    await page.waitForTimeout(3000);
    expect(assignedTo(siteVolunteer, paused.at)).toBeLessThanOrEqual(1);
    expect(assignedTo(siteVolunteer, paused.at + 1000)).toBe(0);
    const since = Date.now();
    await page.evaluate(() => (window as unknown as { setHidden: (h: boolean) => void }).setHidden(false));
    await waitEvent(page, (e) => e.type === 'shard' && e.at > since, 'computing again once visible', 20_000);

    // Consent is remembered (in this site's storage, with an expiry): a reload starts without asking.
    const stored = await page.evaluate((k) => localStorage.getItem(k), `tabgrid:consent:${c.url}:${projectId}`);
    const consent = JSON.parse(stored!) as { at: number; until: number };
    expect(consent.until - consent.at).toBe(24 * 3600_000);
    await page.reload();
    await waitEvent(page, (e) => e.type === 'shard', 'computing after the reload, without asking');
    expect(await page.locator('[data-tabgrid-consent]').count()).toBe(0);
    expect(await cspViolations(page)).toEqual([]);
    // The host script's eval probe logs one Trusted Types refusal per load; real violations are caught above, with their samples.
    expect(consoleErrors.filter((m) => !m.startsWith("This document requires 'TrustedScript' assignment"))).toEqual([]);
    await ctx.close();
    // The same probe's refusal, as watchPage records it; nothing else may show up.
    expect(problems.filter((m) => !m.startsWith("accept console: This document requires 'TrustedScript' assignment. The action has been blocked."))).toEqual([]);
  }, 120_000);

  it('Stop on the indicator withdraws consent and stops the work within one shard; a visitor\'s own wallet is credited', async () => {
    const { c, host, projectId } = grid;
    await grid.freshJob();
    // Same site as the coordinator (another port): here the frame may keep its model cache in IndexedDB.
    const { ctx, page } = await open({ wallet: SITE_WALLET, intensity: 1 }, { origin: host.sameSiteOrigin });
    await page.locator('tabgrid-embed #tg-wallet').fill(VISITOR_WALLET);
    await page.locator('[data-tabgrid-consent="accept"]').click();
    const partner = startPartner(c.url);
    onTestFinished(() => partner.stop());
    const credit = await waitEvent(page, (e) => e.type === 'credit', 'a credit event', 60_000);
    expect(credit.to).toBe('visitor');
    expect((await account(c.url, VISITOR_WALLET)).balance).toBeGreaterThan(0);
    const volunteer = joined().find((l) => l.account === VISITOR_WALLET)!.volunteer;
    expect(volunteer).toBeDefined();

    const frame = page.frames().find((f) => f.url().includes('/embed-frame.html'))!;
    const cached = await frame.evaluate(async () => {
      const db = await new Promise<IDBDatabase>((res, rej) => { const r = indexedDB.open('tabgrid'); r.onsuccess = () => res(r.result); r.onerror = () => rej(r.error); });
      return new Promise<number>((res) => { const q = db.transaction('blobMeta').objectStore('blobMeta').count(); q.onsuccess = () => res(q.result); });
    });
    expect(cached).toBe(1);

    await page.locator('[data-tabgrid-control="stop"]').click();
    const clicked = await clickedAt(page);
    const stopped = await waitEvent(page, (e) => e.state === 'stopped', 'stopped', 10_000);
    const stoppedIn = stopped.at - clicked;
    expect(await page.locator('iframe').count()).toBe(0);
    await page.waitForTimeout(2500);
    // Within one shard: the one in hand finishes; nothing else is computed. These shards take a millisecond or
    // two, about as long as the Stop message takes from the host page to the frame, so the one in hand at the
    // click may finish and the next start before the frame hears of it: two at most. The volunteer loop keeps
    // one copy on its way while it computes (a work:request, or the next copy riding on the previous result's
    // upload), so up to two assignments may still land after the click: they are handed back unstarted. Once
    // the frame has stopped, nothing at all is assigned.
    expect((await events(page)).filter((e) => e.type === 'shard' && e.at > clicked).length).toBeLessThanOrEqual(2);
    expect(assignedTo(volunteer, clicked)).toBeLessThanOrEqual(2);
    expect(assignedTo(volunteer, stopped.at)).toBe(0);
    expect(await page.evaluate((k) => localStorage.getItem(k), `tabgrid:consent:${c.url}:${projectId}`)).toBeNull();
    console.log(`embed: Stop took ${stoppedIn} ms`);
    expect(stoppedIn).toBeLessThan(6000);
    await ctx.close();
  }, 90_000);
});
