/**
 * Bytes of socket uploads in flight: received by the coordinator and not yet
 * handled. Each connection may hold at most its allowance (the small one
 * unless it holds a copy, so a socket nobody gave work cannot pin memory;
 * result-allowance.ts), and all connections together at most the global
 * budget. Pure bookkeeping over plain data: the gateway charges bytes as
 * packets arrive and releases them when the event they carry has been
 * answered (or the connection closed).
 */

export interface UploadLimits {
  /** All connections together, bytes. */
  globalBytes: number;
  /** One connection that holds no copy (or has not said hello), bytes. */
  smallBytes: number;
}

export type Charge =
  | { ok: true }
  | { ok: false; reason: string };

export class UploadLedger {
  private total = 0;
  private peak = 0;
  private readonly held = new Map<string, number>();
  /** Connections allowed more than the small allowance: bytes, and what earned them. */
  private readonly allowed = new Map<string, { bytes: number; why: string }>();

  constructor(readonly limits: UploadLimits) {}

  /** Bytes in flight now, all connections together. */
  get inFlight(): number { return this.total; }
  /** The most bytes ever in flight at once: never above the global budget. */
  get highWater(): number { return this.peak; }
  heldBy(conn: string): number { return this.held.get(conn) ?? 0; }
  allowanceOf(conn: string): number { return this.allowed.get(conn)?.bytes ?? this.limits.smallBytes; }

  /**
   * Sets what `conn` may have in flight from now on (`why`: what earned it, for
   * refusals); null: back to the small allowance. Bytes it holds already stay
   * counted.
   */
  allow(conn: string, bytes: number | null, why = ''): void {
    if (bytes === null || bytes <= this.limits.smallBytes) this.allowed.delete(conn);
    else this.allowed.set(conn, { bytes, why });
  }

  /**
   * Counts `bytes` just received on `conn`, or refuses them (and changes
   * nothing) when the connection's allowance or the global budget would be exceeded.
   */
  charge(conn: string, bytes: number): Charge {
    const mine = this.heldBy(conn) + bytes;
    const allowance = this.allowanceOf(conn);
    if (mine > allowance) {
      const why = this.allowed.get(conn)?.why;
      return {
        ok: false,
        reason: why
          ? `${mine} bytes in flight on this connection exceed its allowance of ${allowance} bytes (${why})`
          : `${mine} bytes in flight on this connection exceed the allowance of ${allowance} bytes for a connection that holds no copy`,
      };
    }
    if (this.total + bytes > this.limits.globalBytes) {
      return { ok: false, reason: `the coordinator's budget of ${this.limits.globalBytes} bytes of uploads in flight is spent; try again later` };
    }
    this.held.set(conn, mine);
    this.total += bytes;
    if (this.total > this.peak) this.peak = this.total;
    return { ok: true };
  }

  /** Releases `bytes` that `conn` held (the event they carried was answered). */
  release(conn: string, bytes: number): void {
    const n = Math.min(bytes, this.heldBy(conn));
    if (n <= 0) return;
    const left = this.heldBy(conn) - n;
    if (left > 0) this.held.set(conn, left);
    else this.held.delete(conn);
    this.total -= n;
  }

  /** Releases everything `conn` holds, and forgets its allowance (it closed). */
  drop(conn: string): void {
    this.release(conn, this.heldBy(conn));
    this.allowed.delete(conn);
  }
}
