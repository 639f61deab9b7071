/**
 * Raw socket.io clients for hostile-volunteer tests: no Volunteer loop, just
 * the events a test chooses to send, each with its acknowledgement.
 */
import { io, type Socket } from 'socket.io-client';
import { nodeCapabilities } from '../../cli/commands/worker-node.ts';
import type { Assignment, ClientToServerEvents, HelloReply, Reply, ServerToClientEvents } from '../../shared/protocol/events.ts';
import { PROTOCOL_VERSION, SOCKET_PATH } from '../../shared/protocol/version.ts';

export type RawSocket = Socket<ServerToClientEvents, ClientToServerEvents>;

/**
 * A connected socket, never reconnecting. `localAddress`: the address to
 * connect from (any 127.x.y.z reaches a coordinator on 127.0.0.1); `auth`:
 * handshake fields beside the protocol (a volunteer's id and secret).
 */
export function connect(url: string, o: { transport?: 'websocket' | 'polling'; localAddress?: string; auth?: object } = {}): Promise<RawSocket> {
  return new Promise((resolve, reject) => {
    const s: RawSocket = io(url, {
      path: SOCKET_PATH, auth: { protocol: PROTOCOL_VERSION, ...o.auth }, transports: [o.transport ?? 'websocket'], reconnection: false,
      ...(o.localAddress ? { localAddress: o.localAddress } : {}),
    });
    s.on('connect', () => resolve(s));
    s.on('connect_error', (e) => { s.close(); reject(e); });
  });
}

/** One acknowledged event, its reply as the coordinator sent it. */
export function call<R>(s: RawSocket, event: string, payload: unknown): Promise<Reply<R>> {
  return (s as unknown as { timeout(ms: number): { emitWithAck(e: string, p: unknown): Promise<Reply<R>> } }).timeout(20_000).emitWithAck(event, payload);
}

/** The reply of an event that must succeed; a refusal throws with its code and message. */
export async function ok<R>(p: Promise<Reply<R>>): Promise<R> {
  const r = await p;
  if (!r.ok) throw new Error(`refused: ${r.code}: ${r.error}`);
  return r as R;
}

/** Says hello as a Node volunteer on WASM (`extra`: a wallet, an embed's project...). */
export function hello(s: RawSocket, extra: object = {}): Promise<HelloReply> {
  return ok(call<HelloReply>(s, 'hello', { backend: 'wasm', capabilities: nodeCapabilities(), ...extra }));
}

/** Asks for work until a copy comes: the next copy the coordinator gives this volunteer. */
export async function nextCopy(s: RawSocket): Promise<Assignment> {
  for (;;) {
    const r = await ok(call<{ assignment: Assignment | null }>(s, 'work:request', {}));
    if (r.assignment) return r.assignment;
    await new Promise((res) => setTimeout(res, 50));
  }
}
