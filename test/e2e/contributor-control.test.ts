/**
 * The contributor app under the volunteer's control and under trouble: a bad
 * wallet starts nothing, Stop stops, one tab per profile contributes, and a
 * reload with a computed-but-unacknowledged result loses nothing and is
 * credited once.
 */
import type { BrowserContext, Page, WebSocketRoute } from 'playwright-core';
import { describe, expect, it, onTestFailed, onTestFinished } from 'vitest';
import { runTabWorkers } from '../../cli/commands/worker-tabs.ts';
import { contributorUrl, countEmits, status, waitForStatus, watchPage } from './browser.ts';
import { account, cancelJob, submitMlpJob, waitForJob, startPartner } from './jobs.ts';
import { coordinatorAndChromium, storedCopies } from './tabs.ts';

const GOOD_WALLET = '0x52908400098527886E0F7030069857D2E4169EE7';

describe('contributor app: control and recovery', () => {
  const grid = coordinatorAndChromium();
  const { problems } = grid;

  async function open(ctx: BrowserContext, params: Parameters<typeof contributorUrl>[1], before?: (p: Page) => void): Promise<Page> {
    const page = await ctx.newPage();
    watchPage(page, 'page', problems);
    before?.(page);
    await page.goto(contributorUrl(grid.c.url, params));
    return page;
  }

  it('a bad wallet shows a clear message and starts nothing', async () => {
    const { browser } = grid;
    const ctx = await browser.newContext();
    let sockets = 0;
    const page = await open(ctx, { autostart: true, backend: 'wasm', wallet: '0x12345' }, (p) => p.on('websocket', () => { sockets++; }));
    const s = await waitForStatus(page, (x) => x.phase !== 'probing', 'probe finished');
    expect(s.phase).toBe('ready');
    expect(s.walletError).toMatch(/0x followed by 40 hex digits/);
    await expect(page.getByTestId('wallet-error').textContent()).resolves.toMatch(/not a usable wallet address: a wallet is 0x followed by 40 hex digits/);
    expect(await page.getByTestId('start').isDisabled()).toBe(true);

    // A typo in a checksummed address is caught too, with the likely intended address.
    await page.locator('#wallet').fill(GOOD_WALLET.replace('E7', 'e7'));
    await expect(page.getByTestId('wallet-error').textContent()).resolves.toMatch(/EIP-55 checksum; did you mean 0x5290/);
    expect(await page.getByTestId('start').isDisabled()).toBe(true);
    await page.waitForTimeout(500);
    expect(sockets).toBe(0);
    expect((await status(page)).phase).toBe('ready');

    await page.locator('#wallet').fill(GOOD_WALLET);
    expect(await page.getByTestId('start').isDisabled()).toBe(false);
    expect((await status(page)).walletError).toBeNull();
    await ctx.close();
  });

  it('Stop really stops: no further shard requests while work is still available', async () => {
    const { c, browser } = grid;
    const ctx = await browser.newContext();
    const page = await open(ctx, { autostart: true, backend: 'wasm', intensity: 1, wallet: GOOD_WALLET });
    const emits = countEmits(page);
    const job = await submitMlpJob(c.api, { records: 2000, shardSize: 10, width: 64, layers: 6, seed: 5 });
    await waitForStatus(page, (s) => s.counts.uploaded >= 2, 'a few shards delivered');
    await page.getByTestId('stop').click();
    await waitForStatus(page, (s) => s.phase === 'stopped', 'stopped');
    // Shards are requested by work:request, or by a result that asks for the next copy in the same round trip.
    const shardRequests = () => (emits.get('work:request') ?? 0) + (emits.get('work:result+next') ?? 0);
    const requests = shardRequests();
    const results = emits.get('work:result') ?? 0;
    expect(requests).toBeGreaterThanOrEqual(2);
    await page.waitForTimeout(3000);
    expect(shardRequests()).toBe(requests);
    expect(emits.get('work:result') ?? 0).toBe(results);
    const s = await status(page);
    expect(s.state).toBe('stopped');
    // The shard in hand when Stop was pressed was finished and delivered, not dropped.
    expect(s.counts.pending).toBe(0);
    expect(s.counts.uploaded).toBe(s.counts.computed);
    const j = await c.api.job(job.id);
    expect(j.state).toBe('running');
    expect(j.shards.validated).toBeLessThan(j.shards.total);
    await cancelJob(c.api, job.id);
    await ctx.close();
  });

  it('a reload while a computed result awaits its acknowledgement loses nothing and credits it once', async () => {
    const { c, browser } = grid;
    const ctx = await browser.newContext();
    // Swallow the first result upload (and its binary attachments) so it is still pending when the page reloads.
    let dropped: string | null = null;
    await ctx.routeWebSocket(/\/socket\.io\//, (ws: WebSocketRoute) => {
      const server = ws.connectToServer();
      let skipBinary = 0;
      ws.onMessage((msg) => {
        if (typeof msg !== 'string' && skipBinary > 0) { skipBinary--; return; }
        if (typeof msg === 'string' && !dropped) {
          const m = /^45(\d+)-\d*\["work:result",\{"copyId":"([^"]+)"/.exec(msg);
          if (m) { dropped = m[2]!; skipBinary = Number(m[1]); return; }
        }
        server.send(msg);
      });
    });
    const page = await open(ctx, { autostart: true, backend: 'wasm', intensity: 1 });
    // Replicas 2 beside a partner: a lone unchecked result (replicas 1, no trusted host) earns no credit.
    const partner = startPartner(c.url);
    onTestFinished(() => partner.stop());
    const job = await submitMlpJob(c.api, { records: 48, shardSize: 8, width: 32, layers: 3, seed: 9, replicas: 2 });
    const before = await waitForStatus(page, (s) => s.counts.pending === 1 && s.state === 'uploading', 'a result computed but unacknowledged');
    expect(dropped).not.toBeNull();

    await page.reload();
    const after = await waitForStatus(page, (s) => s.phase === 'running' && !!s.volunteerId, 'resumed after the reload');
    expect(after.volunteerId).toBe(before.volunteerId);

    const done = await waitForJob(c.api, job.id);
    expect(done.state).toBe('completed');
    expect(done.shards.validated).toBe(job.shards);
    await waitForStatus(page, (s) => s.counts.pending === 0, 'nothing left pending');

    // Credit: one ledger entry per shard (the page's replica of each), the reloaded result among them exactly once.
    const acct = await account(c.url, before.account!);
    const mine = acct.entries.filter((e) => e.jobId === job.id);
    expect(mine).toHaveLength(job.shards);
    expect(new Set(mine.map((e) => e.copyId)).size).toBe(job.shards);
    expect(mine.filter((e) => e.copyId === dropped)).toHaveLength(1);
    expect(acct.balance).toBeCloseTo(acct.entries.reduce((a, e) => a + e.amount, 0), 9);
    // The coordinator accepted that result after the reload, not before.
    expect(c.logs.filter((l) => l.msg === 'shard validated' && l.job === job.id)).toHaveLength(job.shards);
    await ctx.close();
  });

  it('a reload while a shard is being computed finishes that shard under the same copy, credited once', async () => {
    const { c, browser } = grid;
    const ctx = await browser.newContext();
    // The page's first shard stays in its computation until the test has reloaded the page: its model's download is
    // held until then (the reloaded page downloads it at once). So the reload lands inside that shard whatever the
    // machine's speed, and the page holds no other copy then: it fetches the next copy ahead only once a shard has
    // gone by quickly (volunteer.ts), and a copy it held unwritten would be lost to the reload, left to expire.
    let reloaded = false;
    let releaseModel!: () => void;
    const modelHeld = new Promise<void>((r) => { releaseModel = r; });
    await ctx.route(/\/blobs\//, async (route) => {
      if (!reloaded) await modelHeld;
      // The page that asked is gone by now: its request has nowhere to go.
      await route.continue().catch(() => {});
    });
    const page = await open(ctx, { autostart: true, backend: 'wasm' });
    const partner = startPartner(c.url);
    onTestFinished(() => partner.stop());
    const job = await submitMlpJob(c.api, { records: 192, shardSize: 64, width: 64, layers: 3, seed: 11, replicas: 2 });
    const seen = c.logs.length;
    onTestFailed(async () => {
      console.log(`page: ${JSON.stringify(await status(page).catch((e: Error) => e.message))}`);
      console.log(`copies: ${JSON.stringify(storedCopies(c, job.id).map(({ result, ...r }) => ({ ...r, result: !!result })))}`);
      console.log(c.logs.slice(seen).filter((l) => /copy|shard|volunteer|job/.test(String(l.msg))).map((l) => JSON.stringify(l)).join('\n'));
    });
    // Written down (committed to IndexedDB) is what a reload finds; not merely started.
    const before = await waitForStatus(page, (s) => s.state === 'computing' && s.currentJob === job.id && !!s.currentCopy && s.inHand === s.currentCopy, 'computing a shard, written down');
    expect(before.counts.computed).toBe(0);
    const interrupted = before.currentCopy!;

    reloaded = true;
    await page.reload();
    releaseModel();
    const after = await waitForStatus(page, (s) => s.phase === 'running' && !!s.volunteerId, 'resumed after the reload');
    expect(after.volunteerId).toBe(before.volunteerId);
    // The reloaded page delivers that copy itself: it is returned, not left to expire (20 s after the page left).
    const copyState = () => storedCopies(c, job.id).find((x) => x.id === interrupted)?.state;
    let state = copyState();
    for (const until = Date.now() + 45_000; (state === 'assigned' || state === 'running') && Date.now() < until; state = copyState()) {
      await new Promise((r) => setTimeout(r, 250));
    }
    expect(state, 'the interrupted copy after the reload').toBe('returned');
    const done = await waitForJob(c.api, job.id);
    expect(done.state).toBe('completed');
    await waitForStatus(page, (s) => s.counts.pending === 0, 'nothing left pending');

    const acct = await account(c.url, before.account!);
    const mine = acct.entries.filter((e) => e.jobId === job.id);
    expect(mine).toHaveLength(job.shards);
    expect(mine.filter((e) => e.copyId === interrupted)).toHaveLength(1);
    // Finished by the reloaded page, not left to expire and be reissued.
    expect(c.logs.some((l) => l.msg === 'copy expired; its shard will be reissued' && l.copy === interrupted)).toBe(false);
    await ctx.close();
  });

  it('pauses by default while the tab is hidden and on a low battery, and resumes after', async () => {
    const { c, browser } = grid;
    const ctx = await browser.newContext();
    // A laptop on battery at 12%, and a visibility state the test controls.
    await ctx.addInitScript(() => {
      const battery = Object.assign(new EventTarget(), { charging: false, level: 0.12 });
      Object.defineProperty(navigator, 'getBattery', { value: () => Promise.resolve(battery) });
      (globalThis as unknown as { fakeBattery: unknown }).fakeBattery = battery;
      let hidden = false;
      Object.defineProperty(document, 'visibilityState', { get: () => (hidden ? 'hidden' : 'visible') });
      (globalThis as unknown as { setHidden: (h: boolean) => void }).setHidden = (h) => { hidden = h; document.dispatchEvent(new Event('visibilitychange')); };
    });
    const page = await ctx.newPage();
    watchPage(page, 'power', problems);
    const emits = countEmits(page);
    // No `hidden=run` here: the defaults apply.
    await page.goto(new URL('/?autostart=1&backend=wasm', c.url).href);
    const s = await waitForStatus(page, (x) => x.phase === 'running' && x.state === 'paused', 'paused on battery');
    expect(s.pauseReason).toBe('on battery at 12% (below 30%)');
    await expect(page.getByTestId('state').textContent()).resolves.toMatch(/Paused: on battery at 12%/);
    await page.waitForTimeout(1500);
    expect(emits.get('work:request') ?? 0).toBe(0);

    // Plugged in: work resumes. Hidden: it pauses again.
    await page.evaluate(() => {
      const b = (globalThis as unknown as { fakeBattery: EventTarget & { charging: boolean } }).fakeBattery;
      b.charging = true;
      b.dispatchEvent(new Event('chargingchange'));
    });
    await waitForStatus(page, (x) => x.state === 'waiting' && x.pauseReason === null, 'resumed when charging');
    await page.evaluate(() => (globalThis as unknown as { setHidden: (h: boolean) => void }).setHidden(true));
    const hidden = await waitForStatus(page, (x) => x.state === 'paused', 'paused while hidden');
    expect(hidden.pauseReason).toBe('the tab is hidden');
    const requests = emits.get('work:request') ?? 0;
    await page.waitForTimeout(1500);
    expect(emits.get('work:request') ?? 0).toBe(requests);
    await page.evaluate(() => (globalThis as unknown as { setHidden: (h: boolean) => void }).setHidden(false));
    await waitForStatus(page, (x) => x.state === 'waiting' && x.pauseReason === null, 'resumed when visible');
    await ctx.close();
  });

  it('one tab per browser profile contributes; another tab says so', async () => {
    const { browser } = grid;
    const ctx = await browser.newContext();
    const first = await open(ctx, { autostart: true, backend: 'wasm' });
    await waitForStatus(first, (s) => s.phase === 'running', 'first tab contributing');
    const second = await open(ctx, { autostart: true, backend: 'wasm' });
    const s = await waitForStatus(second, (x) => x.phase === 'ready' && x.otherTab, 'second tab sees the first and holds back');
    expect(s.phase).toBe('ready');
    await expect(second.getByTestId('other-tab').textContent()).resolves.toMatch(/Another tab of this browser is already contributing/);
    expect(await second.getByTestId('start').isDisabled()).toBe(true);

    // Once the first stops, the second may start.
    await first.getByTestId('stop').click();
    await waitForStatus(first, (x) => x.phase === 'stopped', 'first stopped');
    await waitForStatus(second, (x) => !x.otherTab, 'second sees the lock free', 10_000);
    await second.getByTestId('start').click();
    await waitForStatus(second, (x) => x.phase === 'running', 'second contributing');
    await ctx.close();
    expect(problems).toEqual([]);
  });

  it('`worker --tabs 2` runs two headless contributor tabs that finish a job and stop cleanly', async () => {
    const { c } = grid;
    const lines: string[] = [];
    const ac = new AbortController();
    const running = runTabWorkers({
      tabs: 2, server: c.url, backend: 'wasm', wallet: GOOD_WALLET, signal: ac.signal, log: (l) => lines.push(l), reportEveryMs: 2000,
    });
    const job = await submitMlpJob(c.api, { records: 64, shardSize: 8, width: 32, layers: 2, seed: 13, replicas: 2 });
    try {
      const done = await waitForJob(c.api, job.id);
      expect(done.state).toBe('completed');
    } finally {
      ac.abort();
      await running;
    }
    const text = lines.join('\n');
    expect(text).toMatch(/2 headless tabs contributing/);
    expect(text).toMatch(/tab #0: backend wasm: WebAssembly was requested/);
    // Two profiles, two volunteers, one wallet.
    const volunteers = new Set([...text.matchAll(/volunteer (\S+) crediting 0x5290/gi)].map((m) => m[1]));
    expect(volunteers.size).toBe(2);
    expect(text).toMatch(/stopping tabs/);
    expect(text).not.toMatch(/did not stop cleanly|page error/);
    expect((await account(c.url, GOOD_WALLET)).balance).toBeGreaterThan(0);
  });
});
