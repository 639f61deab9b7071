// putParts stores a job's assembled outputs without joining them in memory: it must name and write exactly
// the bytes put() would for their concatenation, also past writev's per-call buffer limit.
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { BlobStore, sha256 } from '../../../server/blobs/blob-store.ts';

describe('BlobStore.putParts', () => {
  const dirs: string[] = [];
  afterEach(() => { for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true }); });

  it('stores the concatenation of 1,500 chunks under its SHA-256, as put() would', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tabgrid-blobs-'));
    dirs.push(dir);
    const store = new BlobStore(dir);
    const chunks = Array.from({ length: 1500 }, (_, i) => new Uint8Array(i % 7).fill(i & 0xff));
    const whole = Buffer.concat(chunks);
    const hash = await store.putParts(chunks);
    expect(hash).toBe(sha256(whole));
    expect(Buffer.compare(readFileSync(store.path(hash)), whole)).toBe(0);
    expect(await store.put(whole)).toBe(hash);
    // No temporary file left behind.
    expect(readdirSync(join(dir, hash.slice(0, 2)))).toEqual([hash]);
  });
});
