/**
 * A `tabgrid worker --node` volunteer (the shared Volunteer loop, a real
 * socket and onnxruntime) whose copy the coordinator has taken back, as a
 * heartbeat's reply says (`lost`: its lease ran out), stops computing it
 * (the executor is told to abort; one that cannot stop has its result
 * dropped), uploads nothing for it, says why, and asks for work again: it is
 * given the reissued copy and completes the job with that. Ordered by
 * construction: the copy's heartbeats are held back until the coordinator has
 * expired it, and the computation waits for the test until the volunteer has
 * had the reply that says so.
 */
import { io } from 'socket.io-client';
import { describe, expect, it } from 'vitest';
import { blobLoader, nodeCapabilities } from '../../cli/commands/worker-node.ts';
import type { Assignment, Reply } from '../../shared/protocol/events.ts';
import { PROTOCOL_VERSION, SOCKET_PATH } from '../../shared/protocol/version.ts';
import { MemoryPendingStore } from '../../shared/volunteer/pending.ts';
import { Volunteer, type VolunteerSocket } from '../../shared/volunteer/volunteer.ts';
import { ShardExecutor } from '../../shared/worker-core/executor.ts';
import { ort } from '../../server/models/ort-node.ts';
import { perTest } from '../helpers/per-test.ts';
import { submitMlpJob, waitForJob } from '../e2e/jobs.ts';

type Cb = (err: Error | null, r: Reply<Record<string, unknown>>) => void;
type Beat = { extended: string[]; lost: { copyId: string; reason: string }[] };

function signal<T = void>() {
  let fire!: (v: T) => void;
  const fired = new Promise<T>((r) => { fire = r; });
  return { fire, fired };
}

const aborted = (s: AbortSignal) => new Promise<void>((r) => { if (s.aborted) r(); else s.addEventListener('abort', () => r(), { once: true }); });

describe('a --node volunteer whose copy the coordinator took back', () => {
  const spawned = perTest();

  it.each([
    { executor: 'that stops when told', stops: true },
    { executor: 'that cannot stop', stops: false },
  ])('stops computing it with an executor $executor, uploads nothing for it, says why and takes the reissued copy', async ({ stops }) => {
    const c = await spawned.coordinator();
    const executor = new ShardExecutor({ ort, backend: 'wasm', loadBlob: blobLoader(c.url) });
    const raw: VolunteerSocket = io(c.url, { path: SOCKET_PATH, auth: { protocol: PROTOCOL_VERSION }, transports: ['websocket'], autoConnect: false });

    // Between the volunteer and its socket: heartbeats for the first copy wait until it has expired, their replies
    // are recorded, and so is every copy the volunteer uploads, reports failed or hands back.
    const expired = signal();
    let first: string | null = null;
    const lostHeard = signal<Beat['lost'][number]>();
    const sent: { event: string; copyId: string }[] = [];
    const socket = new Proxy(raw, {
      get(target, key) {
        if (key === 'timeout') {
          return (ms: number) => ({
            emit(event: string, payload: { copyId?: string; copyIds?: string[] }, cb: Cb) {
              const send = () => (target.timeout(ms) as unknown as { emit: (e: string, p: unknown, cb: Cb) => void }).emit(event, payload, (err, r) => {
                cb(err, r);
                const lost = !err && r.ok ? (r as unknown as Beat).lost?.find((x) => x.copyId === first) : undefined;
                if (event === 'work:heartbeat' && lost) lostHeard.fire(lost);
              });
              if (event === 'work:result' || event === 'work:fail' || event === 'work:release') sent.push({ event, copyId: payload.copyId! });
              if (event === 'work:heartbeat' && payload.copyIds!.includes(first!)) void expired.fired.then(send);
              else send();
            },
          });
        }
        const v = Reflect.get(target, key) as unknown;
        return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
      },
    });

    let open!: () => void;
    const gate = new Promise<void>((r) => { open = r; });
    const started = signal<string>();
    /** How the first copy's computation ended: what the executor did once the gate opened or the abort came. */
    const firstRun = signal<string>();
    const uploads: { copyId: string; status: string }[] = [];
    const told: { copyId: string; reason: string }[] = [];
    const errors: string[] = [];
    const volunteer = new Volunteer({
      socket,
      hello: { backend: 'wasm', capabilities: nodeCapabilities() },
      pending: new MemoryPendingStore(),
      execute: async (a: Assignment, abort?: AbortSignal) => {
        if (first === null) {
          first = a.copyId;
          started.fire(a.copyId);
          // An executor that cannot stop only sees the gate; one that can is handed the abort too.
          await (stops && abort ? Promise.race([gate, aborted(abort)]) : gate);
          return executor.run(a, stops ? abort : undefined).then(
            (r) => { firstRun.fire('computed'); return r; },
            (e: Error) => { firstRun.fire(`failed: ${e.message}`); throw e; },
          );
        }
        return executor.run(a, abort);
      },
      hooks: {
        uploaded: (copyId, status) => { uploads.push({ copyId, status }); },
        lost: (copyId, reason) => { told.push({ copyId, reason }); },
        error: (m) => { errors.push(m); },
      },
    });
    spawned.defer(async () => { open(); await volunteer.stop(); raw.disconnect(); await executor.dispose(); });
    volunteer.start();

    // A lease of 5 s: the first copy's runs out while its heartbeats are held; the reissued copy's heartbeats keep it.
    const job = await submitMlpJob(c.api, { records: 8, shardSize: 8, width: 16, layers: 2, seed: 11, replicas: 1, leaseSeconds: 5 });
    const copyId = await started.fired;
    await c.waitForLog((l) => l.msg === 'copy expired; its shard will be reissued' && l.copy === copyId, 60_000);
    expired.fire();
    // The first heartbeat the coordinator hears for it says it is lost; the volunteer has had the reply by now.
    const lost = await lostHeard.fired;
    expect(lost.reason).toBe('copy is expired: lease expired without heartbeat or result');
    open();
    expect(await firstRun.fired).toBe(stops ? 'failed: copy taken back by the coordinator: copy is expired: lease expired without heartbeat or result' : 'computed');

    const done = await waitForJob(c.api, job.id, 60_000);
    expect(done.state).toBe('completed');
    const assigned = c.logs.filter((l) => l.msg === 'assigned copy' && l.job === job.id).map((l) => l.copy as string);
    // It asked for work again and was given the reissued copy: that one is what it uploaded, and nothing of the first.
    expect(assigned).toHaveLength(2);
    expect(assigned[0]).toBe(copyId);
    await expect.poll(() => uploads, { timeout: 20_000 }).toEqual([{ copyId: assigned[1], status: 'accepted' }]);
    expect(sent).toEqual([{ event: 'work:result', copyId: assigned[1] }]);
    // Said why, once.
    expect(told).toEqual([{ copyId, reason: lost.reason }]);
    expect(errors.filter((m) => m.includes(copyId))).toEqual([
      `copy ${copyId} was taken back by the coordinator (${lost.reason}): stopped computing it, nothing uploaded`,
    ]);
  }, 180_000);
});
