/**
 * Serves the built contributor app: the brotli or gzip copy the build wrote
 * beside each file (`preCompressed`, chosen by Accept-Encoding), and
 * `immutable` caching for Vite's content-hashed files under `assets/` (a new
 * build gives them new names), so a returning visitor downloads none of them
 * again. Pages and unhashed files (index.html, embed.js) are revalidated on
 * every load, so a deploy reaches everyone at once.
 */
import fastifyStatic from '@fastify/static';
import type { FastifyInstance } from 'fastify';
import { relative, sep } from 'node:path';

export const IMMUTABLE = 'public, max-age=31536000, immutable';
export const REVALIDATE = 'no-cache';

/** Cache-Control for a file of the build, by its path relative to the build's root. */
export function cacheControlFor(relativePath: string): string {
  return relativePath.split(sep).join('/').startsWith('assets/') ? IMMUTABLE : REVALIDATE;
}

export async function serveClientApp(app: FastifyInstance, clientDir: string): Promise<void> {
  await app.register(fastifyStatic, {
    root: clientDir,
    // An array: with a plain string @fastify/static finds no index when it serves a compressed copy.
    index: ['index.html'],
    wildcard: true,
    preCompressed: true,
    cacheControl: false,
    setHeaders: (res, path) => {
      res.setHeader('Cache-Control', cacheControlFor(relative(clientDir, path)));
      // Caches between us and the browser must keep the brotli, gzip and plain copies apart.
      res.setHeader('Vary', 'Accept-Encoding');
    },
  });
}
