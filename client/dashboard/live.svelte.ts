/**
 * The dashboards' live connection: one socket.io client that only watches
 * (it never says hello, so it is not counted as a volunteer). Watched topics
 * are renewed after every reconnect; handlers come and go with the views.
 */
import { io, type Socket } from 'socket.io-client';
import type { ClientToServerEvents, Reply, ServerToClientEvents } from '../../shared/protocol/events.ts';
import { PROTOCOL_VERSION, SOCKET_PATH } from '../../shared/protocol/version.ts';

type DashboardSocket = Socket<ServerToClientEvents, ClientToServerEvents>;

export class Live {
  connected = $state(false);
  private readonly socket: DashboardSocket;
  private readonly topics = new Map<string, string | undefined>();

  constructor(coordinator: string) {
    const url = new URL(coordinator);
    this.socket = io(url.origin, {
      path: url.pathname.replace(/\/+$/, '') + SOCKET_PATH,
      transports: ['websocket', 'polling'],
      auth: { protocol: PROTOCOL_VERSION },
    });
    this.socket.on('connect', () => {
      this.connected = true;
      // A new connection is a new socket on the server: it joined nothing yet.
      for (const [topic, token] of this.topics) this.send(topic, token).catch(() => {});
    });
    this.socket.on('disconnect', () => { this.connected = false; });
  }

  /** Starts watching a topic; rejects with the coordinator's reason (a wrong token, say). */
  async watch(topic: string, token?: string): Promise<void> {
    this.topics.set(topic, token);
    if (this.socket.connected) {
      try {
        await this.send(topic, token);
      } catch (e) {
        this.topics.delete(topic);
        throw e;
      }
    }
  }

  /**
   * Stops renewing a topic. The coordinator has no "unwatch", so this socket
   * stays in the room until it reconnects; views drop their handlers instead.
   */
  forget(topic: string): void {
    this.topics.delete(topic);
  }

  on<E extends keyof ServerToClientEvents>(event: E, handler: ServerToClientEvents[E]): () => void {
    // socket.io's typed overloads do not line up with a generic event name; the map above keeps it honest.
    const s = this.socket as unknown as { on(e: string, h: unknown): void; off(e: string, h: unknown): void };
    s.on(event, handler);
    return () => s.off(event, handler);
  }

  private send(topic: string, token?: string): Promise<void> {
    return new Promise((resolve, reject) => {
      this.socket.timeout(10_000).emit('watch', { topic, ...(token ? { token } : {}) }, (err: Error | null, r: Reply<Record<never, never>>) => {
        if (err) reject(new Error('the coordinator did not answer'));
        else if (!r.ok) reject(new Error(r.error));
        else resolve();
      });
    });
  }
}
