/**
 * Headers for every response. COOP/COEP make the contributor app
 * cross-origin isolated, which onnxruntime-web needs for WASM threads; the CSP
 * allows only our own scripts plus WebAssembly compilation.
 */
import type { FastifyInstance } from 'fastify';

const BASE_POLICY = [
  "default-src 'self'",
  "script-src 'self' 'wasm-unsafe-eval'",
  "worker-src 'self' blob:",
  "connect-src 'self' ws: wss:",
  "img-src 'self' data: blob:",
  "style-src 'self' 'unsafe-inline'",
  "object-src 'none'",
  "base-uri 'none'",
];

/** The app's own pages may not be framed; the embed frame only by the project's allowed origins. */
export const CONTENT_SECURITY_POLICY = [...BASE_POLICY, "frame-ancestors 'none'"].join('; ');

export function framePolicy(allowedOrigins: string[]): string {
  return [...BASE_POLICY, `frame-ancestors ${allowedOrigins.length ? allowedOrigins.join(' ') : '*'}`].join('; ');
}

export function securityHeaders(app: FastifyInstance, embedOrigins: (projectId: string) => Promise<string[] | null>): void {
  app.addHook('onSend', async (req, reply) => {
    reply.header('X-Content-Type-Options', 'nosniff');
    if (req.url.startsWith('/api/') || req.url.startsWith('/blobs/') || req.url.startsWith('/metrics') || req.url.startsWith('/healthz')) {
      reply.header('Cross-Origin-Resource-Policy', 'cross-origin');
      // Public read-only data (models, swarm, balances) may be fetched by the contributor app hosted
      // anywhere; project endpoints need a bearer token, which a cross-origin page never holds.
      if (req.method === 'GET' && isPublic(req.url) && !reply.hasHeader('Access-Control-Allow-Origin')) {
        reply.header('Access-Control-Allow-Origin', '*');
      }
      return;
    }
    if (req.url.startsWith('/embed-frame.html')) {
      const projectId = new URL(req.url, 'http://x').searchParams.get('project') ?? '';
      const origins = /^[A-Za-z0-9_-]{6,64}$/.test(projectId) ? await embedOrigins(projectId) : null;
      // An unknown project's frame may be framed by no one.
      reply.header('Content-Security-Policy', origins ? framePolicy(origins) : CONTENT_SECURITY_POLICY);
      reply.header('Cross-Origin-Resource-Policy', 'cross-origin');
      reply.header('Referrer-Policy', 'no-referrer');
      return;
    }
    if (req.url.startsWith('/embed-consent.html')) {
      // The consent window (client/embed/window): never framed, and without COOP, which would cut it off
      // from the compute frame that opened it (a frame on another site's page) and must hear its answer.
      reply.header('Content-Security-Policy', CONTENT_SECURITY_POLICY);
      reply.header('Cross-Origin-Resource-Policy', 'same-origin');
      reply.header('Referrer-Policy', 'no-referrer');
      return;
    }
    if (req.url.startsWith('/embed.js')) {
      // Loaded by <script src> on other sites.
      reply.header('Cross-Origin-Resource-Policy', 'cross-origin');
      reply.header('Access-Control-Allow-Origin', '*');
      // Fetched on every page view of every embedding site: a few minutes of caching, still quick to update.
      reply.header('Cache-Control', 'public, max-age=300');
      return;
    }
    reply.header('Cross-Origin-Opener-Policy', 'same-origin');
    reply.header('Cross-Origin-Embedder-Policy', 'require-corp');
    reply.header('Cross-Origin-Resource-Policy', 'same-origin');
    reply.header('Content-Security-Policy', CONTENT_SECURITY_POLICY);
    reply.header('Referrer-Policy', 'no-referrer');
  });
}

function isPublic(url: string): boolean {
  return url.startsWith('/blobs/') || /^\/api\/v1\/(swarm|ledger|accounts\/|projects\/)/.test(url);
}
