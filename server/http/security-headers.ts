/**
 * Headers for every response. COOP/COEP make the contributor app
 * cross-origin isolated, which onnxruntime-web needs for WASM threads; the CSP
 * allows only our own scripts plus WebAssembly compilation.
 */
import type { FastifyInstance } from 'fastify';

export const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "script-src 'self' 'wasm-unsafe-eval'",
  "worker-src 'self' blob:",
  "connect-src 'self' ws: wss:",
  "img-src 'self' data: blob:",
  "style-src 'self' 'unsafe-inline'",
  "object-src 'none'",
  "base-uri 'none'",
  "frame-ancestors *",
].join('; ');

export function securityHeaders(app: FastifyInstance): void {
  app.addHook('onSend', async (req, reply) => {
    reply.header('X-Content-Type-Options', 'nosniff');
    if (req.url.startsWith('/api/') || req.url.startsWith('/blobs/') || req.url.startsWith('/metrics') || req.url.startsWith('/healthz')) {
      reply.header('Cross-Origin-Resource-Policy', 'cross-origin');
      return;
    }
    reply.header('Cross-Origin-Opener-Policy', 'same-origin');
    reply.header('Cross-Origin-Embedder-Policy', 'require-corp');
    reply.header('Cross-Origin-Resource-Policy', 'same-origin');
    reply.header('Content-Security-Policy', CONTENT_SECURITY_POLICY);
    reply.header('Referrer-Policy', 'no-referrer');
  });
}
