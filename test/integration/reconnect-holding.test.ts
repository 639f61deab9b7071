/**
 * A `tabgrid worker --node` volunteer (the shared Volunteer loop, a real
 * socket and onnxruntime) whose connection drops while it computes a copy
 * says at its next hello that it holds it, and the coordinator keeps it with
 * a fresh lease: the copy no longer depends on a heartbeat landing inside the
 * disconnect grace. Ordered by construction, not by the clock: the connection
 * is cut as the copy's acknowledgement comes back, the volunteer reconnects
 * only once the coordinator has cut the copy's lease to the grace, and its
 * heartbeats are held back until the coordinator has settled the copy one way
 * or the other: kept at the hello, or run out its grace and expired. So the
 * fix passes as soon as its hello is answered (the grace, 60 s, only has to
 * cover a reconnect and a hello), and without it the first heartbeat after
 * the reconnect always finds the copy expired and reissued.
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

describe('a --node volunteer whose connection drops while it computes', () => {
  const spawned = perTest();

  it('keeps its copy: the hello after reconnecting says it holds it, and it is not reissued', async () => {
    // Ample for a reconnect and a hello on a loaded machine; only the run without the fix waits it out.
    const c = await spawned.coordinator(['--disconnect-grace', '60']);
    const executor = new ShardExecutor({ ort, backend: 'wasm', loadBlob: blobLoader(c.url) });
    const raw: VolunteerSocket = io(c.url, { path: SOCKET_PATH, auth: { protocol: PROTOCOL_VERSION }, transports: ['websocket'], autoConnect: false });

    // Between the volunteer and its socket: the connection is cut as the first acknowledgement comes back,
    // (re)connecting waits while the test keeps the volunteer offline, heartbeats wait until the copy is settled
    // (kept or expired), and their replies are recorded.
    const acked = signal<string>();
    const settled = signal();
    let offline = false;
    let connectWanted = false;
    let reconnected = false;
    const beat = signal<Beat>();
    const socket = new Proxy(raw, {
      get(target, key) {
        if (key === 'connect') return () => { if (offline) connectWanted = true; else target.connect(); return socket; };
        if (key === 'timeout') {
          return (ms: number) => ({
            emit(event: string, payload: { copyId?: string }, cb: Cb) {
              const send = () => (target.timeout(ms) as unknown as { emit: (e: string, p: unknown, cb: Cb) => void }).emit(event, payload, (err, r) => {
                if (event === 'work:ack' && !err && r.ok && !offline && !reconnected) {
                  // Cut now, before any heartbeat for it could go out (they wait for `settled` in any case).
                  offline = true;
                  target.disconnect();
                  acked.fire(payload.copyId!);
                }
                if (event === 'work:heartbeat' && reconnected && !err && r.ok) beat.fire(r as unknown as Beat);
                cb(err, r);
              });
              if (event === 'work:heartbeat') void settled.fired.then(send);
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
    const uploads: { copyId: string; status: string }[] = [];
    const delivered = signal();
    let hellos = 0;
    const helloAgain = signal();
    const volunteer = new Volunteer({
      socket,
      hello: { backend: 'wasm', capabilities: nodeCapabilities() },
      pending: new MemoryPendingStore(),
      execute: async (a: Assignment) => { await gate; return executor.run(a); },
      hooks: {
        hello: () => { if (++hellos === 2) helloAgain.fire(); },
        uploaded: (copyId, status) => { uploads.push({ copyId, status }); delivered.fire(); },
      },
    });
    spawned.defer(async () => { open(); await volunteer.stop(); raw.disconnect(); await executor.dispose(); });
    volunteer.start();

    const job = await submitMlpJob(c.api, { records: 8, shardSize: 8, width: 16, layers: 2, seed: 7, replicas: 1 });
    const copyId = await acked.fired;
    // The coordinator saw the volunteer go and cut the copy's lease to the grace; only then does it come back.
    await c.waitForLog((l) => l.msg === 'volunteer disconnected holding copies: reissuing them unless it returns in time');
    reconnected = true;
    offline = false;
    if (connectWanted) raw.connect();
    await helloAgain.fired;
    // Kept for it at the hello (the fix), or expired at the end of its grace (without it); heartbeats go only now.
    await c.waitForLog((l) => (l.msg === 'volunteer came back holding copies: kept for it with a fresh lease' && (l.copies as string[]).includes(copyId))
      || (l.msg === 'copy expired; its shard will be reissued' && l.copy === copyId), 90_000);
    settled.fire();

    // The first heartbeat the coordinator hears after the reconnect: the copy is still this volunteer's.
    const next = await beat.fired;
    expect(next).toMatchObject({ extended: [copyId], lost: [] });
    open();
    await delivered.fired;
    expect(uploads).toEqual([{ copyId, status: 'accepted' }]);
    expect((await waitForJob(c.api, job.id)).state).toBe('completed');
    // Lost copies: none expired, none reissued.
    expect(c.logs.filter((l) => l.msg === 'copy expired; its shard will be reissued')).toEqual([]);
    expect(c.logs.filter((l) => l.msg === 'assigned copy' && l.job === job.id)).toHaveLength(1);
    expect(c.logs.some((l) => l.msg === 'volunteer came back holding copies: kept for it with a fresh lease' && (l.copies as string[]).includes(copyId))).toBe(true);
  }, 180_000);
});
