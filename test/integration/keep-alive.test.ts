/**
 * A client whose event loop is blocked for seconds (a shard's compute in
 * `tabgrid worker --node`, or in a test process that also calls the API)
 * keeps using its idle keep-alive connection to a real coordinator. Node's
 * default server keep-alive (5 s) closed it meanwhile, and the next request
 * failed with "other side closed" (UND_ERR_SOCKET) before any reply: the
 * client's fetch (undici) had no chance to drop the socket while blocked.
 * Plain fetch here, not the typed client, whose retry would hide the server's
 * side of the fix.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { spawnCoordinator, type SpawnedCoordinator } from '../helpers/coordinator.ts';

/** Blocks this process's event loop, as a synchronous computation does. */
function blockEventLoop(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

describe('keep-alive connections to the coordinator', () => {
  let c: SpawnedCoordinator | null = null;
  afterAll(async () => { await c?.stop(); });

  it('stay open across a client that is blocked longer than Node\'s default idle timeout', async () => {
    c = await spawnCoordinator();
    const first = await fetch(`${c.url}/healthz`);
    // What undici keeps an idle socket for: this less 2 s.
    expect(first.headers.get('keep-alive')).toBe('timeout=65');
    await first.json();
    await new Promise((r) => setImmediate(r));
    // 7 s: past Node's default of 5 s by more than a loaded coordinator's timer runs late, well short of 65 s.
    blockEventLoop(7000);
    const second = await fetch(`${c.url}/healthz`).catch((e: Error & { cause?: { code?: string } }) => `${e.message} (${e.cause?.code})`);
    expect(typeof second === 'string' ? second : second.status).toBe(200);
  });
});
