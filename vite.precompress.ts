/**
 * Writes `FILE.br` and `FILE.gz` beside every compressible file of the built
 * app, so the coordinator (@fastify/static `preCompressed`) sends compressed
 * bytes without compressing per request: onnxruntime's WASM runtime is 14 MB
 * (plain) or 28 MB (JSEP) as built, 2.8 MB and 5.5 MB in brotli.
 *
 * Brotli's best quality (11) takes minutes on the runtimes, and every
 * `vite build` (tests included) would pay it: files over 1 MiB get quality 5
 * (the plain runtime: 2.83 MB in 1.5 s, against 2.36 MB in 160 s at 11).
 * Outputs are cached by content hash under node_modules/.cache, so a rebuild
 * with an unchanged runtime compresses nothing again.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { copyFile, mkdir, readdir, readFile, rename, writeFile } from 'node:fs/promises';
import { extname, join, resolve } from 'node:path';
import { promisify } from 'node:util';
import zlib from 'node:zlib';
import type { Plugin } from 'vite';

const brotli = promisify(zlib.brotliCompress);
const gzip = promisify(zlib.gzip);

export const COMPRESSIBLE = new Set(['.html', '.js', '.mjs', '.css', '.svg', '.json', '.wasm', '.txt', '.map']);
/** Below this a compressed copy saves less than its own headers cost. */
const MIN_BYTES = 1024;
const BIG = 1024 * 1024;

async function* files(dir: string): AsyncGenerator<string> {
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) yield* files(p);
    else if (e.isFile() && COMPRESSIBLE.has(extname(e.name))) yield p;
  }
}

async function compressed(bytes: Buffer, kind: 'br' | 'gz'): Promise<Buffer> {
  if (kind === 'gz') return gzip(bytes, { level: 9 });
  return brotli(bytes, {
    params: {
      [zlib.constants.BROTLI_PARAM_QUALITY]: bytes.length > BIG ? 5 : 11,
      [zlib.constants.BROTLI_PARAM_SIZE_HINT]: bytes.length,
    },
  });
}

/**
 * Writes FILE.br and FILE.gz for one file (from the cache when it has them);
 * none that would not be smaller, except for pages: @fastify/static answers 404
 * for a directory's index.html when its compressed copy is missing.
 */
async function precompressFile(path: string, cacheDir: string): Promise<void> {
  const bytes = await readFile(path);
  const always = extname(path) === '.html';
  if (bytes.length < MIN_BYTES && !always) return;
  const hash = createHash('sha256').update(bytes).digest('hex');
  await Promise.all((['br', 'gz'] as const).map(async (kind) => {
    const cached = join(cacheDir, `${hash}.${kind}`);
    if (!existsSync(cached)) {
      const out = await compressed(bytes, kind);
      if (out.length >= bytes.length && !always) return;
      // Written whole, then renamed: a build killed midway leaves no truncated entry behind.
      const tmp = `${cached}.${process.pid}.tmp`;
      await writeFile(tmp, out);
      await rename(tmp, cached);
    }
    await copyFile(cached, `${path}.${kind}`);
  }));
}

export async function precompressDir(dir: string, cacheDir: string): Promise<void> {
  await mkdir(cacheDir, { recursive: true });
  const all: string[] = [];
  for await (const f of files(dir)) all.push(f);
  await Promise.all(all.map((f) => precompressFile(f, cacheDir)));
}

/** Runs after every other closeBundle (the embed loader is built in one), over the whole output directory. */
export function precompress(outDir: string, cacheDir = resolve(import.meta.dirname, 'node_modules/.cache/tabgrid-precompressed')): Plugin {
  return {
    name: 'tabgrid-precompress',
    apply: 'build',
    closeBundle: { order: 'post', sequential: true, handler: () => precompressDir(outDir, cacheDir) },
  };
}
