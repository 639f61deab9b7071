/**
 * The SQLite store's memory of the shards it is working on: BOINC's feeder
 * and shared-memory work cache, for one process.
 *
 * One process owns an SQLite file and every change to a shard or copy row
 * goes through the store, so the store can keep what the hot path reads (a
 * shard's counters, its copies, the small results waiting to be compared, the
 * queue of shards that want copies) in memory and exact, and read SQLite
 * only on a miss. Each store method that writes a row updates the entry in
 * the same step; writes that touch many rows at once (a job finishing, a
 * training round closing) drop what they touch; a failed transaction drops
 * everything. Measured before this cache, reads were 40 % of the SQL time per
 * result (the wanting-shard query, a shard's copies twice, the shard twice,
 * the copy, the other copy's result).
 *
 * Plain data and no SQL: the store fills it from its rows.
 */
import type { Copy } from '../../core/jobs/types.ts';
import { wanting } from '../../core/scheduler/claim.ts';
import { type ShardRow, shardOf } from '../rows.ts';

export type { ShardRow };
export { shardOf, wanting };

export interface HotEntry {
  row: ShardRow;
  /** In issue order (the validator breaks ties by it). */
  copies: Copy[];
  /** Small results of returned copies, kept until the shard is judged complete. */
  results: Map<string, Uint8Array>;
}


export interface HotShardsOptions {
  /** Shards kept; the least recently used go first. */
  capacity: number;
  /** Results at most this large are kept in memory until judged. */
  resultBytes: number;
  /** Bytes of results kept in all. */
  resultBudget: number;
}

export const HOT_DEFAULTS: HotShardsOptions = { capacity: 20_000, resultBytes: 16 * 1024, resultBudget: 64 * 1024 * 1024 };

export class HotShards {
  private readonly entries = new Map<string, HotEntry>();
  private readonly byCopy = new Map<string, HotEntry>();
  private resultBytes = 0;
  /** Shards that wanted copies when last read, oldest job first; `head` skips those known not to. */
  private queue: string[] = [];
  private head = 0;
  /** Whether `queue` held every wanting shard when read (fewer than the page asked for). */
  private complete = false;
  /** Set when a shard may have started wanting copies again: the queue is read anew. */
  private stale = true;

  constructor(private readonly o: HotShardsOptions = HOT_DEFAULTS) {}

  get size(): number {
    return this.entries.size;
  }

  get(shardId: string): HotEntry | undefined {
    const e = this.entries.get(shardId);
    if (e) {
      // Recently used moves to the back of the Map's order: eviction takes from the front.
      this.entries.delete(shardId);
      this.entries.set(shardId, e);
    }
    return e;
  }

  /** The entry holding a copy, if its shard is in memory. */
  ofCopy(copyId: string): HotEntry | undefined {
    return this.byCopy.get(copyId);
  }

  copy(copyId: string): Copy | undefined {
    return this.byCopy.get(copyId)?.copies.find((c) => c.id === copyId);
  }

  /** Adds a shard read from the database; an entry already held is exact and wins. */
  add(row: ShardRow, copies: Copy[]): HotEntry {
    const held = this.get(row.id);
    if (held) return held;
    const e: HotEntry = { row, copies, results: new Map() };
    this.entries.set(row.id, e);
    for (const c of copies) this.byCopy.set(c.id, e);
    while (this.entries.size > this.o.capacity) this.evict(this.entries.keys().next().value!);
    return e;
  }

  addCopy(e: HotEntry, c: Copy): void {
    e.copies.push(c);
    this.byCopy.set(c.id, e);
  }

  keepResult(e: HotEntry, copyId: string, bytes: Uint8Array): void {
    if (bytes.byteLength > this.o.resultBytes || this.resultBytes + bytes.byteLength > this.o.resultBudget) return;
    e.results.set(copyId, bytes);
    this.resultBytes += bytes.byteLength;
  }

  /** The shard is judged complete: later copies are compared against results read from the database. */
  dropResults(e: HotEntry): void {
    for (const b of e.results.values()) this.resultBytes -= b.byteLength;
    e.results.clear();
  }

  evict(shardId: string): void {
    const e = this.entries.get(shardId);
    if (!e) return;
    this.dropResults(e);
    for (const c of e.copies) this.byCopy.delete(c.id);
    this.entries.delete(shardId);
  }

  evictJob(jobId: string): void {
    for (const [id, e] of this.entries) if (e.row.jobId === jobId) this.evict(id);
    this.stale = true;
  }

  clear(): void {
    this.entries.clear();
    this.byCopy.clear();
    this.resultBytes = 0;
    this.queue = [];
    this.head = 0;
    this.stale = true;
  }

  /** New shards (a job, a training round): the queue is read again before the next claim. */
  markStale(): void {
    this.stale = true;
  }

  /**
   * A shard wants a copy again (one failed, expired, was judged invalid or
   * handed back; no consensus): it goes to the front of the queue, as BOINC
   * sends reissues first, without reading the whole queue again.
   */
  wantsAgain(shardId: string): void {
    if (this.head > 0) this.queue[--this.head] = shardId;
    else this.queue.unshift(shardId);
  }

  /** Whether the queue must be read from the database before the next claim. */
  needsRefill(): boolean {
    return this.stale || (this.head >= this.queue.length && !this.complete);
  }

  refilled(shardIds: string[], complete: boolean): void {
    this.queue = shardIds;
    this.head = 0;
    this.complete = complete;
    this.stale = false;
  }

  /**
   * Shards to try, in order. Ones known to want nothing more are passed over
   * for good (until the queue is read again). An id whose entry was evicted
   * is still yielded: the caller reads it again.
   */
  *candidates(): Generator<string, void, undefined> {
    for (let i = this.head; i < this.queue.length; i++) {
      const id = this.queue[i]!;
      const e = this.entries.get(id);
      if (e && !wanting(e.row)) {
        if (i === this.head) this.head++;
        continue;
      }
      yield id;
    }
  }

  /** True when the queue held every wanting shard when it was read and nothing has changed since. */
  get exhaustive(): boolean {
    return this.complete && !this.stale;
  }
}
