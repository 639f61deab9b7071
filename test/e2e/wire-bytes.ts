/**
 * What a browser context downloads, as Chromium counted it on the wire:
 * every finished request of its pages and their workers, with the encoded
 * (compressed) body, the response headers and the request itself.
 */
import type { BrowserContext, Request } from 'playwright-core';

export interface WireRequest {
  url: string;
  path: string;
  /** Request and response headers plus bodies, as sent and received. */
  bytes: number;
  /** The response body as received (after content-encoding, before decoding). */
  bodyBytes: number;
  encoding: string | null;
  cacheControl: string | null;
}

export interface WireLog {
  requests: WireRequest[];
  total(): number;
  /** Waits until every request that has started has finished (or failed). */
  settled(): Promise<void>;
  /** Stops counting (the context goes on). */
  stop(): void;
}

export function logWireBytes(ctx: BrowserContext): WireLog {
  const requests: WireRequest[] = [];
  const inFlight = new Set<Promise<void>>();
  const onFinished = (r: Request) => {
    const p = (async () => {
      const [sizes, res] = await Promise.all([r.sizes(), r.response()]);
      const headers = (await res?.allHeaders()) ?? {};
      const u = new URL(r.url());
      requests.push({
        url: r.url(),
        path: u.pathname,
        bytes: sizes.requestHeadersSize + sizes.requestBodySize + sizes.responseHeadersSize + sizes.responseBodySize,
        bodyBytes: sizes.responseBodySize,
        encoding: headers['content-encoding'] ?? null,
        cacheControl: headers['cache-control'] ?? null,
      });
    })().catch(() => {});
    inFlight.add(p);
    void p.finally(() => inFlight.delete(p));
  };
  ctx.on('requestfinished', onFinished);
  return {
    requests,
    total: () => requests.reduce((n, r) => n + r.bytes, 0),
    settled: async () => { while (inFlight.size) await Promise.all([...inFlight]); },
    stop: () => { ctx.off('requestfinished', onFinished); },
  };
}
