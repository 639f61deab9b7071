// A volunteer comes back after any disconnect, the server's own included, with jittered exponential backoff;
// against a real socket.io server in this process that plays the coordinator's part of the protocol.
import { createServer, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Server, type Socket } from 'socket.io';
import { io } from 'socket.io-client';
import { afterEach, describe, expect, it } from 'vitest';
import { PROTOCOL_VERSION, SOCKET_PATH } from '../../../shared/protocol/version.ts';
import { RECONNECT_BACKOFF, RECONNECT_OPTIONS, reconnectDelay } from '../../../shared/volunteer/backoff.ts';
import { MemoryPendingStore } from '../../../shared/volunteer/pending.ts';
import { Volunteer, type VolunteerSocket } from '../../../shared/volunteer/volunteer.ts';

describe('reconnectDelay', () => {
  it('doubles its ceiling per attempt up to the maximum, and keeps a random half of it', () => {
    const ceilings = [0, 1, 2, 3, 4, 5, 6, 20].map((n) => reconnectDelay(n, () => 1));
    expect(ceilings).toEqual([500, 1000, 2000, 4000, 8000, 10_000, 10_000, 10_000]);
    expect([0, 1, 5].map((n) => reconnectDelay(n, () => 0))).toEqual([250, 500, 5000]);
    expect(reconnectDelay(3, () => 0.5)).toBe(3000);
    expect(RECONNECT_OPTIONS.reconnectionDelayMax).toBe(RECONNECT_BACKOFF.maxMs);
  });
});

/** A coordinator's socket side reduced to what the loop needs: hello, and no work for now. */
class FakeCoordinator {
  readonly http: HttpServer = createServer();
  readonly io = new Server(this.http, { path: SOCKET_PATH });
  hellos: string[] = [];
  connections = 0;
  /** Handshakes to refuse next, with this error code each. */
  refuse: string[] = [];
  private waiters: (() => void)[] = [];

  constructor() {
    this.io.use((socket, next) => {
      const code = this.refuse.shift();
      if (code) return next(Object.assign(new Error(`refused (${code})`), { data: { ok: false, code, error: `refused (${code})` } }));
      next();
    });
    this.io.on('connection', (socket: Socket) => {
      this.connections++;
      socket.on('hello', (_req: unknown, ack: (r: unknown) => void) => {
        this.hellos.push(socket.id);
        ack({ ok: true, volunteerId: 'v1', account: 'volunteer:v1', numericClass: 'wasm/ort-test', heartbeatMs: 10_000, limits: { maxResultBytes: 1 << 20 } });
        for (const w of this.waiters.splice(0)) w();
      });
      socket.on('work:request', (_req: unknown, ack: (r: unknown) => void) => ack({ ok: true, assignment: null, retryInMs: 60_000 }));
    });
  }

  async listen(): Promise<string> {
    await new Promise<void>((r) => this.http.listen(0, '127.0.0.1', () => r()));
    return `http://127.0.0.1:${(this.http.address() as AddressInfo).port}`;
  }

  /** Resolves once `n` hellos in all have been answered. */
  hellosReach(n: number): Promise<void> {
    return new Promise((resolve) => {
      const check = () => (this.hellos.length >= n ? resolve() : this.waiters.push(check));
      check();
    });
  }

  close(): Promise<void> {
    return new Promise((r) => this.io.close(() => r()));
  }
}

describe('a volunteer reconnects after any disconnect', () => {
  let server: FakeCoordinator;
  let volunteer: Volunteer | null = null;
  let socket: VolunteerSocket | null = null;
  const delays: string[] = [];

  afterEach(async () => {
    await volunteer?.stop();
    socket?.disconnect();
    await server?.close();
    delays.length = 0;
  });

  async function start(): Promise<void> {
    server = new FakeCoordinator();
    const url = await server.listen();
    socket = io(url, { path: SOCKET_PATH, auth: { protocol: PROTOCOL_VERSION }, transports: ['websocket'], autoConnect: false, ...RECONNECT_OPTIONS });
    volunteer = new Volunteer({
      socket,
      hello: { backend: 'wasm', capabilities: { agent: 'node', backends: ['wasm'], ortVersion: 'test', threads: 1 } },
      execute: () => Promise.reject(new Error('no work in this test')),
      pending: new MemoryPendingStore(),
      // The shortest delays the policy allows, every time: the test waits for states, never for luck.
      random: () => 0,
      hooks: { state: (s, d) => { if (s === 'connecting' && d) delays.push(d); } },
    });
  }

  it('after the server disconnects it (which socket.io does not retry by itself) it comes back and says hello again', async () => {
    await start();
    volunteer!.start();
    await server.hellosReach(1);
    for (const s of server.io.sockets.sockets.values()) s.disconnect(true);
    await server.hellosReach(2);
    expect(server.connections).toBe(2);
    expect(delays).toEqual(['reconnecting in 0.3 s']);
    // A second server-side disconnect starts again from the first delay: the attempt count resets on connect.
    for (const s of server.io.sockets.sockets.values()) s.disconnect(true);
    await server.hellosReach(3);
    expect(delays).toEqual(['reconnecting in 0.3 s', 'reconnecting in 0.3 s']);
  });

  it('after refused handshakes it retries with growing delays; a protocol refusal is final', async () => {
    await start();
    server.refuse = ['internal', 'internal'];
    volunteer!.start();
    await server.hellosReach(1);
    expect(delays).toEqual(['reconnecting in 0.3 s', 'reconnecting in 0.5 s']);

    server.refuse = ['bad_request'];
    let errors = 0;
    socket!.on('connect_error', () => { errors++; });
    for (const s of server.io.sockets.sockets.values()) s.disconnect(true);
    await new Promise<void>((r) => { const t = setInterval(() => { if (errors > 0) { clearInterval(t); r(); } }, 20); });
    // No timer left to retry, and socket.io itself gave up: nothing more will reach the server.
    expect(socket!.active).toBe(false);
    expect(delays).toHaveLength(3);
    expect(server.hellos).toHaveLength(1);
  });

  it('stop() cancels a reconnect that was scheduled', async () => {
    await start();
    volunteer!.start();
    await server.hellosReach(1);
    for (const s of server.io.sockets.sockets.values()) s.disconnect(true);
    await new Promise<void>((r) => { const t = setInterval(() => { if (delays.length) { clearInterval(t); r(); } }, 5); });
    await volunteer!.stop();
    volunteer = null;
    // Past the scheduled delay (250 ms): a timer left behind would have called connect(), which makes the socket active.
    await new Promise((r) => setTimeout(r, 600));
    expect(socket!.connected).toBe(false);
    expect(socket!.active).toBe(false);
    expect(server.connections).toBe(1);
  });
});
