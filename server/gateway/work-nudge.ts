/**
 * Idle volunteers are nudged when work appears. Nudges are coalesced: one
 * broadcast per tick however many shards opened. Not io.local: only the
 * coordinator where the work appeared sends it, and through the adapter it
 * reaches every coordinator's volunteers.
 */
import type { GatewayContext } from './context.ts';

export function nudgeOnWork(c: GatewayContext): void {
  let nudge: NodeJS.Timeout | null = null;
  c.events.on('work', () => {
    nudge ??= setTimeout(() => { nudge = null; c.io.to('volunteers').emit('work:nudge'); }, 0);
  });
}
