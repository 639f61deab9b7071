/**
 * Live numbers for the swarm monitor: who is connected on which backend, and
 * validated work over the last minute. Coordinators sharing a database each
 * see their own volunteers and validations; they tell each other their share
 * (gateway/cluster.ts), and the numbers shown are the sum of the shares
 * heard recently.
 */
import type { SwarmStats } from '../../shared/protocol/events.ts';
import type { Store } from '../store/types.ts';
import type { Connected } from './wait-watch.ts';
import type { CoordinatorEvents } from './events.ts';

const WINDOW_MS = 60_000;
/** A coordinator not heard from for this long has stopped (or lost its link): its share no longer counts. */
export const PEER_SHARE_FRESH_MS = 5_000;

/** One coordinator's own part of the swarm. */
export interface SwarmShare {
  /** Connected volunteers by backend. */
  volunteers: Record<string, number>;
  /** Shards validated, and their FLOPs, over the last minute. */
  shardsPerMin: number;
  flopsPerMin: number;
}

export class SwarmMonitor {
  private sockets = new Map<string, string>();
  private who = new Map<string, Connected>();
  private recent: { at: number; shards: number; flops: number }[] = [];
  private peers = new Map<string, { at: number; share: SwarmShare }>();

  constructor(private readonly store: Store, events: CoordinatorEvents) {
    events.on('validated', (v) => {
      if (v.valid > 0) this.recent.push({ at: Date.now(), shards: 1, flops: v.flops });
    });
  }

  joined(socketId: string, backend: string, who?: Connected) {
    this.sockets.set(socketId, backend);
    if (who) this.who.set(socketId, who);
  }
  left(socketId: string) { this.sockets.delete(socketId); this.who.delete(socketId); }

  /** The volunteers connected here, as the scheduler sees them (for saying why a job waits). */
  connected(): Iterable<Connected> { return this.who.values(); }

  /** Volunteers other coordinators on the same database reported lately. */
  elsewhere(now = Date.now()): number {
    let n = 0;
    for (const p of this.peers.values()) if (now - p.at <= PEER_SHARE_FRESH_MS) n += Object.values(p.share.volunteers).reduce((a, b) => a + b, 0);
    return n;
  }

  /** This coordinator's share alone (what it tells the others, and what its own metrics count). */
  share(now = Date.now()): SwarmShare {
    while (this.recent.length && this.recent[0]!.at < now - WINDOW_MS) this.recent.shift();
    const volunteers: Record<string, number> = {};
    for (const b of this.sockets.values()) volunteers[b] = (volunteers[b] ?? 0) + 1;
    return { volunteers, shardsPerMin: this.recent.length, flopsPerMin: this.recent.reduce((n, r) => n + r.flops, 0) };
  }

  /** Another coordinator's share, as it told it. */
  heard(from: string, share: SwarmShare, now = Date.now()): void {
    this.peers.set(from, { at: now, share });
  }

  async stats(now = Date.now()): Promise<SwarmStats> {
    const shares = [this.share(now)];
    for (const [id, p] of this.peers) {
      if (now - p.at > PEER_SHARE_FRESH_MS) this.peers.delete(id);
      else shares.push(p.share);
    }
    const total = sumShares(shares);
    const active = await this.store.listJobs({ states: ['running'], limit: 1000 });
    return {
      at: now,
      volunteers: { total: Object.values(total.volunteers).reduce((a, b) => a + b, 0), byBackend: total.volunteers },
      activeJobs: active.length,
      shardsPerMin: total.shardsPerMin,
      gflopsPerSec: total.flopsPerMin / 1e9 / (WINDOW_MS / 1000),
    };
  }
}

export function sumShares(shares: readonly SwarmShare[]): SwarmShare {
  const volunteers: Record<string, number> = {};
  let shardsPerMin = 0;
  let flopsPerMin = 0;
  for (const s of shares) {
    for (const [b, n] of Object.entries(s.volunteers)) volunteers[b] = (volunteers[b] ?? 0) + n;
    shardsPerMin += s.shardsPerMin;
    flopsPerMin += s.flopsPerMin;
  }
  return { volunteers, shardsPerMin, flopsPerMin };
}
