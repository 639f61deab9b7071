/**
 * HotShards on its own (plain data, no SQL): the dispatch queue's order and
 * skipping, reissues to the front, least-recently-used eviction with the copy
 * index, and the bound on results kept in memory.
 */
import { describe, expect, it } from 'vitest';
import type { Copy } from '../../../server/core/jobs/types.ts';
import { HotShards, type ShardRow, wanting } from '../../../server/store/sqlite/hot-shards.ts';

const row = (id: string, o: Partial<ShardRow> = {}): ShardRow => ({
  id, jobId: 'job', index: 0, start: 0, end: 4, state: 'open', wanted: 2, canonicalCopyId: null, errors: 0, issued: 0,
  alive: 0, maxTotal: 6, homogeneous: false, projectId: 'p', jobCreated: 1, ...o,
});

const copy = (id: string, shardId: string): Copy => ({
  id, shardId, jobId: 'job', volunteerId: `v-${id}`, account: `volunteer:v-${id}`, wallet: null, address: '10.0.0.1',
  numericClass: 'wasm/ort-1.30.0', state: 'assigned', outcome: 'pending', assignedAt: 0, deadline: 1, returnedAt: null, reason: null, credit: 0,
});

describe('HotShards', () => {
  it('wants a copy only while open, short of its quorum and under its copy limit', () => {
    expect(wanting(row('a'))).toBe(true);
    expect(wanting(row('a', { alive: 2 }))).toBe(false);
    expect(wanting(row('a', { issued: 6 }))).toBe(false);
    expect(wanting(row('a', { state: 'validated' }))).toBe(false);
  });

  it('yields the queue in order, passes for good over shards that want nothing more, and puts reissues first', () => {
    const h = new HotShards();
    for (const id of ['a', 'b', 'c']) h.add(row(id), []);
    h.refilled(['a', 'b', 'c'], true);
    expect(h.needsRefill()).toBe(false);
    expect([...h.candidates()]).toEqual(['a', 'b', 'c']);
    h.get('a')!.row.alive = 2;
    expect([...h.candidates()]).toEqual(['b', 'c']);
    // 'a' wants a copy again (one expired): it goes to the front, ahead of the older queue.
    h.get('a')!.row.alive = 1;
    h.wantsAgain('a');
    expect([...h.candidates()]).toEqual(['a', 'b', 'c']);
    // A queue read whole and unchanged is all there is; a new job makes it stale.
    expect(h.exhaustive).toBe(true);
    h.markStale();
    expect(h.exhaustive).toBe(false);
    expect(h.needsRefill()).toBe(true);
  });

  it('asks for a refill when a partial queue runs out, not when a complete one does', () => {
    const h = new HotShards();
    h.add(row('a', { alive: 2 }), []);
    h.refilled(['a'], false);
    expect([...h.candidates()]).toEqual([]);
    expect(h.needsRefill()).toBe(true);
    h.refilled(['a'], true);
    expect([...h.candidates()]).toEqual([]);
    expect(h.needsRefill()).toBe(false);
  });

  it('evicts the least recently used shard, and its copies with it', () => {
    const h = new HotShards({ capacity: 2, resultBytes: 16, resultBudget: 64 });
    h.add(row('a'), [copy('ca', 'a')]);
    h.add(row('b'), [copy('cb', 'b')]);
    h.get('a');
    h.add(row('c'), []);
    expect(h.get('b')).toBeUndefined();
    expect(h.copy('cb')).toBeUndefined();
    expect(h.copy('ca')?.shardId).toBe('a');
    expect(h.size).toBe(2);
  });

  it('an entry already held wins over a row read again (memory is exact, the row may be older)', () => {
    const h = new HotShards();
    const e = h.add(row('a'), []);
    e.row.issued = 1;
    h.addCopy(e, copy('c1', 'a'));
    expect(h.add(row('a'), [])).toBe(e);
    expect(h.get('a')!.row.issued).toBe(1);
    expect(h.ofCopy('c1')).toBe(e);
  });

  it('keeps small results within their budget and frees it when the shard is judged or evicted', () => {
    const h = new HotShards({ capacity: 10, resultBytes: 16, resultBudget: 32 });
    const a = h.add(row('a'), []);
    const b = h.add(row('b'), []);
    h.keepResult(a, 'x', new Uint8Array(17));
    expect(a.results.size).toBe(0);
    h.keepResult(a, 'x', new Uint8Array(16));
    h.keepResult(a, 'y', new Uint8Array(16));
    h.keepResult(b, 'z', new Uint8Array(1));
    expect(b.results.size).toBe(0);
    h.dropResults(a);
    h.keepResult(b, 'z', new Uint8Array(16));
    expect(b.results.size).toBe(1);
    h.evict('b');
    h.keepResult(a, 'w', new Uint8Array(16));
    h.keepResult(a, 'v', new Uint8Array(16));
    expect(a.results.size).toBe(2);
  });
});
