/**
 * Hostile sockets against a real coordinator's upload budget, as raw socket.io
 * clients: each sends a binary event whose attachments never all arrive, so
 * without the budget its bytes would stay pinned in the coordinator's decoder.
 * The assertions read the coordinator's own accounting at /metrics.
 */
import { io, type Socket } from 'socket.io-client';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { nodeCapabilities } from '../../cli/commands/worker-node.ts';
import type { ClientToServerEvents, ErrorCode, Reply, ServerToClientEvents } from '../../shared/protocol/events.ts';
import { PROTOCOL_VERSION, SOCKET_PATH } from '../../shared/protocol/version.ts';
import { encodeTensors } from '../../shared/tensor/codec.ts';
import { tensorFromTyped } from '../../shared/tensor/tensor.ts';
import { spawnCoordinator, type SpawnedCoordinator } from '../helpers/coordinator.ts';
import { mlpModel, randomInput } from '../helpers/onnx-builder.ts';
import { startVolunteer } from '../helpers/volunteers.ts';
import { waitForJob } from '../helpers/wait.ts';

type S = Socket<ServerToClientEvents, ClientToServerEvents>;
const MiB = 1024 * 1024;

function connect(url: string, transport: 'websocket' | 'polling' = 'websocket'): Promise<S> {
  return new Promise((resolve, reject) => {
    const s: S = io(url, { path: SOCKET_PATH, auth: { protocol: PROTOCOL_VERSION }, transports: [transport], reconnection: false });
    s.on('connect', () => resolve(s));
    s.on('connect_error', (e) => { s.close(); reject(e); });
  });
}

async function hello(s: S): Promise<void> {
  const r = await (s as unknown as { timeout(ms: number): { emitWithAck(e: string, p: unknown): Promise<Reply<object>> } })
    .timeout(20_000).emitWithAck('hello', { backend: 'wasm', capabilities: nodeCapabilities() });
  if (!r.ok) throw new Error(`hello refused: ${r.error}`);
}

/** What the coordinator says when it drops the socket (null: dropped without a word; 'still connected' after 30 s). */
function refusal(s: S): Promise<{ code: ErrorCode; error: string } | null | 'still connected'> {
  return new Promise((resolve) => {
    let said: { code: ErrorCode; error: string } | null = null;
    const late = setTimeout(() => resolve('still connected'), 30_000);
    s.on('refused', (r) => { said = r; });
    s.on('disconnect', () => { clearTimeout(late); resolve(said); });
  });
}

/**
 * How the transport under `s` closed: the WebSocket close code (1009: Message
 * Too Big), the HTTP status of a refused polling request, or 'open' after 30 s.
 */
function transportClose(s: S): Promise<{ code?: number; status?: number } | 'open'> {
  return new Promise((resolve) => {
    const late = setTimeout(() => resolve('open'), 30_000);
    const engine = (s as unknown as { io: { engine: { on(e: 'close', f: (reason: string, d?: { context?: { code?: number; status?: number } }) => void): void } } }).io.engine;
    engine.on('close', (_reason, d) => {
      clearTimeout(late);
      resolve(d?.context?.code !== undefined ? { code: d.context.code } : { status: d?.context?.status });
    });
  });
}

/**
 * A `work:result` declaring two binary attachments, of which only the first
 * (`bytes` long) is sent: socket.io waits for the second, holding the first.
 */
function pin(s: S, bytes: number): void {
  const engine = (s as unknown as { io: { engine: { send(d: string | Uint8Array): void } } }).io.engine;
  engine.send('52-["work:result",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]');
  engine.send(new Uint8Array(bytes).fill(7));
}

async function gauge(c: SpawnedCoordinator, name: string): Promise<number> {
  const text = await (await fetch(`${c.url}/metrics`)).text();
  const m = new RegExp(`^${name} (\\d+)$`, 'm').exec(text);
  if (!m) throw new Error(`no ${name} in /metrics`);
  return Number(m[1]);
}

async function until<T>(what: string, f: () => Promise<T>, ok: (v: T) => boolean, ms = 20_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (ok(v)) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}; last ${JSON.stringify(v)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * A raw engine.io client that says hello over HTTP long-polling and only then
 * upgrades to a WebSocket (socket.io-client would probe the upgrade at once,
 * before hello): the upgraded transport must take a result-sized message.
 */
async function helloThenUpgrade(url: string): Promise<WebSocket> {
  const base = `${url}${SOCKET_PATH}/?EIO=4&transport=polling`;
  const open = await (await fetch(base)).text();
  const { sid } = JSON.parse(open.slice(1)) as { sid: string };
  const post = async (body: string) => {
    const r = await fetch(`${base}&sid=${sid}`, { method: 'POST', body, headers: { 'content-type': 'text/plain;charset=UTF-8' } });
    if (!r.ok) throw new Error(`polling POST answered ${r.status}`);
  };
  const poll = async (want: RegExp) => {
    for (;;) {
      const packets = (await (await fetch(`${base}&sid=${sid}`)).text()).split('\x1e');
      const hit = packets.find((p) => want.test(p));
      if (hit) return hit;
    }
  };
  await post(`40${JSON.stringify({ protocol: PROTOCOL_VERSION })}`);
  await poll(/^40/);
  await post(`420${JSON.stringify(['hello', { backend: 'wasm', capabilities: nodeCapabilities() }])}`);
  const reply = await poll(/^430/);
  if (!reply.includes('"ok":true')) throw new Error(`hello refused: ${reply}`);
  const ws = new WebSocket(`${url.replace(/^http/, 'ws')}${SOCKET_PATH}/?EIO=4&transport=websocket&sid=${sid}`);
  await new Promise<void>((resolve, reject) => {
    ws.once('error', reject);
    ws.once('open', () => ws.send('2probe'));
    ws.on('message', (m) => {
      if (m.toString() !== '3probe') return;
      ws.send('5');
      resolve();
    });
  });
  return ws;
}

describe('upload budget', () => {
  const cleanup: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const f of cleanup.splice(0).reverse()) await f().catch(() => {});
  });

  it('drops sockets that would pin memory past their allowance or the budget, and still takes an honest result', async () => {
    // One connection may hold 2 x 1 MiB + 1 MiB = 3 MiB; all together 4 MiB; 16 KiB before hello.
    const c = await spawnCoordinator({ args: ['--max-result-mb', '1', '--upload-budget-mb', '4', '--hello-upload-kb', '16'] });
    cleanup.push(() => c.stop());
    const sockets: S[] = [];
    cleanup.push(async () => { for (const s of sockets) s.close(); });
    const open = async (transport?: 'websocket' | 'polling') => { const s = await connect(c.url, transport); sockets.push(s); return s; };

    // Ten sockets that never say hello, each sending a 1 MiB message: each is closed as the message's
    // first frame header arrives (1009, Message Too Big), before the coordinator buffers it.
    const strangers = await Promise.all(Array.from({ length: 10 }, () => open()));
    const closes = strangers.map(transportClose);
    for (const s of strangers) pin(s, MiB);
    for (const r of await Promise.all(closes)) expect(r).toEqual({ code: 1009 });
    // A stranger on HTTP long-polling is refused its request at the same cap (413).
    const poller = await open('polling');
    const pollerClose = transportClose(poller);
    pin(poller, MiB);
    expect(await pollerClose).toMatchObject({ status: 413 });
    await until('eleven refusals logged', async () => c.logs.filter((l) => l.msg === 'upload refused; connection dropped').length, (n) => n >= 10);
    expect(c.logs.find((l) => l.msg === 'upload refused; connection dropped')!.reason)
      .toMatch(/^a message over 16384 bytes, the most a connection that has not said hello may send at once/);
    // Not one of those bytes was ever in flight.
    expect(await gauge(c, 'tabgrid_upload_bytes_in_flight_peak')).toBeLessThan(64 * 1024);

    // A volunteer that said hello may pin up to its allowance; the next that would pass the budget is dropped.
    const first = await open();
    await hello(first);
    const firstDropped = refusal(first);
    pin(first, 2.5 * MiB);
    await until('the first upload counted', () => gauge(c, 'tabgrid_upload_bytes_in_flight'), (n) => n >= 2.5 * MiB);
    const second = await open();
    await hello(second);
    const secondRefusal = refusal(second);
    pin(second, 2.5 * MiB);
    expect(await secondRefusal).toEqual({ code: 'too_large', error: expect.stringContaining("the coordinator's budget of 4194304 bytes of uploads in flight is spent") });

    // An honest volunteer's normal result is still accepted while the first socket holds its bytes.
    const model = await c.api.uploadBlob(mlpModel({ width: 8, layers: 1 }));
    const x = await c.api.uploadBlob(encodeTensors([{ name: 'x', ...tensorFromTyped('float32', [8, 8], randomInput(8, 8)) }]));
    const job = await c.api.createJob({ model, inputs: [{ blob: x, format: 'tensors' }], shardSize: 4, replicas: 1 });
    const honest = startVolunteer(c.url);
    cleanup.push(() => honest.stop());
    expect((await waitForJob(c.api, job.id)).state).toBe('completed');

    // The coordinator never counted more than its budget, and frees what a socket held when it leaves.
    expect(await gauge(c, 'tabgrid_upload_bytes_in_flight_peak')).toBeLessThanOrEqual(4 * MiB);
    first.close();
    expect(await firstDropped).toBeNull();
    expect(await until('all released', () => gauge(c, 'tabgrid_upload_bytes_in_flight'), (n) => n === 0)).toBe(0);

    // A volunteer that said hello over polling may send a result there, and still after upgrading to a WebSocket.
    const helloedPoller = await open('polling');
    await hello(helloedPoller);
    const pollerStays = transportClose(helloedPoller);
    // (2 MiB: polling carries binary as base64, a third larger than the bytes, and the cap counts what is read.)
    pin(helloedPoller, 2 * MiB);
    await until('the polled upload counted', () => gauge(c, 'tabgrid_upload_bytes_in_flight'), (n) => n >= 2 * MiB);
    helloedPoller.close();
    await pollerStays;
    await until('released', () => gauge(c, 'tabgrid_upload_bytes_in_flight'), (n) => n === 0);
    const upgraded = await helloThenUpgrade(c.url);
    cleanup.push(async () => upgraded.close());
    upgraded.send('452-["work:result",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]');
    upgraded.send(new Uint8Array(2.5 * MiB).fill(7));
    await until('the upgraded upload counted', () => gauge(c, 'tabgrid_upload_bytes_in_flight'), (n) => n >= 2.5 * MiB);
    expect(upgraded.readyState).toBe(WebSocket.OPEN);
  }, 120_000);

  it('refuses to start with a budget smaller than one result upload', async () => {
    const { startCoordinator } = await import('../../server/app.ts');
    await expect(startCoordinator({ dataDir: '/nonexistent/never-created', port: 0, maxResultBytes: 4 * MiB, uploadBudgetBytes: 8 * MiB }))
      .rejects.toThrow('the upload budget (8388608 bytes) must hold at least one result upload: 9437184 bytes (2 x the result limit + 1 MiB)');
  });
});
