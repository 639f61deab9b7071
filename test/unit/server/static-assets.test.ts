// The built app's caching rule and build-time compression: hashed assets forever, pages revalidated,
// and the .br/.gz copies decode to the very bytes they stand for.
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync, mkdirSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { brotliDecompressSync, gunzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { cacheControlFor, IMMUTABLE, REVALIDATE } from '../../../server/http/static-assets.ts';
import { precompressDir } from '../../../vite.precompress.ts';

describe('static assets', () => {
  it('caches content-hashed assets for good and revalidates everything else', () => {
    expect(cacheControlFor('assets/index-DRc0w7oG.js')).toBe(IMMUTABLE);
    expect(cacheControlFor('assets/ort-wasm-simd-threaded-DcHrbrbl.wasm.br')).toBe(IMMUTABLE);
    expect(cacheControlFor('index.html')).toBe(REVALIDATE);
    expect(cacheControlFor('embed.js')).toBe(REVALIDATE);
    expect(IMMUTABLE).toMatch(/immutable/);
  });

  it('writes brotli and gzip copies that decode to the original; pages always, tiny or incompressible files never', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tabgrid-precompress-'));
    const cache = join(dir, '.cache');
    mkdirSync(join(dir, 'assets'));
    const js = Buffer.from('export const x = 1;\n'.repeat(500));
    // Incompressible, and the same every run: a SHA-256 chain.
    const noise = Buffer.concat(Array.from({ length: 128 }, (_, i) => createHash('sha256').update(String(i)).digest()));
    writeFileSync(join(dir, 'assets/app-abc.js'), js);
    writeFileSync(join(dir, 'assets/noise-abc.wasm'), noise);
    writeFileSync(join(dir, 'tiny.js'), 'x');
    writeFileSync(join(dir, 'index.html'), '<!doctype html>');
    writeFileSync(join(dir, 'logo.png'), js);
    await precompressDir(dir, cache);
    expect(brotliDecompressSync(readFileSync(join(dir, 'assets/app-abc.js.br'))).equals(js)).toBe(true);
    expect(gunzipSync(readFileSync(join(dir, 'assets/app-abc.js.gz'))).equals(js)).toBe(true);
    expect(readFileSync(join(dir, 'assets/app-abc.js.br')).length).toBeLessThan(js.length / 10);
    // @fastify/static needs a page's compressed copies to find it as a directory index.
    expect(brotliDecompressSync(readFileSync(join(dir, 'index.html.br'))).toString()).toBe('<!doctype html>');
    expect(existsSync(join(dir, 'tiny.js.br'))).toBe(false);
    expect(existsSync(join(dir, 'logo.png.br'))).toBe(false);
    expect(existsSync(join(dir, 'assets/noise-abc.wasm.br'))).toBe(false);
    expect(existsSync(join(dir, 'assets/noise-abc.wasm.gz'))).toBe(false);
    // A second build takes them from the cache: same bytes.
    const first = readFileSync(join(dir, 'assets/app-abc.js.br'));
    writeFileSync(join(dir, 'assets/app-abc.js.br'), 'stale');
    await precompressDir(dir, cache);
    expect(readFileSync(join(dir, 'assets/app-abc.js.br')).equals(first)).toBe(true);
  });
});
