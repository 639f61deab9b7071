/**
 * PendingStore in IndexedDB: a computed result stays here until the coordinator
 * acknowledged it, so a reload or a lost connection loses no work.
 */
import type { PendingResult, PendingStore } from '../../shared/volunteer/pending.ts';
import { openTabgridDB } from './db.ts';

export class IdbPendingStore implements PendingStore {
  constructor(private readonly coordinator: string) {}

  private key(copyId: string) {
    return `${this.coordinator}|${copyId}`;
  }

  async save(r: PendingResult): Promise<void> {
    const db = await openTabgridDB();
    // Plain Uint8Arrays that own their buffers: a view over a bigger buffer would store all of it.
    const outputs = r.outputs.map((t) => ({ ...t, data: t.data.slice() }));
    await db.put('pending', { ...r, outputs, key: this.key(r.copyId), coordinator: this.coordinator });
  }

  async remove(copyId: string): Promise<void> {
    await (await openTabgridDB()).delete('pending', this.key(copyId));
  }

  async all(): Promise<PendingResult[]> {
    const rows = await (await openTabgridDB()).getAllFromIndex('pending', 'coordinator', this.coordinator);
    return rows
      .sort((a, b) => a.savedAt - b.savedAt)
      .map(({ copyId, outputs, computeMs, savedAt }) => ({ copyId, outputs, computeMs, savedAt }));
  }

  async count(): Promise<number> {
    return (await openTabgridDB()).countFromIndex('pending', 'coordinator', this.coordinator);
  }
}
