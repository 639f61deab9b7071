/**
 * Builds the browser side of tabgrid from `client/` into `dist/client`, which
 * the coordinator serves at `/` (or any static host, pointed at a coordinator
 * with `?coordinator=URL`). Multi-page: each `client/<page>.html` listed in
 * `pages` is an entry, so dashboards and the embed loader slot in beside the
 * contributor app.
 */
import { svelte } from '@sveltejs/vite-plugin-svelte';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

const root = resolve(fileURLToPath(new URL('.', import.meta.url)), 'client');

/** Entry pages, relative to client/; the ones that do not exist yet are skipped. */
const pages = ['index.html', 'dashboard.html', 'embed.html'];

// Cross-origin isolation lets onnxruntime-web use WASM threads; the coordinator sends the same headers.
const isolation = {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
};

export default defineConfig({
  root,
  // Relative asset URLs: the bundle works from any path on any static host.
  base: './',
  publicDir: resolve(root, '../public'),
  plugins: [svelte()],
  build: {
    outDir: resolve(root, '../dist/client'),
    emptyOutDir: true,
    target: 'es2022',
    // onnxruntime-web's wasm (tens of MB) is inherently big; everything else should stay small.
    chunkSizeWarningLimit: 1024,
    assetsInlineLimit: (file) => (file.endsWith('.wasm') ? false : undefined),
    rolldownOptions: {
      input: Object.fromEntries(
        pages.filter((p) => existsSync(resolve(root, p))).map((p) => [p.replace(/\.html$/, ''), resolve(root, p)]),
      ),
    },
  },
  worker: { format: 'es' },
  // Pre-bundling would separate onnxruntime-web from its wasm and break how it locates it in dev.
  optimizeDeps: { exclude: ['onnxruntime-web'] },
  server: { headers: isolation },
  preview: { headers: isolation },
});
