/**
 * Results computed but not yet acknowledged by the coordinator. A volunteer
 * keeps them until the upload is acknowledged, so a disconnect or a reload
 * loses nothing (BOINC's "never lose a result").
 */
import type { WireTensor } from '../protocol/events.ts';

export interface PendingResult {
  copyId: string;
  outputs: WireTensor[];
  computeMs: number;
  savedAt: number;
}

export interface PendingStore {
  save(r: PendingResult): Promise<void>;
  remove(copyId: string): Promise<void>;
  all(): Promise<PendingResult[]>;
}

export class MemoryPendingStore implements PendingStore {
  private items = new Map<string, PendingResult>();
  async save(r: PendingResult) { this.items.set(r.copyId, r); }
  async remove(copyId: string) { this.items.delete(copyId); }
  async all() { return [...this.items.values()]; }
}
