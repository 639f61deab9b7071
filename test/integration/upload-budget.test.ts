/**
 * Hostile sockets against a real coordinator's upload budget, as raw socket.io
 * clients: each sends a binary event whose attachments never all arrive, so
 * without the budget its bytes would stay pinned in the coordinator's decoder.
 * A connection may send a result-sized message only while it holds a copy,
 * and only as large as that copy's result can be. The assertions read the
 * coordinator's own accounting at /metrics and how the transport was closed.
 */
import { io } from 'socket.io-client';
import { describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { nodeCapabilities } from '../../cli/commands/worker-node.ts';
import type { Assignment, ErrorCode } from '../../shared/protocol/events.ts';
import { PROTOCOL_VERSION, SOCKET_PATH } from '../../shared/protocol/version.ts';
import { encodeTensors } from '../../shared/tensor/codec.ts';
import { tensorFromTyped } from '../../shared/tensor/tensor.ts';
import type { SpawnedCoordinator } from '../helpers/coordinator.ts';
import { perTest } from '../helpers/per-test.ts';
import { call, connect, hello, ok, type RawSocket } from '../helpers/raw-client.ts';
import { mlpModel, randomInput } from '../helpers/onnx-builder.ts';
import { startVolunteer } from '../helpers/volunteers.ts';
import { MemoryPendingStore } from '../../shared/volunteer/pending.ts';
import { Volunteer } from '../../shared/volunteer/volunteer.ts';
import { waitForJob } from '../helpers/wait.ts';

const MiB = 1024 * 1024;
// No spot checks: a known-answer copy (spot-checks.ts) drawn at random for a work request could be of another
// job than the one each holder here must get a copy of.
const NO_SPOTS = ['--spot-checks', '0'];

/** What the coordinator says when it drops the socket (null: dropped without a word; 'still connected' after 30 s). */
function refusal(s: RawSocket): Promise<{ code: ErrorCode; error: string } | null | 'still connected'> {
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
function transportClose(s: RawSocket): Promise<{ code?: number; status?: number } | 'open'> {
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
function pin(s: RawSocket, bytes: number): void {
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
 * A raw engine.io client that says hello and takes a copy over HTTP
 * long-polling, and only then upgrades to a WebSocket (socket.io-client would
 * probe the upgrade at once, before hello): the upgraded transport must take
 * the copy's result.
 */
async function holdThenUpgrade(url: string): Promise<WebSocket> {
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
  await post(`421${JSON.stringify(['work:request', {}])}`);
  // The assignment carries its inputs as binary attachments: a binary ack (6<attachments>-<id>).
  const work = await poll(/^4(3|6\d+-)1\[/);
  if (!work.includes('"copyId"')) throw new Error(`no copy assigned: ${work}`);
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
  const { coordinator, defer } = perTest();
  /** A socket closed after the test. */
  const open = async (url: string, o: Parameters<typeof connect>[1] = {}) => {
    const s = await connect(url, o);
    defer(() => { s.close(); });
    return s;
  };

  it('drops sockets that would pin memory past their allowance or the budget, and still takes honest results', async () => {
    // A connection holding no copy may send 16 KiB; one holding a copy, that copy's result (here 1 MiB, the
    // result limit) plus framing; all together 3 MiB.
    const c = await coordinator([...NO_SPOTS, '--max-result-mb', '1', '--upload-budget-mb', '3', '--hello-upload-kb', '16']);

    // Ten sockets that never say hello, each sending a 1 MiB message: each is closed as the message's
    // first frame header arrives (1009, Message Too Big), before the coordinator buffers it.
    const strangers = await Promise.all(Array.from({ length: 10 }, () => open(c.url)));
    const closes = strangers.map(transportClose);
    for (const s of strangers) pin(s, MiB);
    for (const r of await Promise.all(closes)) expect(r).toEqual({ code: 1009 });
    // A stranger on HTTP long-polling is refused its request at the same cap (413).
    const poller = await open(c.url, { transport: 'polling' });
    const pollerClose = transportClose(poller);
    pin(poller, MiB);
    expect(await pollerClose).toMatchObject({ status: 413 });
    await until('eleven refusals logged', async () => c.logs.filter((l) => l.msg === 'upload refused; connection dropped').length, (n) => n >= 10);
    expect(c.logs.find((l) => l.msg === 'upload refused; connection dropped')!.reason)
      .toMatch(/^a message over 16384 bytes, the most a connection that holds no copy may send at once/);
    // Not one of those bytes was ever in flight.
    expect(await gauge(c, 'tabgrid_upload_bytes_in_flight_peak')).toBeLessThan(64 * 1024);

    // A job whose every shard's result is 1 MiB (1024 records x 256 float32): one copy each for the hostile holders below.
    const model = await c.api.uploadBlob(mlpModel({ width: 8, layers: 1, outWidth: 256 }));
    const wideInput = async (records: number) => c.api.uploadBlob(encodeTensors([{ name: 'x', ...tensorFromTyped('float32', [records, 8], randomInput(records, 8)) }]));
    const wide = await c.api.createJob({ model, inputs: [{ blob: await wideInput(12 * 1024), format: 'tensors' }], shardSize: 1024, replicas: 1 });
    const holder = async (transport?: 'websocket' | 'polling', ack = true) => {
      const s = await open(c.url, { transport });
      const reply = await hello(s);
      const r = await ok(call<{ assignment: Assignment | null }>(s, 'work:request', {}));
      expect(r.assignment?.jobId).toBe(wide.id);
      if (ack) await ok(call(s, 'work:ack', { copyId: r.assignment!.copyId }));
      return { s, copyId: r.assignment!.copyId, reply };
    };

    // A holder may pin up to its copy's result; the next that would pass the budget is dropped.
    const first = await holder();
    pin(first.s, MiB);
    await until('the first upload counted', () => gauge(c, 'tabgrid_upload_bytes_in_flight'), (n) => n >= MiB);
    const second = await holder();
    pin(second.s, MiB);
    await until('the second upload counted', () => gauge(c, 'tabgrid_upload_bytes_in_flight'), (n) => n >= 2 * MiB);
    const third = await holder();
    const thirdRefusal = refusal(third.s);
    pin(third.s, MiB);
    expect(await thirdRefusal).toEqual({ code: 'too_large', error: expect.stringContaining("the coordinator's budget of 3145728 bytes of uploads in flight is spent") });

    // An honest volunteer's normal result is still accepted while those sockets hold their bytes
    // (a job that goes first: a 1 MiB result would not fit in what the budget has left).
    const x = await c.api.uploadBlob(encodeTensors([{ name: 'x', ...tensorFromTyped('float32', [8, 8], randomInput(8, 8)) }]));
    const small = await c.api.createJob({ model: await c.api.uploadBlob(mlpModel({ width: 8, layers: 1 })), inputs: [{ blob: x, format: 'tensors' }], shardSize: 4, replicas: 1, priority: 1 });
    const honest = startVolunteer(c.url);
    defer(() => honest.stop());
    expect((await waitForJob(c.api, small.id)).state).toBe('completed');
    await honest.stop();

    // The coordinator never counted more than its budget, and frees what a socket held when it leaves.
    expect(await gauge(c, 'tabgrid_upload_bytes_in_flight_peak')).toBeLessThanOrEqual(3 * MiB);
    // (Still connected: within its allowance and the budget, the first holder was never refused.)
    expect(first.s.connected).toBe(true);
    first.s.close();
    second.s.close();
    expect(await until('all released', () => gauge(c, 'tabgrid_upload_bytes_in_flight'), (n) => n === 0)).toBe(0);

    // A holder may send no more than its copy's result can be: a larger message is refused at its frame header.
    const greedy = await holder();
    const greedyClose = transportClose(greedy.s);
    pin(greedy.s, MiB + 128 * 1024);
    expect(await greedyClose).toEqual({ code: 1009 });
    await until('the greedy holder refused', async () => c.logs.filter((l) => typeof l.reason === 'string' && l.reason.includes('more than the result of any copy this connection holds can be')).length, (n) => n >= 1);

    // A volunteer that handed its (not yet acknowledged) copy back holds none: a late result-sized message is
    // refused the same way.
    const quitter = await holder('websocket', false);
    await ok(call(quitter.s, 'work:release', { copyId: quitter.copyId }));
    const quitterClose = transportClose(quitter.s);
    pin(quitter.s, 0.9 * MiB);
    expect(await quitterClose).toEqual({ code: 1009 });

    // A volunteer back after a reload with a kept result for a copy it no longer holds does not send it (the
    // coordinator would drop the connection at its frame header, again after every reconnect): it says why.
    const reloaded = await holder('websocket', false);
    await ok(call(reloaded.s, 'work:release', { copyId: reloaded.copyId }));
    reloaded.s.close();
    const kept = new MemoryPendingStore();
    await kept.save({ copyId: reloaded.copyId, outputs: [{ name: 'y', dtype: 'float32', dims: [1024, 256], data: new Uint8Array(MiB) }], computeMs: 1, savedAt: Date.now() });
    const errors: string[] = [];
    const rawAgain = io(c.url, { path: SOCKET_PATH, auth: { protocol: PROTOCOL_VERSION, volunteerId: reloaded.reply.volunteerId, secret: reloaded.reply.secret }, transports: ['websocket'], autoConnect: false });
    const again = new Volunteer({
      socket: rawAgain,
      hello: { backend: 'wasm', capabilities: nodeCapabilities() },
      // It asks for work after the flush; what it gets is never computed here.
      execute: () => new Promise(() => {}),
      pending: kept,
      hooks: { error: (e) => errors.push(e) },
    });
    again.start();
    await until('the kept result given up', async () => errors, (e) => e.some((m) => m.startsWith(`result for ${reloaded.copyId} not sent`)));
    expect(errors.find((m) => m.includes('not sent'))).toBe(`result for ${reloaded.copyId} not sent: its ${MiB} bytes are more than the coordinator takes on this connection now (16384), as it no longer holds that copy for you (its lease expired, or it was reissued)`);
    expect(await kept.all()).toEqual([]);
    expect(rawAgain.connected).toBe(true);
    void again.stop();
    rawAgain.disconnect();

    // A volunteer that reconnects holding its copy (within the disconnect grace) may still send its result,
    // and its hello says how much it may send.
    const leaver = await holder();
    expect(leaver.reply.limits.uploadBytes).toBe(16 * 1024);
    leaver.s.close();
    const back = await open(c.url, { auth: { volunteerId: leaver.reply.volunteerId, secret: leaver.reply.secret } });
    expect((await hello(back)).limits.uploadBytes).toBe(MiB + 65 * 1024);
    const backStays = transportClose(back);
    pin(back, MiB);
    await until('the returning holder\'s upload counted', () => gauge(c, 'tabgrid_upload_bytes_in_flight'), (n) => n >= MiB);
    back.close();
    await backStays;
    await until('released', () => gauge(c, 'tabgrid_upload_bytes_in_flight'), (n) => n === 0);

    // A holder on HTTP long-polling may send its result there (as base64, a third larger on the wire).
    const polled = await holder('polling');
    const polledStays = transportClose(polled.s);
    pin(polled.s, MiB);
    await until('the polled upload counted', () => gauge(c, 'tabgrid_upload_bytes_in_flight'), (n) => n >= MiB);
    polled.s.close();
    await polledStays;
    await until('released', () => gauge(c, 'tabgrid_upload_bytes_in_flight'), (n) => n === 0);
    // ... and still after upgrading to a WebSocket.
    const upgraded = await holdThenUpgrade(c.url);
    defer(() => upgraded.close());
    upgraded.send('452-["work:result",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]');
    upgraded.send(new Uint8Array(MiB).fill(7));
    await until('the upgraded upload counted', () => gauge(c, 'tabgrid_upload_bytes_in_flight'), (n) => n >= MiB);
    expect(upgraded.readyState).toBe(WebSocket.OPEN);
    upgraded.close();
    await until('released', () => gauge(c, 'tabgrid_upload_bytes_in_flight'), (n) => n === 0);

    // An honest volunteer uploads its 1 MiB results: each connection's cap follows the copies it holds.
    const wide2 = await c.api.createJob({ model, inputs: [{ blob: await wideInput(2 * 1024), format: 'tensors' }], shardSize: 1024, replicas: 1 });
    const computer = startVolunteer(c.url);
    defer(() => computer.stop());
    expect((await waitForJob(c.api, wide2.id)).state).toBe('completed');
    expect(await gauge(c, 'tabgrid_upload_bytes_in_flight_peak')).toBeLessThanOrEqual(3 * MiB);
  }, 180_000);

  it('keeps a socket that said hello but holds no copy to the small allowance: its result-sized message is refused at the frame header', async () => {
    // Anyone may say hello. Before this, hello alone raised a connection's cap to a whole result upload
    // (2 x 1 MiB + 1 MiB here), so ten such sockets could each make the coordinator buffer a result-sized message.
    const c = await coordinator([...NO_SPOTS, '--max-result-mb', '1', '--upload-budget-mb', '4', '--hello-upload-kb', '16']);
    const hellos = await Promise.all(Array.from({ length: 10 }, async () => {
      const s = await open(c.url);
      await hello(s);
      return s;
    }));
    const closes = hellos.map(transportClose);
    for (const s of hellos) pin(s, 0.9 * MiB);
    for (const r of await Promise.all(closes)) expect(r).toEqual({ code: 1009 });
    await until('ten refusals logged', async () => c.logs.filter((l) => l.msg === 'upload refused; connection dropped').length, (n) => n >= 10);
    expect(c.logs.find((l) => l.msg === 'upload refused; connection dropped')!.reason)
      .toMatch(/^a message over 16384 bytes, the most a connection that holds no copy may send at once/);
    // Not one of those bytes was ever in flight.
    expect(await gauge(c, 'tabgrid_upload_bytes_in_flight_peak')).toBeLessThan(64 * 1024);
  }, 120_000);

  it('refuses to start with a budget smaller than one result upload', async () => {
    const { startCoordinator } = await import('../../server/app.ts');
    await expect(startCoordinator({ dataDir: '/nonexistent/never-created', port: 0, maxResultBytes: 4 * MiB, uploadBudgetBytes: 8 * MiB }))
      .rejects.toThrow('the upload budget (8388608 bytes) must hold at least one result upload: 9437184 bytes (2 x the result limit + 1 MiB)');
  });
});
