// The shared Volunteer loop and the weights it keeps for local-steps jobs (a tab's IndexedDB): after its hello it
// names them in `jobs:held` and drops those the reply says ended (only those it asked about); a `jobs:ended` push
// drops what it names, and a malformed one drops nothing. Against a scripted coordinator, no sockets.
import { describe, expect, it } from 'vitest';
import type { HelloRequest } from '../../../shared/protocol/events.ts';
import { MAX_HELD_JOBS } from '../../../shared/protocol/schemas.ts';
import { MemoryPendingStore } from '../../../shared/volunteer/pending.ts';
import { Volunteer, type VolunteerSocket } from '../../../shared/volunteer/volunteer.ts';

class ScriptedCoordinator {
  connected = true;
  id = 'socket-1';
  auth: object = {};
  readonly asked: unknown[] = [];
  private handlers = new Map<string, (payload: unknown) => void>();

  constructor(private readonly ended: string[]) {}

  on(event: string, fn: (payload: unknown) => void): this {
    this.handlers.set(event, fn);
    return this;
  }
  connect(): void {}
  /** What the coordinator pushes. */
  push(event: string, payload: unknown): void {
    this.handlers.get(event)!(payload);
  }

  timeout() {
    return {
      emit: (event: string, payload: unknown, cb: (err: Error | null, r: unknown) => void) => {
        setTimeout(() => cb(null, this.reply(event, payload)), 1);
      },
    };
  }

  private reply(event: string, payload: unknown): unknown {
    switch (event) {
      case 'hello': return { ok: true, volunteerId: 'v', account: 'volunteer:v', numericClass: 'x', heartbeatMs: 10_000, limits: { maxResultBytes: 1e9 } };
      case 'jobs:held':
        this.asked.push(payload);
        // Also a job it was not asked about: the volunteer drops only what it named.
        return { ok: true, ended: [...this.ended, 'not-asked-about'] };
      case 'work:request': return { ok: true, assignment: null, retryInMs: 60_000, reason: 'no work' };
      default: return { ok: true };
    }
  }
}

const until = async (cond: () => boolean) => {
  while (!cond()) await new Promise((r) => setTimeout(r, 5));
};

describe('the weights a volunteer keeps', () => {
  it('are named after hello; those of ended jobs are dropped, from the reply or a push', async () => {
    const coord = new ScriptedCoordinator(['job-02']);
    const kept = ['job-01', 'job-02', 'job-03'];
    const dropped: string[][] = [];
    const v = new Volunteer({
      socket: coord as unknown as VolunteerSocket,
      hello: {} as HelloRequest,
      pending: new MemoryPendingStore(),
      execute: async () => { throw new Error('no work is given'); },
      keptWeights: { jobs: async () => kept, drop: async (ids) => { dropped.push([...ids]); } },
    });
    v.start();
    await until(() => dropped.length === 1);
    expect(coord.asked).toEqual([{ jobIds: kept }]);
    expect(dropped).toEqual([['job-02']]);

    coord.push('jobs:ended', { jobIds: ['job-01'] });
    // Malformed pushes drop nothing: not a list, a bad id, more ids than anyone keeps.
    coord.push('jobs:ended', { jobIds: 'job-03' });
    coord.push('jobs:ended', { jobIds: ['../job-03'] });
    coord.push('jobs:ended', { jobIds: Array.from({ length: MAX_HELD_JOBS + 1 }, (_, i) => `job-${String(i).padStart(3, '0')}`) });
    // A push is handled as it arrives: what it drops is asked for at once.
    expect(dropped).toEqual([['job-02'], ['job-01']]);
    await v.stop();
  });

  it('are not asked about when none are kept', async () => {
    const coord = new ScriptedCoordinator([]);
    let listed = 0;
    const v = new Volunteer({
      socket: coord as unknown as VolunteerSocket,
      hello: {} as HelloRequest,
      pending: new MemoryPendingStore(),
      execute: async () => { throw new Error('no work is given'); },
      keptWeights: { jobs: async () => { listed++; return []; }, drop: async () => { throw new Error('nothing to drop'); } },
    });
    v.start();
    await until(() => listed === 1);
    // What follows the listing runs in the same turn: by the next, a request would have been sent.
    await new Promise((r) => setTimeout(r, 0));
    expect(coord.asked).toEqual([]);
    await v.stop();
  });
});
