/**
 * The one way bytes become a blob the coordinator knows: put them in the
 * content-addressed blob store, then record them (hash, size, kind) in the
 * database and, for a project's own upload, grant them to that project
 * (projects see and use only blobs they uploaded; the bytes are stored once).
 */
import type { BlobStore } from '../blobs/blob-store.ts';
import type { Store } from '../store/types.ts';

export interface StoreBlobOptions {
  /** The project whose upload this is. */
  owner?: string;
  /** The size to record when it is not the stored bytes' (a tensor blob records its payload). */
  recordedBytes?: number;
}

export async function storeBlob(
  d: { blobs: BlobStore; store: Store },
  content: Uint8Array | readonly Uint8Array[],
  kind: string,
  o: StoreBlobOptions = {},
): Promise<string> {
  const one = content instanceof Uint8Array;
  const hash = one ? await d.blobs.put(content) : await d.blobs.putParts(content);
  const bytes = o.recordedBytes ?? (one ? content.byteLength : content.reduce((n, c) => n + c.byteLength, 0));
  const at = Date.now();
  await d.store.recordBlob({ hash, bytes, kind, createdAt: at });
  if (o.owner) await d.store.grantBlob(o.owner, hash, at);
  return hash;
}
