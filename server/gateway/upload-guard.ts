/**
 * Counts the bytes every socket.io connection uploads, as engine.io packets
 * arrive, against the upload ledger (core/limits/upload-budget.ts): a
 * connection that would exceed its allowance (small before hello) or push the
 * coordinator over its global budget hears a `refused` event naming the limit
 * and is dropped, so hostile sockets cannot pin memory. Bytes are held until
 * the event they carry has been answered, or the connection closes.
 *
 * A message is counted only once whole, so each connection's transport is
 * also capped at the message size its allowance permits (payload-cap.ts): the
 * small allowance until hello, a result upload after it. A longer message is
 * refused as its first frame header arrives, before anything buffers it.
 */
import type { Logger } from 'pino';
import type { Socket as EngineSocket } from 'engine.io';
import { type UploadLimits, UploadLedger } from '../core/limits/upload-budget.ts';
import type { Metrics } from '../metrics.ts';
import { capMessages, onOversize } from './payload-cap.ts';
import type { TabgridServer } from './socket-gateway.ts';

interface EnginePacket { type: string; data?: unknown }

function packetBytes(p: EnginePacket): number {
  const d = p.data;
  if (typeof d === 'string') return Buffer.byteLength(d);
  if (d instanceof ArrayBuffer) return d.byteLength;
  if (ArrayBuffer.isView(d)) return d.byteLength;
  return 0;
}

export class UploadGuard {
  readonly ledger: UploadLedger;
  /** Bytes charged to a connection that no handler has taken yet. */
  private readonly pending = new Map<string, number>();
  private readonly helloed = new Set<string>();
  /** The ledger's name for each connection (engine.io keeps its own id private). */
  private readonly keys = new WeakMap<object, string>();
  private next = 0;

  constructor(private readonly io: TabgridServer, limits: UploadLimits, private readonly metrics: Metrics, private readonly log: Logger) {
    this.ledger = new UploadLedger(limits);
    // Registered after socket.io's own listener, but engine.io emits `packet` before `data`,
    // so every message is counted before socket.io decodes it.
    io.engine.on('connection', (conn: EngineSocket) => {
      const key = `c${++this.next}`;
      this.keys.set(conn, key);
      this.cap(conn, key, conn.transport);
      conn.on('upgrade', (transport: unknown) => this.cap(conn, key, transport));
      conn.on('packet', (p: EnginePacket) => { if (p.type === 'message') this.arrived(conn, key, packetBytes(p)); });
      conn.once('close', () => {
        this.pending.delete(key);
        this.helloed.delete(key);
        this.ledger.drop(key);
        this.show();
      });
    });
  }

  /** The connection said hello: it may now upload a whole result. */
  hello(conn: object): void {
    const key = this.keys.get(conn);
    if (!key || this.helloed.has(key)) return;
    this.helloed.add(key);
    capMessages((conn as EngineSocket).transport, this.ledger.limits.perSocketBytes);
  }

  /** Caps the messages `transport` reads at what the connection's allowance lets one message be. */
  private cap(conn: EngineSocket, key: string, transport: unknown): void {
    const helloed = this.helloed.has(key);
    const bytes = helloed ? this.ledger.limits.perSocketBytes : this.ledger.limits.unhelloedBytes;
    capMessages(transport, bytes);
    onOversize(transport, (why) => {
      this.metrics.refused.inc({ code: 'too_large' });
      this.log.warn({
        address: conn.remoteAddress, reason: `a message over ${bytes} bytes, the most ${helloed ? 'a connection' : 'a connection that has not said hello'} may send at once (${why})`,
      }, 'upload refused; connection dropped');
    });
  }

  /**
   * A handler starts on `conn`: it takes the bytes received since the last one started
   * (the event it handles); call the returned function once it has answered.
   */
  take(conn: object): () => void {
    const key = this.keys.get(conn);
    if (!key) return () => {};
    const n = this.pending.get(key) ?? 0;
    this.pending.delete(key);
    let done = false;
    return () => {
      if (done) return;
      done = true;
      this.ledger.release(key, n);
      this.show();
    };
  }

  private arrived(conn: EngineSocket, key: string, bytes: number): void {
    if (bytes === 0) return;
    const r = this.ledger.charge(key, bytes, this.helloed.has(key));
    if (r.ok) {
      this.pending.set(key, (this.pending.get(key) ?? 0) + bytes);
      this.show();
      return;
    }
    this.metrics.refused.inc({ code: 'too_large' });
    this.log.warn({ address: conn.remoteAddress, reason: r.reason }, 'upload refused; connection dropped');
    const socket = [...this.io.of('/').sockets.values()].find((s) => s.conn === conn);
    if (socket) {
      socket.emit('refused', { code: 'too_large', error: r.reason });
      socket.disconnect(true);
    } else {
      conn.close();
    }
  }

  private show(): void {
    this.metrics.uploadsInFlight.set(this.ledger.inFlight);
    this.metrics.uploadsInFlightPeak.set(this.ledger.highWater);
  }
}
