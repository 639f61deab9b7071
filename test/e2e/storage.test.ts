/**
 * The contributor's IndexedDB storage in a real browser: the blob cache
 * (hit/miss, verification before use, size-bounded LRU eviction, surviving
 * QuotaExceededError) and the pending-result store. The modules are bundled
 * on their own and driven through page.evaluate against a tiny blob server.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { build } from 'vite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium } from './browser.ts';

const SIZE = 64 * 1024;

function blob(seed: number): { bytes: Buffer; hash: string } {
  const bytes = Buffer.alloc(SIZE, seed);
  bytes.writeUInt32LE(seed * 2654435761 >>> 0, 0);
  return { bytes, hash: createHash('sha256').update(bytes).digest('hex') };
}

describe('contributor storage in the browser', () => {
  let server: Server;
  let origin: string;
  let browser: Browser;
  let page: Page;
  const blobs = new Map<string, Buffer>();
  const fetched: string[] = [];

  beforeAll(async () => {
    const out = mkdtempSync(join(tmpdir(), 'tabgrid-storage-'));
    await build({
      configFile: false,
      logLevel: 'warn',
      build: {
        outDir: out,
        emptyOutDir: true,
        minify: false,
        lib: { entry: join(import.meta.dirname, 'fixtures/storage-entry.ts'), formats: ['es'], fileName: () => 'storage.js' },
      },
    });
    const script = readFileSync(join(out, 'storage.js'));
    for (let i = 1; i <= 6; i++) { const b = blob(i); blobs.set(b.hash, b.bytes); }
    server = createServer((req, res) => {
      const path = new URL(req.url!, 'http://x').pathname;
      if (path === '/') {
        res.setHeader('content-type', 'text/html');
        return res.end('<!doctype html><script type="module" src="/storage.js"></script>');
      }
      if (path === '/storage.js') {
        res.setHeader('content-type', 'text/javascript');
        return res.end(script);
      }
      const m = /^\/blobs\/([0-9a-f]{64})$/.exec(path);
      const body = m && blobs.get(m[1]!);
      if (!body) { res.statusCode = 404; return res.end(); }
      fetched.push(m[1]!);
      res.setHeader('cache-control', 'no-store');
      return res.end(body);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    origin = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
    browser = await launchChromium();
    page = await browser.newPage();
    await page.goto(`${origin}/`);
    await page.waitForFunction(() => 'tabgridStorage' in globalThis);
  });
  afterAll(async () => {
    await browser?.close();
    server?.close();
  });

  const ref = (i: number) => {
    const b = blob(i);
    return { hash: b.hash, url: `/blobs/${b.hash}`, bytes: SIZE };
  };

  it('fetches a blob once, then serves it from IndexedDB', async () => {
    fetched.length = 0;
    const r = await page.evaluate(async ({ origin, ref }) => {
      const { BlobCache } = (globalThis as any).tabgridStorage;
      const a = new BlobCache({ baseUrl: origin, maxBytes: 10 * 1024 * 1024 });
      const first = await a.get(ref);
      // A new cache object, like a new page visit: only IndexedDB carries over.
      const b = new BlobCache({ baseUrl: origin, maxBytes: 10 * 1024 * 1024 });
      const second = await b.get(ref);
      return { n1: first.byteLength, n2: second.byteLength, a: { ...a.stats }, b: { ...b.stats } };
    }, { origin, ref: ref(1) });
    expect(r.n1).toBe(SIZE);
    expect(r.n2).toBe(SIZE);
    expect(r.a).toMatchObject({ hits: 0, misses: 1 });
    expect(r.b).toMatchObject({ hits: 1, misses: 0 });
    expect(fetched).toEqual([ref(1).hash]);
  });

  it('verifies entries before use: a corrupted one is dropped and fetched again', async () => {
    fetched.length = 0;
    const ok = await page.evaluate(async ({ origin, ref }) => {
      const { BlobCache, openTabgridDB } = (globalThis as any).tabgridStorage;
      const db = await openTabgridDB();
      // Same length, wrong content: only the hash check can tell.
      const bad = new Uint8Array(ref.bytes);
      bad[7] = 42;
      await db.put('blobs', bad.buffer, ref.hash);
      const bytes: Uint8Array = await new BlobCache({ baseUrl: origin, maxBytes: 10 * 1024 * 1024 }).get(ref);
      const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', bytes as Uint8Array<ArrayBuffer>));
      return [...digest].map((x) => x.toString(16).padStart(2, '0')).join('') === ref.hash;
    }, { origin, ref: ref(1) });
    expect(ok).toBe(true);
    expect(fetched).toEqual([ref(1).hash]);
  });

  it('refuses a download that does not match its hash', async () => {
    // The server sends blob 2's bytes under a hash that is not theirs.
    const wrong = { ...ref(2), hash: 'f'.repeat(64) };
    const msg = await page.evaluate(async ({ origin, ref }) => {
      const { BlobCache } = (globalThis as any).tabgridStorage;
      try {
        await new BlobCache({ baseUrl: origin }).get(ref);
        return 'no error';
      } catch (e) {
        return (e as Error).message;
      }
    }, { origin, ref: wrong });
    expect(msg).toMatch(/does not match its hash/);
  });

  it('stays within its size bound by evicting the least recently used', async () => {
    const r = await page.evaluate(async ({ origin, refs, size }) => {
      const { BlobCache, openTabgridDB } = (globalThis as any).tabgridStorage;
      const db = await openTabgridDB();
      await db.clear('blobs');
      await db.clear('blobMeta');
      const cache = new BlobCache({ baseUrl: origin, maxBytes: Math.floor(size * 2.5) });
      await cache.get(refs[0]);
      await cache.get(refs[1]);
      await cache.get(refs[0]); // 0 is now more recently used than 1
      await cache.get(refs[2]); // over budget: 1 goes
      const kept = (await db.getAllKeys('blobs')).sort();
      return { kept, stats: await cache.refreshStats() };
    }, { origin, refs: [ref(3), ref(4), ref(5)], size: SIZE });
    expect(r.kept).toEqual([ref(3).hash, ref(5).hash].sort());
    expect(r.stats).toMatchObject({ evictions: 1, entries: 2, bytes: 2 * SIZE });
  });

  it('survives QuotaExceededError: evicts and retries, and at worst computes without caching', async () => {
    const r = await page.evaluate(async ({ origin, refs }) => {
      const { BlobCache, openTabgridDB } = (globalThis as any).tabgridStorage;
      const db = await openTabgridDB();
      const proto = IDBObjectStore.prototype;
      const put = proto.put;
      let refusals = 0;
      const refuse = (n: number) => {
        refusals = n;
        proto.put = function (this: IDBObjectStore, ...args: Parameters<typeof put>) {
          if (this.name === 'blobs' && refusals > 0) { refusals--; throw new DOMException('the disk is full', 'QuotaExceededError'); }
          return put.apply(this, args);
        };
      };
      try {
        const cache = new BlobCache({ baseUrl: origin, maxBytes: 100 * 1024 * 1024 });
        // Something to evict, whatever ran before this test.
        await cache.get(refs[2]);
        const before = (await db.getAllKeys('blobs')).length;
        refuse(1);
        const a: Uint8Array = await cache.get(refs[0]);
        const afterOne = { keys: await db.getAllKeys('blobs'), evictions: cache.stats.evictions };
        refuse(1_000);
        const b: Uint8Array = await cache.get(refs[1]);
        const afterAll = await db.getAllKeys('blobs');
        return { before, a: a.byteLength, b: b.byteLength, afterOne, afterAll };
      } finally {
        proto.put = put;
      }
    }, { origin, refs: [ref(6), ref(2), ref(1)] });
    expect(r.before).toBeGreaterThan(0);
    expect(r.a).toBe(SIZE);
    expect(r.afterOne.evictions).toBe(1);
    expect(r.afterOne.keys).toContain(ref(6).hash);
    // Nothing left to evict and still refused: the bytes are returned, just not cached.
    expect(r.b).toBe(SIZE);
    expect(r.afterAll).not.toContain(ref(2).hash);
  });

  it('keeps pending results per coordinator until removed', async () => {
    const r = await page.evaluate(async () => {
      const { IdbPendingStore } = (globalThis as any).tabgridStorage;
      const x = new IdbPendingStore('http://a.example');
      const y = new IdbPendingStore('http://b.example');
      const out = (v: number) => [{ name: 'y', dtype: 'float32', dims: [1], data: new Uint8Array(new Float32Array([v]).buffer) }];
      await x.save({ copyId: 'copy_two', outputs: out(2), computeMs: 5, savedAt: 2 });
      await x.save({ copyId: 'copy_one', outputs: out(1), computeMs: 5, savedAt: 1 });
      await y.save({ copyId: 'copy_one', outputs: out(9), computeMs: 5, savedAt: 1 });
      const all = await x.all();
      await x.remove('copy_one');
      return {
        ids: all.map((p: { copyId: string }) => p.copyId),
        value: new Float32Array(all[0].outputs[0].data.buffer)[0],
        isBytes: all[0].outputs[0].data instanceof Uint8Array,
        left: await x.count(),
        other: await y.count(),
      };
    });
    expect(r).toEqual({ ids: ['copy_one', 'copy_two'], value: 1, isBytes: true, left: 1, other: 1 });
  });
});
