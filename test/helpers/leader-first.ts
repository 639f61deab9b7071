/** Orders volunteers' work requests so that which shard a test's attacker computes is fixed by construction. */
import type { VolunteerSocket } from '../../shared/volunteer/volunteer.ts';

/**
 * Makes `followers` claim work only after `leader` has claimed its copy of
 * the round: a follower may ask for work only while it holds fewer copies
 * than the leader has received, and asks with a plain request (never in a
 * result's reply, which would claim before the leader). With one shard per
 * volunteer per round, the leader is then the first to claim in every round,
 * so which shard it computes is fixed by the scheduler's order, not by
 * which socket happens to ask first. `release()` opens the gate for good.
 */
export function leaderFirst() {
  let leader = 0;
  let open = false;
  const waiting = new Set<() => void>();
  const wake = () => { for (const w of [...waiting]) w(); };
  return {
    leaderHooks: { assignment: () => { leader++; wake(); } },
    follower(): { wrapSocket: (s: VolunteerSocket) => VolunteerSocket; hooks: { assignment(): void } } {
      let mine = 0;
      const turn = () => new Promise<void>((resolve) => {
        const check = () => { if (open || leader > mine) { waiting.delete(check); resolve(); } };
        waiting.add(check);
        check();
      });
      return {
        hooks: { assignment: () => { mine++; } },
        wrapSocket: (s) => new Proxy(s, {
          get(target, key) {
            if (key === 'timeout') {
              return (ms: number) => ({
                async emit(event: string, payload: Record<string, unknown>, cb: (...a: unknown[]) => void) {
                  let p = payload;
                  if (event === 'work:request') await turn();
                  if (event === 'work:result' && p.next) { const { next: _, ...rest } = p; p = rest; }
                  (target.timeout(ms) as unknown as { emit: (e: string, p: unknown, cb: unknown) => void }).emit(event, p, cb);
                },
              });
            }
            const v = Reflect.get(target, key) as unknown;
            return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
          },
        }),
      };
    },
    release() { open = true; wake(); },
  };
}
