/**
 * Coalesces calls: `fn` runs at once, then at most once per `ms`, and a call
 * made in between runs once at the end of that interval, so the last change
 * is always shown. For refreshes triggered per shard (several a second), where
 * each costs an IndexedDB read, a request or a re-render.
 */
export function coalesce(fn: () => void, ms: number): () => void {
  let last = -Infinity;
  let timer: ReturnType<typeof setTimeout> | null = null;
  const run = () => {
    timer = null;
    last = Date.now();
    fn();
  };
  return () => {
    if (timer) return;
    const wait = last + ms - Date.now();
    if (wait <= 0) run();
    else timer = setTimeout(run, wait);
  };
}
