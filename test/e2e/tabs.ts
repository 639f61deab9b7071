/**
 * The set-up the contributor-page e2e files share: one coordinator and one
 * Chromium for a describe block (a second Chromium with WebGPU when asked,
 * and a restart of the coordinator on its data and port), contributor tabs
 * opened each in its own browser context, and the copies a job's tabs
 * returned, read from the coordinator's SQLite file.
 */
import Database from 'better-sqlite3';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll } from 'vitest';
import type { SpawnedCoordinator } from '../helpers/coordinator.ts';
import { perDescribe } from '../helpers/per-test.ts';
import { contributorUrl, ensureClientBuilt, launchChromium, watchPage } from './browser.ts';

export interface Tab { ctx: BrowserContext; page: Page }

export interface TabFixture {
  /** The coordinator; after `restart()`, the new one. */
  readonly c: SpawnedCoordinator;
  readonly browser: Browser;
  /** The second Chromium, with WebGPU on, when the fixture was asked for one (`gpuBrowser: true`). */
  readonly gpuBrowser: Browser;
  /** Page and console errors of every tab opened (and whatever else a test adds); tests end expecting none. */
  readonly problems: string[];
  /**
   * A contributor tab that starts computing at once; no backend: WebGPU first, WASM as the fallback.
   * `prepare` runs on the new context before the page opens (to count or check its requests, or install its clock),
   * and is awaited.
   */
  openTab(backend?: 'wasm' | 'webgpu', o?: { viewport?: { width: number; height: number }; prepare?: (ctx: BrowserContext) => void | Promise<void> }): Promise<Tab>;
  /**
   * Stops the coordinator (SIGTERM) unless the test already has, and runs `serve` again on the same data
   * directory and port with the same arguments, so pages and workers can come back to it by themselves.
   */
  restart(): Promise<SpawnedCoordinator>;
}

/**
 * Call in a `describe` body: the coordinator (with `args` to `serve`) and Chromium (WebGPU on, over
 * SwiftShader, with `webgpu`; and a second Chromium with WebGPU on, with `gpuBrowser`) start before its
 * tests and stop after them.
 */
export function coordinatorAndChromium(o: { args?: string[]; webgpu?: boolean; gpuBrowser?: boolean } = {}): TabFixture {
  let browser: Browser | undefined;
  let gpuBrowser: Browser | undefined;
  const problems: string[] = [];
  // The client is built before the coordinator, which serves it, starts; Chromium starts meanwhile.
  beforeAll(async () => {
    [, browser, gpuBrowser] = await Promise.all([
      ensureClientBuilt(), launchChromium({ webgpu: !!o.webgpu }), o.gpuBrowser ? launchChromium({ webgpu: true }) : undefined,
    ]);
  }, 240_000); // a client build, or up to 180 s waiting for another file's
  const coordinator = perDescribe(o.args ?? []);
  // Registered after perDescribe's: vitest runs after-hooks last first, so the browsers close before the coordinator stops.
  afterAll(async () => {
    await browser?.close();
    await gpuBrowser?.close();
  });
  return {
    get c() { return coordinator.c; },
    get browser() { return browser!; },
    get gpuBrowser() {
      if (!gpuBrowser) throw new Error('no second Chromium: ask coordinatorAndChromium for one with gpuBrowser: true');
      return gpuBrowser;
    },
    problems,
    async openTab(backend, t = {}) {
      // A context each: two tabs of one browser profile would share the one-contributor-per-browser lock.
      const ctx = await browser!.newContext(t.viewport ? { viewport: t.viewport } : {});
      await t.prepare?.(ctx);
      const page = await ctx.newPage();
      watchPage(page, backend ?? 'auto', problems);
      await page.goto(contributorUrl(coordinator.c.url, { autostart: true, backend, intensity: 1 }));
      return { ctx, page };
    },
    restart: () => coordinator.restart(),
  };
}

export interface StoredCopy { id: string; idx: number; volunteer_id: string; numeric_class: string; state: string; outcome: string; compute_ms: number; result: Uint8Array | null }

/** A job's copies, by shard index then assignment, with their results as stored (in the row, or over 64 KiB in a file beside the database). */
export function storedCopies(c: SpawnedCoordinator, jobId: string): StoredCopy[] {
  const db = new Database(join(c.dataDir, 'tabgrid.sqlite'), { readonly: true, fileMustExist: true });
  try {
    const rows = db.prepare(`SELECT c.id, s.idx, c.volunteer_id, c.numeric_class, c.state, c.outcome, c.compute_ms, c.result, c.result_file
      FROM copies c JOIN shards s ON s.id = c.shard_id WHERE c.job_id = ? ORDER BY s.idx, c.assigned_at`).all(jobId) as (StoredCopy & { result_file: string | null })[];
    return rows.map(({ result_file, ...r }) => ({ ...r, result: result_file ? new Uint8Array(readFileSync(join(c.dataDir, 'results', result_file))) : r.result }));
  } finally {
    db.close();
  }
}
