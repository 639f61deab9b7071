// The shared Volunteer loop and the copies it holds (held.ts): written down on every change, offered back at the next
// run's first hello, and the ones the coordinator kept computed first, under the same copies; a scripted coordinator.
import { describe, expect, it } from 'vitest';
import type { Assignment, HeldCopy, HelloRequest } from '../../../shared/protocol/events.ts';
import { MemoryHeldCopies } from '../../../shared/volunteer/held.ts';
import { MemoryPendingStore } from '../../../shared/volunteer/pending.ts';
import { Volunteer, type VolunteerSocket } from '../../../shared/volunteer/volunteer.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const assignment = (copyId: string): Assignment => ({
  copyId, jobId: 'j', projectId: 'p', kind: 'inference', model: { hash: 'm', url: '/blobs/m', bytes: 1 },
  feedBlobs: [], inputs: [{ name: 'x', dtype: 'float32', dims: [1], data: new Uint8Array(4) }], batchedInputs: ['x'], runUnit: 0,
  outputs: ['y'], ackWithinMs: 15_000, leaseMs: 120_000,
});

/** A coordinator that keeps, of the copies a hello offers, those in `mine`, and has `fresh` copies to hand out. */
class Coordinator {
  connected = true;
  id = 'socket-1';
  auth: object = {};
  readonly events: string[] = [];
  offered: HeldCopy[] | undefined;
  readonly returned: string[] = [];

  constructor(private readonly mine: Set<string>, private readonly fresh: string[]) {}

  on(): this { return this; }
  connect(): void {}

  timeout() {
    return {
      emit: (event: string, p: { copyId?: string; holding?: HeldCopy[] }, cb: (err: Error | null, r: unknown) => void) => {
        this.events.push(event === 'work:result' ? `result ${p.copyId}` : event);
        setTimeout(() => cb(null, this.reply(event, p)), 1);
      },
    };
  }

  private reply(event: string, p: { copyId?: string; holding?: HeldCopy[] }): unknown {
    switch (event) {
      case 'hello': {
        this.offered = p.holding;
        const kept = (p.holding ?? []).filter((h) => this.mine.has(h.copyId));
        return {
          ok: true, volunteerId: 'v', account: 'volunteer:v', numericClass: 'x', heartbeatMs: 10_000, limits: { maxResultBytes: 1e9 },
          ...(p.holding ? {
            holding: {
              resumed: kept.map((h) => h.copyId),
              refused: p.holding.filter((h) => !this.mine.has(h.copyId)).map((h) => ({ copyId: h.copyId, reason: `copy ${h.copyId} is not assigned to you` })),
              resent: kept.filter((h) => h.state === 'interrupted').map((h) => assignment(h.copyId)),
            },
          } : {}),
        };
      }
      case 'work:request': {
        const id = this.fresh.shift();
        return { ok: true, assignment: id ? assignment(id) : null, retryInMs: 5000, reason: 'none' };
      }
      case 'work:result':
        this.returned.push(p.copyId!);
        return { ok: true, status: 'accepted' };
      default: return { ok: true };
    }
  }
}

function start(coord: Coordinator, held: MemoryHeldCopies, pending = new MemoryPendingStore()) {
  const computed: string[] = [];
  const saves: string[][] = [];
  const save = held.save.bind(held);
  held.save = (ids) => { saves.push([...ids]); save(ids); };
  const v = new Volunteer({
    socket: coord as unknown as VolunteerSocket, hello: {} as HelloRequest, pending, held,
    execute: async (a) => {
      computed.push(a.copyId);
      await sleep(2);
      return { outputs: [{ name: 'y', dtype: 'float32', dims: [1], data: new Uint8Array(4) }], computeMs: 2 };
    },
  });
  v.start();
  return { v, computed, saves };
}

describe('the copies a volunteer holds', () => {
  it('are offered back at the next run\'s first hello; those kept for it are computed first, under the same copies', async () => {
    const held = new MemoryHeldCopies();
    held.ids = ['c-in-hand', 'c-ahead', 'c-other'];
    held.assignments.set('c-in-hand', assignment('c-in-hand'));
    const coord = new Coordinator(new Set(['c-in-hand', 'c-ahead']), ['c-new']);
    const { v, computed } = start(coord, held);
    for (let i = 0; i < 200 && coord.returned.length < 3; i++) await sleep(5);
    await v.stop();
    // The one whose assignment was kept is computing; the one fetched ahead was lost with the page: sent again.
    expect(coord.offered).toEqual([
      { copyId: 'c-in-hand', state: 'computing' }, { copyId: 'c-ahead', state: 'interrupted' }, { copyId: 'c-other', state: 'interrupted' },
    ]);
    expect(computed).toEqual(['c-in-hand', 'c-ahead', 'c-new']);
    expect(coord.returned).toEqual(['c-in-hand', 'c-ahead', 'c-new']);
    // Everything delivered: nothing is written down any more.
    expect(held.ids).toEqual([]);
  });

  it('are written down as soon as they arrive, and forgotten once delivered', async () => {
    const held = new MemoryHeldCopies();
    const coord = new Coordinator(new Set(), ['c0', 'c1']);
    const { v, saves } = start(coord, held);
    for (let i = 0; i < 200 && coord.returned.length < 2; i++) await sleep(5);
    await v.stop();
    expect(coord.offered).toBeUndefined();
    expect(saves[0]).toEqual(['c0']);
    expect(new Set(saves.flat())).toEqual(new Set(['c0', 'c1']));
    expect(saves.at(-1)).toEqual([]);
  });

  it('a copy whose result was kept before the reload is offered as kept and not computed again: the kept result goes out', async () => {
    const held = new MemoryHeldCopies();
    held.ids = ['c-done'];
    const pending = new MemoryPendingStore();
    await pending.save({ copyId: 'c-done', outputs: [{ name: 'y', dtype: 'float32', dims: [1], data: new Uint8Array(4) }], computeMs: 1, savedAt: 0 });
    const coord = new Coordinator(new Set(['c-done']), []);
    const { v, computed } = start(coord, held, pending);
    for (let i = 0; i < 200 && coord.returned.length < 1; i++) await sleep(5);
    await v.stop();
    expect(coord.offered).toEqual([{ copyId: 'c-done', state: 'kept' }]);
    expect(computed).toEqual([]);
    expect(coord.returned).toEqual(['c-done']);
  });
});
