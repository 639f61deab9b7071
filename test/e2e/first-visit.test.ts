/**
 * A first visit is light: before Start the contributor page downloads no
 * runtime (the budget is 1.5 MB on the wire, every request counted as
 * Chromium received it, headers included); Start loads the one onnxruntime
 * build the device needs (the plain WASM build without WebGPU, the JSEP build
 * with it), compressed; a returning visitor downloads no hashed asset again.
 * Exact figures are in `npm run bench` (bench/browser.ts).
 */
import type { BrowserContext, Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { contributorUrl, status, waitForStatus, watchPage } from './browser.ts';
import { coordinatorAndChromium } from './tabs.ts';
import { logWireBytes, type WireLog } from './wire-bytes.ts';

const BUDGET_BEFORE_START = 1.5e6;
const PLAIN_WASM = /^\/assets\/ort-wasm-simd-threaded-[\w-]+\.wasm$/;
const JSEP_WASM = /^\/assets\/ort-wasm-simd-threaded\.jsep-[\w-]+\.wasm$/;

describe('first visit: light until Start', () => {
  // A browser without WebGPU, and one with it.
  const grid = coordinatorAndChromium({ gpuBrowser: true });
  const { problems } = grid;

  /** Opens the page without starting, and waits until it is ready and its network is quiet. */
  async function visit(ctx: BrowserContext, wire: WireLog): Promise<Page> {
    const page = await ctx.newPage();
    watchPage(page, 'page', problems);
    await page.goto(contributorUrl(grid.c.url, {}));
    await waitForStatus(page, (s) => s.phase === 'ready', 'probed and ready');
    await page.waitForLoadState('networkidle');
    await wire.settled();
    return page;
  }

  /** Requests of hashed assets that reached the coordinator since log line `from`. */
  const assetRequestsSince = (from: number) => grid.c.logs.slice(from)
    .filter((l) => l.msg === 'request' && typeof l.url === 'string' && l.url.startsWith('/assets/')).map((l) => l.url);

  /** Visits, starts (loading the runtime) and stops: what a visitor's browser holds afterwards. Says which hashed assets it fetched. */
  async function visitAndStart(ctx: BrowserContext): Promise<string[]> {
    const wire = logWireBytes(ctx);
    const page = await visit(ctx, wire);
    await page.getByTestId('start').click();
    await waitForStatus(page, (x) => x.phase === 'running' && !!x.volunteerId, 'started');
    await wire.settled();
    await page.getByTestId('stop').click();
    await waitForStatus(page, (x) => x.phase === 'stopped', 'stopped');
    await page.close();
    return wire.requests.map((r) => r.path).filter((p) => p.startsWith('/assets/'));
  }

  it('downloads no runtime and at most 1.5 MB before Start; Start loads the plain WASM build, compressed', async () => {
    const ctx = await grid.browser.newContext();
    const wire = logWireBytes(ctx);
    const page = await visit(ctx, wire);
    const before = [...wire.requests];
    const s = await status(page);
    expect(s.backend).toBe('wasm');
    expect(s.backendReason).toMatch(/WebGPU is not usable here .* self-tested with a known answer when you press Start/);
    expect(s.selfTests).toEqual([]);

    expect(before.filter((r) => /ort|\.wasm$/.test(r.path))).toEqual([]);
    expect(page.workers()).toEqual([]);
    expect(wire.total()).toBeGreaterThan(10_000);
    expect(wire.total()).toBeLessThan(BUDGET_BEFORE_START);
    // Content-hashed files come compressed and are cached for good; the page itself is revalidated.
    const scripts = before.filter((r) => r.path.startsWith('/assets/') && r.path.endsWith('.js'));
    expect(scripts.length).toBeGreaterThan(0);
    for (const r of scripts) {
      expect(r.encoding, r.path).toBe('br');
      expect(r.cacheControl, r.path).toMatch(/immutable/);
    }
    const index = before.find((r) => r.path === '/');
    expect(index?.encoding).toBe('br');
    expect(index?.cacheControl).toBe('no-cache');

    await page.getByTestId('start').click();
    const running = await waitForStatus(page, (x) => x.phase === 'running' && !!x.volunteerId, 'started');
    expect(running.selfTests).toEqual([{ backend: 'wasm', ok: true }]);
    expect(running.backendReason).toMatch(/WebGPU is not usable here/);
    await wire.settled();
    const wasm = wire.requests.filter((r) => r.path.endsWith('.wasm'));
    expect(wasm.map((r) => r.path)).toHaveLength(1);
    expect(wasm[0]!.path).toMatch(PLAIN_WASM);
    expect(wasm[0]!.encoding).toBe('br');
    // 14 MB as built, about 2.8 MB in brotli.
    expect(wasm[0]!.bodyBytes).toBeLessThan(4e6);
    await page.getByTestId('stop').click();
    await waitForStatus(page, (x) => x.phase === 'stopped', 'stopped');
    await ctx.close();
  }, 120_000);

  it('a returning visitor downloads no hashed asset again, before or after Start', async () => {
    // The first visit, in this browser profile.
    const { c } = grid;
    const ctx = await grid.browser.newContext();
    const first = c.logs.length;
    const fetched = await visitAndStart(ctx);
    expect(fetched.length).toBeGreaterThan(3);
    // The coordinator's log of those requests arrives a little after the responses: wait for it, so none of them is
    // counted as the second visit's.
    await c.waitForLog(() => fetched.every((p) => assetRequestsSince(first).includes(p)), 10_000);
    const from = c.logs.length;
    const wire = logWireBytes(ctx);
    const page = await visit(ctx, wire);
    await page.getByTestId('start').click();
    await waitForStatus(page, (x) => x.phase === 'running' && !!x.volunteerId, 'started again');
    await wire.settled();
    expect(assetRequestsSince(from)).toEqual([]);
    await ctx.close();
  }, 120_000);

  it('with WebGPU, Start loads the JSEP build and no other', async () => {
    const gctx = await grid.gpuBrowser.newContext();
    const wire = logWireBytes(gctx);
    const page = await visit(gctx, wire);
    const s = await status(page);
    expect(s.backend).toBe('webgpu');
    expect(s.backendReason).toMatch(/WebGPU is available on .*when you press Start, with WebAssembly/);
    expect(wire.requests.filter((r) => /ort|\.wasm$/.test(r.path))).toEqual([]);
    expect(wire.total()).toBeLessThan(BUDGET_BEFORE_START);

    await page.getByTestId('start').click();
    const running = await waitForStatus(page, (x) => x.phase === 'running' && !!x.volunteerId, 'started on WebGPU');
    expect(running.backend).toBe('webgpu');
    expect(running.selfTests.map((t) => [t.backend, t.ok])).toEqual([['webgpu', true], ['wasm', true]]);
    await wire.settled();
    const wasm = wire.requests.filter((r) => r.path.endsWith('.wasm')).map((r) => r.path);
    expect(wasm).toHaveLength(1);
    expect(wasm[0]).toMatch(JSEP_WASM);
    await gctx.close();
    expect(problems).toEqual([]);
  }, 120_000);
});
