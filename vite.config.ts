/**
 * Builds the browser side of tabgrid from `client/` into `dist/client`, which
 * the coordinator serves at `/` (or any static host, pointed at a coordinator
 * with `?coordinator=URL`). Multi-page: each `client/<page>.html` listed in
 * `pages` is an entry (the contributor app, the dashboards, the embed frame),
 * and the embed loader is built beside them by vite.embed.config.ts.
 */
import { svelte } from '@sveltejs/vite-plugin-svelte';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build, defineConfig, type Plugin } from 'vite';
import { precompress } from './vite.precompress.ts';

const root = resolve(fileURLToPath(new URL('.', import.meta.url)), 'client');

/** Entry pages, relative to client/; the ones that do not exist yet are skipped. */
const pages = ['index.html', 'dashboard.html', 'embed-frame.html', 'embed-consent.html'];

/**
 * After the app build, builds the embed loader (`embed.js`, an IIFE with a
 * fixed name) into the same directory: a library build of its own, because
 * one Rolldown build has one output format. Part of every `vite build`, so
 * `npm start`, `npm test` and the e2e tests' rebuilds all ship it.
 */
function embedLoader(): Plugin {
  return {
    name: 'tabgrid-embed-loader',
    apply: 'build',
    async closeBundle() {
      await build({ configFile: resolve(root, '../vite.embed.config.ts') });
    },
  };
}

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
  // Last: brotli and gzip copies of everything built, the embed loader included.
  plugins: [svelte(), embedLoader(), precompress(resolve(root, '../dist/client'))],
  build: {
    outDir: resolve(root, '../dist/client'),
    emptyOutDir: true,
    target: 'es2022',
    // Every browser that can contribute (ES2022, module workers) has native modulepreload; with four
    // entry pages the polyfill became its own sub-KiB chunk, one more uncompressed request per page.
    modulePreload: { polyfill: false },
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
