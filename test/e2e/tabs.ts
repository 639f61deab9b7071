/**
 * The set-up the contributor-page e2e files share: one coordinator and one
 * Chromium for a describe block, contributor tabs
 * opened each in its own browser context, and the copies a job's tabs
 * returned, read from the coordinator's SQLite file.
 */
import Database from 'better-sqlite3';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll } from 'vitest';
import { type SpawnedCoordinator, spawnCoordinator } from '../helpers/coordinator.ts';
import { contributorUrl, ensureClientBuilt, launchChromium, watchPage } from './browser.ts';

export interface Tab { ctx: BrowserContext; page: Page }

export interface TabFixture {
  readonly c: SpawnedCoordinator;
  readonly browser: Browser;
  /** Page and console errors of every tab opened (and whatever else a test adds); tests end expecting none. */
  readonly problems: string[];
  /**
   * A contributor tab that starts computing at once; no backend: WebGPU first, WASM as the fallback.
   * `prepare` runs on the new context before the page opens (to count or check its requests).
   */
  openTab(backend?: 'wasm' | 'webgpu', o?: { viewport?: { width: number; height: number }; prepare?: (ctx: BrowserContext) => void }): Promise<Tab>;
}

/**
 * Call in a `describe` body: the coordinator (with `args` to `serve`) and Chromium (WebGPU on, over
 * SwiftShader, with `webgpu`) start before its tests and stop after them.
 */
export function coordinatorAndChromium(o: { args?: string[]; webgpu?: boolean } = {}): TabFixture {
  let c: SpawnedCoordinator | undefined;
  let browser: Browser | undefined;
  const problems: string[] = [];
  beforeAll(async () => {
    await ensureClientBuilt();
    [c, browser] = await Promise.all([spawnCoordinator({ args: o.args ?? [] }), launchChromium({ webgpu: !!o.webgpu })]);
  }, 240_000); // a client build comes first, or up to 180 s waiting for another file's
  afterAll(async () => {
    await browser?.close();
    await c?.stop();
  });
  return {
    get c() { return c!; },
    get browser() { return browser!; },
    problems,
    async openTab(backend, t = {}) {
      // A context each: two tabs of one browser profile would share the one-contributor-per-browser lock.
      const ctx = await browser!.newContext(t.viewport ? { viewport: t.viewport } : {});
      t.prepare?.(ctx);
      const page = await ctx.newPage();
      problems.push(...watchPage(page, backend ?? 'auto'));
      await page.goto(contributorUrl(c!.url, { autostart: true, backend, intensity: 1 }));
      return { ctx, page };
    },
  };
}

export interface StoredCopy { id: string; idx: number; volunteer_id: string; numeric_class: string; state: string; compute_ms: number; result: Uint8Array | null }

/** A job's copies, by shard index then assignment, with their results as stored (in the row, or over 64 KiB in a file beside the database). */
export function storedCopies(c: SpawnedCoordinator, jobId: string): StoredCopy[] {
  const db = new Database(join(c.dataDir, 'tabgrid.sqlite'), { readonly: true, fileMustExist: true });
  try {
    const rows = db.prepare(`SELECT c.id, s.idx, c.volunteer_id, c.numeric_class, c.state, c.compute_ms, c.result, c.result_file
      FROM copies c JOIN shards s ON s.id = c.shard_id WHERE c.job_id = ? ORDER BY s.idx, c.assigned_at`).all(jobId) as (StoredCopy & { result_file: string | null })[];
    return rows.map(({ result_file, ...r }) => ({ ...r, result: result_file ? new Uint8Array(readFileSync(join(c.dataDir, 'results', result_file))) : r.result }));
  } finally {
    db.close();
  }
}
