/** Transfer lists for tensors crossing between the page and the compute worker. */

/** The distinct buffers behind these tensors (a buffer listed twice makes postMessage throw). */
export function transferablesOf(tensors: readonly { data: Uint8Array }[]): ArrayBuffer[] {
  const seen = new Set<ArrayBuffer>();
  for (const t of tensors) {
    const b = t.data.buffer;
    if (b instanceof ArrayBuffer && b.byteLength > 0) seen.add(b);
  }
  return [...seen];
}
