/**
 * Live numbers for the swarm monitor: who is connected on which backend, and
 * validated work over the last minute.
 */
import type { SwarmStats } from '../../shared/protocol/events.ts';
import type { Store } from '../store/types.ts';
import type { CoordinatorEvents } from './events.ts';

const WINDOW_MS = 60_000;

export class SwarmMonitor {
  private sockets = new Map<string, string>();
  private recent: { at: number; shards: number; flops: number }[] = [];

  constructor(private readonly store: Store, events: CoordinatorEvents) {
    events.on('validated', (v) => {
      if (v.valid > 0) this.recent.push({ at: Date.now(), shards: 1, flops: v.flops });
    });
  }

  joined(socketId: string, backend: string) { this.sockets.set(socketId, backend); }
  left(socketId: string) { this.sockets.delete(socketId); }

  async stats(now = Date.now()): Promise<SwarmStats> {
    while (this.recent.length && this.recent[0]!.at < now - WINDOW_MS) this.recent.shift();
    const byBackend: Record<string, number> = {};
    for (const b of this.sockets.values()) byBackend[b] = (byBackend[b] ?? 0) + 1;
    const flops = this.recent.reduce((n, r) => n + r.flops, 0);
    const active = await this.store.listJobs({ states: ['running'], limit: 1000 });
    return {
      at: now,
      volunteers: { total: this.sockets.size, byBackend },
      activeJobs: active.length,
      shardsPerMin: this.recent.length,
      gflopsPerSec: flops / 1e9 / (WINDOW_MS / 1000),
    };
  }
}
