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
  /**
   * Bytes a connection held when its allowance was lowered, not yet released:
   * admitted under the allowance of their time, they do not count against the
   * lower one. A volunteer's last result is still being answered when its
   * copy stops being held; without this the next small packet it sends (a
   * heartbeat, a request for work) was refused and the volunteer dropped.
   */
  private readonly covered = new Map<string, number>();

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
   * counted; lowered, they stay covered (not charged against the lower
   * allowance) until released.
   */
  allow(conn: string, bytes: number | null, why = ''): void {
    const before = this.allowanceOf(conn);
    if (bytes === null || bytes <= this.limits.smallBytes) this.allowed.delete(conn);
    else this.allowed.set(conn, { bytes, why });
    // Lowered: what it holds now was admitted under the higher allowance and stays covered until released.
    if (this.allowanceOf(conn) < before && this.heldBy(conn) > 0) this.covered.set(conn, this.heldBy(conn));
    else if (this.allowanceOf(conn) > before) this.covered.delete(conn);
  }

  /**
   * Counts `bytes` just received on `conn`, or refuses them (and changes
   * nothing) when the connection's allowance or the global budget would be exceeded.
   */
  charge(conn: string, bytes: number): Charge {
    const mine = this.heldBy(conn) - (this.covered.get(conn) ?? 0) + bytes;
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
    this.held.set(conn, this.heldBy(conn) + bytes);
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
    const covered = (this.covered.get(conn) ?? 0) - n;
    if (covered > 0) this.covered.set(conn, covered);
    else this.covered.delete(conn);
    this.total -= n;
  }

  /** Releases everything `conn` holds, and forgets its allowance (it closed). */
  drop(conn: string): void {
    this.release(conn, this.heldBy(conn));
    this.allowed.delete(conn);
    this.covered.delete(conn);
  }
}
