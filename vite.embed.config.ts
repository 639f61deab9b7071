/**
 * Builds the embed loader, `dist/client/embed.js`: one classic script (IIFE)
 * with a fixed name, so site owners can paste a stable URL. It runs on other
 * sites' pages, so it is self-contained and small (no framework, no socket).
 * `vite build` runs this after the app build (see vite.config.ts).
 */
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

const repo = fileURLToPath(new URL('.', import.meta.url));

export default defineConfig({
  root: resolve(repo, 'client'),
  publicDir: false,
  logLevel: 'warn',
  build: {
    outDir: resolve(repo, 'dist/client'),
    // The app build just wrote this directory.
    emptyOutDir: false,
    copyPublicDir: false,
    // Old enough for the browsers that still matter, new enough to keep the output small.
    target: 'es2020',
    minify: true,
    sourcemap: false,
    lib: {
      entry: resolve(repo, 'client/embed/loader.ts'),
      formats: ['iife'],
      name: 'tabgridEmbed',
      fileName: () => 'embed.js',
    },
  },
});
