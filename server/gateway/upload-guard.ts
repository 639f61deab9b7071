/**
 * Counts the bytes every socket.io connection uploads, as engine.io packets
 * arrive, against the upload ledger (core/limits/upload-budget.ts): a
 * connection that would exceed its allowance or push the coordinator over its
 * global budget hears a `refused` event naming the limit and is dropped, so
 * hostile sockets cannot pin memory. Bytes are held until the event they carry
 * has been answered, or the connection closes.
 *
 * A message is counted only once whole, so each connection's transport is
 * also capped at the message size its allowance permits (payload-cap.ts). The
 * allowance is the small one unless the connection's volunteer holds a copy:
 * then what that copy's result can be (the largest, holding several), set by
 * `hold` whenever what it holds may have changed. Saying hello earns nothing:
 * anyone may. A longer message is refused as its first frame header arrives,
 * before anything buffers it.
 */
import type { Logger } from 'pino';
import type { Socket as EngineSocket } from 'engine.io';
import { type ConnectionAllowance, connectionAllowance } from '../core/limits/result-allowance.ts';
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

/** What a connection may send, and how many `hold` calls it has seen (the latest one wins). */
interface Allowed { now: ConnectionAllowance; asked: number }

export class UploadGuard {
  readonly ledger: UploadLedger;
  /** Bytes charged to a connection that no handler has taken yet. */
  private readonly pending = new Map<string, number>();
  private readonly allowed = new Map<string, Allowed>();
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
      this.allowed.set(key, { now: this.small, asked: 0 });
      this.cap(conn, key, conn.transport);
      conn.on('upgrade', (transport: unknown) => this.cap(conn, key, transport));
      conn.on('packet', (p: EnginePacket) => { if (p.type === 'message') this.arrived(conn, key, packetBytes(p)); });
      conn.once('close', () => {
        this.pending.delete(key);
        this.allowed.delete(key);
        this.ledger.drop(key);
        this.show();
      });
    });
  }

  private get small(): ConnectionAllowance {
    return connectionAllowance([], this.ledger.limits.smallBytes);
  }

  /**
   * Sets what `conn` may send from what its volunteer holds now, computed by
   * `held` (the upload allowance of each copy it holds; none: the small
   * allowance). Calls may overlap: the one asked last wins, whenever it ends.
   * Resolves with the allowance `conn` has once it ended.
   */
  async hold(conn: object, held: () => Promise<number[]>): Promise<ConnectionAllowance> {
    const key = this.keys.get(conn);
    if (!key) return this.small;
    const a = this.allowed.get(key);
    if (!a) return this.small;
    const asked = ++a.asked;
    const copies = await held();
    const now = this.allowed.get(key);
    // Closed meanwhile, or a later call decides.
    if (!now || now.asked !== asked) return now?.now ?? this.small;
    now.now = connectionAllowance(copies, this.ledger.limits.smallBytes);
    this.ledger.allow(key, now.now.copies ? now.now.inFlightBytes : null, `the results of the ${now.now.copies} ${now.now.copies === 1 ? 'copy' : 'copies'} it holds`);
    capMessages((conn as EngineSocket).transport, now.now.messageBytes, now.now.inFlightBytes);
    return now.now;
  }

  /** Caps the messages `transport` reads at what the connection's allowance lets one message be. */
  private cap(conn: EngineSocket, key: string, transport: unknown): void {
    // The entry, not the map: ws closes the connection (and `close` forgets it) before it reports why.
    const entry = this.allowed.get(key);
    const first = entry?.now ?? this.small;
    capMessages(transport, first.messageBytes, first.inFlightBytes);
    onOversize(transport, (why) => {
      const a = entry?.now ?? this.small;
      this.metrics.refused.inc({ code: 'too_large' });
      this.log.warn({
        address: conn.remoteAddress,
        reason: a.copies
          ? `a message over ${a.messageBytes} bytes, more than the result of any copy this connection holds can be (${why})`
          : `a message over ${a.messageBytes} bytes, the most a connection that holds no copy may send at once (${why})`,
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
    const r = this.ledger.charge(key, bytes);
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
