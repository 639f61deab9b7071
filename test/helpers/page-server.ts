/**
 * A tiny HTTP server for pages of the browser benchmark and tests: an empty
 * page at `/`, directories under URL prefixes (the bench's worker scripts,
 * onnxruntime-web's built assets) and in-memory blobs (models, inputs).
 *
 * Every response carries COOP/COEP (and CORP), as the coordinator's pages do,
 * so the page is cross-origin isolated and onnxruntime-web may use WASM
 * threads. Pages must come from http://127.0.0.1:PORT: a secure context
 * (localhost) is what makes navigator.gpu and SharedArrayBuffer available.
 */
import { createServer, type Server } from 'node:http';
import { readFileSync } from 'node:fs';
import { extname, join, normalize } from 'node:path';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  // application/wasm lets the browser compile while it downloads (instantiateStreaming).
  '.wasm': 'application/wasm',
};

export interface PageServer {
  url: string;
  close(): Promise<void>;
}

export interface PageServerOptions {
  /** URL prefix (e.g. `/assets/`) → directory it is served from. */
  dirs: Record<string, string>;
  /** Exact paths served from memory. */
  blobs: Record<string, Uint8Array>;
}

export async function startPageServer(o: PageServerOptions): Promise<PageServer> {
  const server: Server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    const headers: Record<string, string> = {
      'Cross-Origin-Opener-Policy': 'same-origin',
      'Cross-Origin-Embedder-Policy': 'require-corp',
      'Cross-Origin-Resource-Policy': 'same-origin',
      // Each window's worker would otherwise download and compile onnxruntime's 28 MB wasm afresh.
      'Cache-Control': 'max-age=3600',
    };
    let body: Uint8Array | string | null = null;
    let type = 'application/octet-stream';
    if (path === '/') {
      body = '<!doctype html><meta charset="utf-8"><title>tabgrid bench</title><p>tabgrid browser bench</p>';
      type = TYPES['.html']!;
    } else if (o.blobs[path]) {
      body = o.blobs[path]!;
    } else {
      for (const [prefix, dir] of Object.entries(o.dirs)) {
        if (!path.startsWith(prefix)) continue;
        const rel = normalize(decodeURIComponent(path.slice(prefix.length)));
        if (rel.startsWith('..') || rel.includes('/..')) break;
        try {
          body = readFileSync(join(dir, rel));
          type = TYPES[extname(rel)] ?? type;
        } catch { /* 404 below */ }
        break;
      }
    }
    if (body === null) {
      res.writeHead(404, headers).end('not found');
      return;
    }
    res.writeHead(200, { ...headers, 'Content-Type': type }).end(body);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }),
  };
}
