/**
 * The typed client, and `tabgrid worker --node`'s blob fetches (the same
 * rule), against a coordinator that closes a keep-alive connection
 * just as a request goes out on it: the race between Node's fetch (undici,
 * which reuses idle sockets) and a server closing an idle socket. A raw TCP
 * server plays the coordinator and loses the race on purpose, every time: it
 * answers the first request on each connection and closes the connection,
 * without a byte of reply, when a second request arrives on it. No timing is
 * involved: once the first reply is read and the event loop has turned
 * (undici frees the socket in its I/O phase), undici reuses the open socket
 * for the next request, always; each test checks that it did.
 */
import { createHash } from 'node:crypto';
import { createServer, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { blobLoader } from '../../../cli/commands/worker-node.ts';
import { STALE_ATTEMPTS, TabgridClient, Unreachable } from '../../../shared/http/client.ts';

interface Seen { method: string; path: string; connection: number; dropped: boolean; key?: string }

/** What a coordinator answers a job submission with (the contract's shape; the values do not matter here). */
const CREATED = JSON.stringify({
  id: 'job-1', projectId: 'project-1', kind: 'inference', state: 'running', shards: { total: 1, validated: 0, failed: 0 },
  copies: { valid: 0, invalid: 0, pending: 0, expired: 0, error: 0 }, credit: 0, createdAt: 1, finishedAt: null, error: null,
  records: 4, shardSize: 4, replicas: 1, flopsPerRecord: 1, creditPerShard: 1, outputs: [], warnings: [],
});

/**
 * A server that answers `/healthz` (and any other path) with a health reply, and closes a connection without replying
 * to its second request (`dropReused`), or to every request (`dropAll`).
 */
async function racingServer(mode: 'dropReused' | 'dropAll'): Promise<{ url: string; seen: Seen[]; close: () => Promise<void> }> {
  const seen: Seen[] = [];
  let connections = 0;
  const sockets = new Set<Socket>();
  const server = createServer((socket: Socket) => {
    const connection = ++connections;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    let buffered = '';
    let requests = 0;
    socket.on('data', (chunk) => {
      buffered += chunk.toString('latin1');
      for (let end = buffered.indexOf('\r\n\r\n'); end >= 0; end = buffered.indexOf('\r\n\r\n')) {
        const head = buffered.slice(0, end);
        const length = Number(/\r\ncontent-length: *(\d+)/i.exec(head)?.[1] ?? 0);
        if (buffered.length < end + 4 + length) return;
        buffered = buffered.slice(end + 4 + length);
        const [method = '', path = ''] = head.split(' ');
        const key = /\r\nidempotency-key: *([^\r]*)/i.exec(head)?.[1];
        requests++;
        const drop = mode === 'dropAll' || requests > 1;
        seen.push({ method, path, connection, dropped: drop, ...(key !== undefined ? { key } : {}) });
        if (drop) { socket.destroy(); return; }
        const [status, body] = method === 'POST' && path === '/api/v1/jobs' ? ['201 Created', CREATED] : ['200 OK', HEALTH_BODY];
        socket.write(`HTTP/1.1 ${status}\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\nconnection: keep-alive\r\nkeep-alive: timeout=60\r\n\r\n${body}`);
      }
    });
    socket.on('error', () => {});
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const address = server.address();
  if (!address || typeof address !== 'object') throw new Error('no address');
  const close = async () => {
    const closed = new Promise<void>((r) => server.close(() => r()));
    // The client keeps idle connections for a minute: end them rather than wait.
    for (const s of sockets) s.destroy();
    await closed;
  };
  return { url: `http://127.0.0.1:${address.port}`, seen, close };
}

/** What the racing server answers to every request it answers. */
const HEALTH_BODY = '{"ok":true,"store":"sqlite"}';

/** One turn of the event loop: undici has put the connection of the reply just read back among the idle ones. */
const idle = () => new Promise((r) => setImmediate(r));

describe('the typed client and connections closed under a request', () => {
  const servers: { close: () => Promise<void> }[] = [];
  afterEach(async () => {
    for (const s of servers.splice(0)) await s.close();
  });

  it('sends a GET again on a fresh connection when the reused one was closed before any reply', async () => {
    const s = await racingServer('dropReused');
    servers.push(s);
    const api = new TabgridClient(s.url);
    await api.health();
    await idle();
    // The second request goes out on the first connection, which the server closes: the client tries again.
    await expect(api.health()).resolves.toEqual({ ok: true, store: 'sqlite' });
    expect(s.seen).toEqual([
      { method: 'GET', path: '/healthz', connection: 1, dropped: false },
      { method: 'GET', path: '/healthz', connection: 1, dropped: true },
      { method: 'GET', path: '/healthz', connection: 2, dropped: false },
    ]);
  });

  it('gives up after a bounded number of attempts and says what happened', async () => {
    const s = await racingServer('dropAll');
    servers.push(s);
    const err = await new TabgridClient(s.url).health().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Unreachable);
    expect((err as Error).message).toBe(
      `cannot reach the coordinator at ${s.url}: GET /healthz: fetch failed (UND_ERR_SOCKET: other side closed); `
      + `attempt ${STALE_ATTEMPTS}, after ${STALE_ATTEMPTS - 1} on connections closed before any reply`,
    );
    expect(s.seen.length).toBe(STALE_ATTEMPTS);
    expect(new Set(s.seen.map((x) => x.connection)).size).toBe(STALE_ATTEMPTS);
  });

  it('sends a job submission again, with the same Idempotency-Key, when its connection was closed before any reply', async () => {
    const s = await racingServer('dropReused');
    servers.push(s);
    const api = new TabgridClient(s.url, 'token');
    await api.health();
    await idle();
    // The submission goes out on the first connection, which the server closes without a reply: the client sends it
    // again on a fresh one, keyed the same, so the coordinator can answer with the job the first one made.
    const created = await api.createJob({ model: 'a'.repeat(64), inputs: [] });
    expect(created.id).toBe('job-1');
    const posts = s.seen.filter((x) => x.method === 'POST');
    expect(posts.map(({ key: _key, ...x }) => x)).toEqual([
      { method: 'POST', path: '/api/v1/jobs', connection: 1, dropped: true },
      { method: 'POST', path: '/api/v1/jobs', connection: 2, dropped: false },
    ]);
    // One key per submission, in the draft's form (a quoted string), the same on both attempts.
    expect(posts[0]!.key).toMatch(/^"[0-9a-f]{32}"$/);
    expect(posts[1]!.key).toBe(posts[0]!.key);
    // A key given is the key sent; the next submission without one gets a new one.
    await api.createJob({ model: 'a'.repeat(64), inputs: [] }, { idempotencyKey: 'run-42' });
    await api.createJob({ model: 'a'.repeat(64), inputs: [] });
    const keys = s.seen.filter((x) => x.method === 'POST' && !x.dropped).map((x) => x.key);
    expect(keys).toHaveLength(3);
    expect(keys[1]).toBe('"run-42"');
    expect(new Set(keys).size).toBe(3);
  });

  it('never sends a POST or a DELETE twice: the coordinator may have applied it', async () => {
    const s = await racingServer('dropReused');
    servers.push(s);
    const api = new TabgridClient(s.url, 'token');
    await api.health();
    await idle();
    const post = await api.closePayout().catch((e: unknown) => e);
    expect(post).toBeInstanceOf(Unreachable);
    expect((post as Error).message).toBe(
      `cannot reach the coordinator at ${s.url}: POST /api/v1/payouts: fetch failed (UND_ERR_SOCKET: other side closed); not sent again: the coordinator may have applied this POST`,
    );
    await api.health();
    await idle();
    const del = await api.cancel('job-1').catch((e: unknown) => e);
    expect(del).toBeInstanceOf(Unreachable);
    expect(s.seen.filter((x) => x.method === 'POST' || x.method === 'DELETE')).toEqual([
      { method: 'POST', path: '/api/v1/payouts', connection: 1, dropped: true },
      { method: 'DELETE', path: '/api/v1/jobs/job-1', connection: 2, dropped: true },
    ]);
  });

  // `tabgrid worker --node` fetches a shard's model and weights with the same rule (one rule, fetchRetryingStale):
  // its shard's compute blocks the event loop, and the coordinator closes the idle socket meanwhile.
  const blob = { hash: createHash('sha256').update(HEALTH_BODY).digest('hex'), bytes: HEALTH_BODY.length };

  it('a --node worker fetches a blob again on a fresh connection when the reused one was closed before any reply', async () => {
    const s = await racingServer('dropReused');
    servers.push(s);
    await new TabgridClient(s.url).health();
    await idle();
    const bytes = await blobLoader(s.url)({ ...blob, url: `/blobs/${blob.hash}` });
    expect(new TextDecoder().decode(bytes)).toBe(HEALTH_BODY);
    expect(s.seen.slice(1)).toEqual([
      { method: 'GET', path: `/blobs/${blob.hash}`, connection: 1, dropped: true },
      { method: 'GET', path: `/blobs/${blob.hash}`, connection: 2, dropped: false },
    ]);
  });

  it('a --node worker gives up on a blob after the same bounded number of attempts, and says so', async () => {
    const s = await racingServer('dropAll');
    servers.push(s);
    const err = await blobLoader(s.url)({ ...blob, url: `/blobs/${blob.hash}` }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Unreachable);
    expect((err as Error).message).toBe(
      `cannot reach the coordinator at ${s.url}: GET /blobs/${blob.hash}: fetch failed (UND_ERR_SOCKET: other side closed); `
      + `attempt ${STALE_ATTEMPTS}, after ${STALE_ATTEMPTS - 1} on connections closed before any reply`,
    );
    expect(s.seen.length).toBe(STALE_ATTEMPTS);
  });
});
