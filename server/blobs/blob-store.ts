/**
 * Content-addressed files under `<data>/blobs/ab/abcdef…`: models, input
 * tensors, weight sets and assembled outputs. Written to a temporary file and
 * renamed, so a crash never leaves a half-written blob under its hash.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, open, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { BlobLinks } from './blob-links.ts';

export function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

export class BlobStore {
  private cache = new Map<string, Uint8Array>();
  private cacheBytes = 0;
  /** Reads in flight, so a burst of requests for one blob reads it once. */
  private reading = new Map<string, Promise<Uint8Array>>();

  /** Signed, expiring links for the blobs volunteers fetch (blob-links.ts). */
  readonly links: BlobLinks;

  constructor(readonly dir: string, private readonly cacheLimit = 256 * 1024 * 1024) {
    this.links = new BlobLinks(dir);
  }

  path(hash: string): string {
    return join(this.dir, hash.slice(0, 2), hash);
  }

  async put(bytes: Uint8Array): Promise<string> {
    const hash = sha256(bytes);
    if (await this.has(hash)) return hash;
    const dir = join(this.dir, hash.slice(0, 2));
    await mkdir(dir, { recursive: true });
    const tmp = join(dir, `.${hash}.${randomBytes(4).toString('hex')}.tmp`);
    await writeFile(tmp, bytes);
    await rename(tmp, this.path(hash));
    return hash;
  }

  /**
   * Stores the concatenation of `chunks` without joining them in memory: the
   * hash is taken over them in order and they are written with writev.
   */
  async putParts(chunks: readonly Uint8Array[]): Promise<string> {
    const h = createHash('sha256');
    for (const c of chunks) h.update(c);
    const hash = h.digest('hex');
    if (await this.has(hash)) return hash;
    const dir = join(this.dir, hash.slice(0, 2));
    await mkdir(dir, { recursive: true });
    const tmp = join(dir, `.${hash}.${randomBytes(4).toString('hex')}.tmp`);
    const f = await open(tmp, 'w');
    try {
      // writev takes at most IOV_MAX (1024 on Linux) buffers a call.
      for (let i = 0; i < chunks.length; i += 512) await f.writev(chunks.slice(i, i + 512) as Uint8Array[]);
    } finally {
      await f.close();
    }
    await rename(tmp, this.path(hash));
    return hash;
  }

  async has(hash: string): Promise<boolean> {
    try {
      await stat(this.path(hash));
      return true;
    } catch {
      return false;
    }
  }

  /** Deletes a blob that nothing refers to any more (a superseded training checkpoint). */
  async remove(hash: string): Promise<void> {
    const hit = this.cache.get(hash);
    if (hit) {
      this.cache.delete(hash);
      this.cacheBytes -= hit.byteLength;
    }
    await rm(this.path(hash), { force: true });
  }

  /** Reads a blob, keeping recently used ones in memory (input tensors are sliced once per copy). */
  async get(hash: string): Promise<Uint8Array> {
    const hit = this.cache.get(hash);
    if (hit) {
      this.cache.delete(hash);
      this.cache.set(hash, hit);
      return hit;
    }
    let read = this.reading.get(hash);
    if (!read) {
      read = readFile(this.path(hash)).then((buf) => {
        // A view, not a copy: readFile's buffer is ours alone.
        const bytes = new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
        this.remember(hash, bytes);
        return bytes;
      }).finally(() => this.reading.delete(hash));
      this.reading.set(hash, read);
    }
    return read;
  }

  private remember(hash: string, bytes: Uint8Array) {
    if (bytes.byteLength > this.cacheLimit / 4 || this.cache.has(hash)) return;
    this.cache.set(hash, bytes);
    this.cacheBytes += bytes.byteLength;
    while (this.cacheBytes > this.cacheLimit) {
      const [k, v] = this.cache.entries().next().value as [string, Uint8Array];
      this.cache.delete(k);
      this.cacheBytes -= v.byteLength;
    }
  }
}
