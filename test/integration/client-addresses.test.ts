/**
 * Client addresses against hostile raw socket.io clients, on a real coordinator:
 * the distinct-copies address rule counts one /24 as one address
 * (`--address-groups`), and behind a real nginx with a list of trusted proxies
 * (`--trust-proxy 127.0.0.1,...`) no X-Forwarded-For a client writes chooses
 * the address it is recorded under, while a hop through another trusted proxy
 * is walked past.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { io, type ManagerOptions, type Socket, type SocketOptions } from 'socket.io-client';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { nodeCapabilities } from '../../cli/commands/worker-node.ts';
import type { Assignment, ClientToServerEvents, Reply, ServerToClientEvents } from '../../shared/protocol/events.ts';
import { PROTOCOL_VERSION, SOCKET_PATH } from '../../shared/protocol/version.ts';
import { encodeTensors } from '../../shared/tensor/codec.ts';
import { tensorFromTyped } from '../../shared/tensor/tensor.ts';
import { freePort, spawnCoordinator, type SpawnedCoordinator } from '../helpers/coordinator.ts';
import { type RunningNginx, selfSignedCert, startNginx } from '../helpers/nginx.ts';
import { mlpModel, randomInput } from '../helpers/onnx-builder.ts';

type S = Socket<ServerToClientEvents, ClientToServerEvents>;
type Opts = Partial<ManagerOptions & SocketOptions>;

// nginx's certificate is self-signed; these raw clients skip the check.
process.env.NODE_TLS_REJECT_UNAUTHORIZED = '0';

const sockets: S[] = [];
const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const s of sockets.splice(0)) s.close();
  for (const f of cleanup.splice(0).reverse()) await f().catch(() => {});
});

/** A raw client from `localAddress` (any 127.x.y.z reaches 127.0.0.1) that says hello; its volunteer id. */
async function hello(url: string, localAddress: string, opts: Opts = {}): Promise<{ socket: S; id: string }> {
  const socket: S = io(url, { path: SOCKET_PATH, auth: { protocol: PROTOCOL_VERSION }, transports: ['websocket'], reconnection: false, localAddress, rejectUnauthorized: false, ...opts } as Opts);
  sockets.push(socket);
  await new Promise<void>((res, rej) => { socket.on('connect', () => res()); socket.on('connect_error', rej); });
  const r = await call<{ volunteerId: string }>(socket, 'hello', { backend: 'wasm', capabilities: nodeCapabilities() });
  return { socket, id: r.volunteerId };
}

async function call<R>(s: S, event: string, payload: unknown): Promise<R> {
  const r = await (s as unknown as { timeout(ms: number): { emitWithAck(e: string, p: unknown): Promise<Reply<R>> } }).timeout(20_000).emitWithAck(event, payload);
  if (!r.ok) throw new Error(`refused: ${r.code}: ${r.error}`);
  return r as R;
}

const request = (s: S) => call<{ assignment: Assignment | null; reason?: string }>(s, 'work:request', {});

/**
 * Asks for a copy and returns a well-formed result for it (nothing is judged before the second): one copy at a
 * time, a shard's next copy goes out only once its first is back, so what keeps it from a neighbour is the address rule.
 */
async function takeAndReturn(s: S): Promise<void> {
  const a = (await request(s)).assignment;
  expect(a).not.toBeNull();
  const rows = a!.inputs[0]!.dims[0]!;
  const outputs = a!.outputs.map((name) => ({ name, dtype: 'float32', dims: [rows, 8], data: new Uint8Array(new Float32Array(rows * 8).buffer) }));
  expect((await call<{ status: string }>(s, 'work:result', { copyId: a!.copyId, outputs, computeMs: 1 })).status).toBe('accepted');
}

// No spot checks: a known-answer copy is no vote and may go to anyone (spot-checks.ts), so a random one
// would make "no second copy for the neighbour" depend on the draw; the rule tested is the claim's.
const NO_SPOTS = ['--spot-checks', '0'];

async function coordinator(args: string[]): Promise<SpawnedCoordinator> {
  const c = await spawnCoordinator({ args: [...NO_SPOTS, ...args] });
  cleanup.push(() => c.stop());
  return c;
}

/** One shard of four records that wants two copies. */
async function twoCopyJob(c: SpawnedCoordinator): Promise<string> {
  const model = await c.api.uploadBlob(mlpModel({ width: 8, layers: 1 }));
  const x = await c.api.uploadBlob(encodeTensors([{ name: 'x', ...tensorFromTyped('float32', [4, 8], randomInput(4, 8)) }]));
  return (await c.api.createJob({ model, inputs: [{ blob: x, format: 'tensors' }], shardSize: 4, replicas: 2 })).id;
}

const joinedAs = (c: SpawnedCoordinator, id: string) => c.waitForLog((l) => l.msg === 'volunteer joined' && l.volunteer === id);

describe('--address-groups: the distinct-copies address rule counts a network as one address', () => {
  it('two clients from one /24 never hold both copies of a shard; a client from another /24 gets the second', async () => {
    const c = await coordinator(['--distinct-copies', 'address']);
    await twoCopyJob(c);
    const a = await hello(c.url, '127.0.7.1');
    const b = await hello(c.url, '127.0.7.2');
    expect(await joinedAs(c, b.id)).toMatchObject({ address: '127.0.7.2', group: '127.0.7.0/24' });
    await takeAndReturn(a.socket);
    const refused = await request(b.socket);
    expect(refused.assignment).toBeNull();
    const other = await hello(c.url, '127.0.8.1');
    expect((await request(other.socket)).assignment).not.toBeNull();
  }, 90_000);

  it('with --address-groups v4/32 each address counts alone, so the neighbour gets the second copy', async () => {
    const c = await coordinator(['--distinct-copies', 'address', '--address-groups', 'v4/32']);
    await twoCopyJob(c);
    const a = await hello(c.url, '127.0.7.1');
    const b = await hello(c.url, '127.0.7.2');
    expect(await joinedAs(c, b.id)).toMatchObject({ address: '127.0.7.2', group: '127.0.7.2/32' });
    await takeAndReturn(a.socket);
    expect((await request(b.socket)).assignment).not.toBeNull();
  }, 90_000);

  it('refuses a bad --address-groups at start, naming it', async () => {
    await expect(spawnCoordinator({ args: ['--address-groups', 'v4/40'] })).rejects.toThrow(/--address-groups takes v4\/N .*got "v4\/40"/);
  }, 60_000);
});

describe('--trust-proxy with a list, behind a real nginx', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tabgrid-trusted-'));
  let c: SpawnedCoordinator;
  let nginx: RunningNginx;
  afterAll(async () => {
    await nginx?.stop();
    await c?.stop();
  });

  it('records the hop nginx appended, walks past a listed proxy, and never takes a client-written entry', async () => {
    // Trusted: nginx itself (it connects from 127.0.0.1) and a "CDN" at 127.0.77.1 in front of it.
    c = await spawnCoordinator({ args: [...NO_SPOTS, '--trust-proxy', '127.0.0.1,127.0.77.1', '--distinct-copies', 'address'] });
    nginx = await startNginx({ dir, port: await freePort(), upstreams: [c.port, c.port], ...selfSignedCert(dir) });
    const seen = async (from: string, xff?: string) => {
      const v = await hello(nginx.url, from, xff ? { extraHeaders: { 'x-forwarded-for': xff } } : {});
      return { ...v, address: (await joinedAs(c, v.id)).address };
    };
    // A client's own X-Forwarded-For is left of the hop nginx appends: ignored.
    expect((await seen('127.0.99.1', '198.51.100.7')).address).toBe('127.0.99.1');
    // Even when it names a trusted proxy as the last hop it wrote.
    expect((await seen('127.0.99.2', '203.0.113.5, 127.0.77.1')).address).toBe('127.0.99.2');
    // Through the trusted CDN hop: the client that CDN saw (the entry it appended), not anything left of it.
    expect((await seen('127.0.77.1', '6.6.6.6, 203.0.113.9')).address).toBe('203.0.113.9');
    // No X-Forwarded-For of its own: the address nginx saw.
    expect((await seen('127.0.98.1')).address).toBe('127.0.98.1');
  }, 120_000);

  it('two clients of one /24 forging different X-Forwarded-For still count as one address', async () => {
    await twoCopyJob(c);
    const a = await hello(nginx.url, '127.0.5.1', { extraHeaders: { 'x-forwarded-for': '10.1.0.1' } });
    const b = await hello(nginx.url, '127.0.5.2', { extraHeaders: { 'x-forwarded-for': '10.2.0.1' } });
    expect((await request(a.socket)).assignment).not.toBeNull();
    expect((await request(b.socket)).assignment).toBeNull();
  }, 120_000);
});
