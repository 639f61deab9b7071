/**
 * How long a volunteer waits before reconnecting: exponential backoff with
 * jitter, so a swarm dropped at once (a coordinator restart) does not come
 * back at once. socket.io-client reconnects by itself only after a transport
 * failure; after a disconnect the server initiated, or a refused handshake,
 * the volunteer reconnects by hand on the same schedule.
 */
export interface BackoffPolicy {
  /** The first delay's ceiling. */
  baseMs: number;
  /** No delay is longer than this. */
  maxMs: number;
}

export const RECONNECT_BACKOFF: BackoffPolicy = { baseMs: 500, maxMs: 10_000 };

/** socket.io-client's own reconnection (after a transport failure), on the same schedule. */
export const RECONNECT_OPTIONS = {
  reconnection: true,
  reconnectionAttempts: Infinity,
  reconnectionDelay: RECONNECT_BACKOFF.baseMs,
  reconnectionDelayMax: RECONNECT_BACKOFF.maxMs,
  randomizationFactor: 0.5,
} as const;

/**
 * The delay before reconnect attempt `attempt` (0 for the first):
 * min(max, base·2^attempt), of which a random half ("equal jitter"), so
 * it never drops to zero and never exceeds the ceiling.
 */
export function reconnectDelay(attempt: number, random: () => number = Math.random, p: BackoffPolicy = RECONNECT_BACKOFF): number {
  const ceiling = Math.min(p.maxMs, p.baseMs * 2 ** Math.min(Math.max(0, attempt), 30));
  return Math.round(ceiling / 2 + (ceiling / 2) * random());
}
