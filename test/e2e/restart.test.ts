/**
 * A coordinator restart keeps the swarm: SIGTERM, then `tabgrid serve` again
 * on the same port and data directory. The contributor page (real Chromium),
 * a `tabgrid worker --node` process and a `tabgrid worker --tabs` process come
 * back by themselves, as the same volunteers, without a reload, and finish a
 * job submitted after the restart (three replicas per shard and three
 * volunteers: every shard needs all three). A copy in flight across the
 * restart is delivered to the new process and accepted: its lease was not
 * cut short by the shutdown.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { io } from 'socket.io-client';
import type { Page } from 'playwright-core';
import { afterAll, describe, expect, it } from 'vitest';
import { blobLoader, nodeCapabilities } from '../../cli/commands/worker-node.ts';
import type { Assignment } from '../../shared/protocol/events.ts';
import { PROTOCOL_VERSION, SOCKET_PATH } from '../../shared/protocol/version.ts';
import { RECONNECT_OPTIONS } from '../../shared/volunteer/backoff.ts';
import { MemoryPendingStore } from '../../shared/volunteer/pending.ts';
import { Volunteer, type VolunteerSocket } from '../../shared/volunteer/volunteer.ts';
import { ShardExecutor } from '../../shared/worker-core/executor.ts';
import { ort } from '../../server/models/ort-node.ts';
import { CLI, REPO, type SpawnedCoordinator } from '../helpers/coordinator.ts';
import { coordinatorAway, status, waitForStatus } from './browser.ts';
import { submitMlpJob, waitForJob } from './jobs.ts';
import { coordinatorAndChromium } from './tabs.ts';

/** A `tabgrid worker` child process, its output kept. */
function spawnWorker(args: string[]): { proc: ChildProcess; out: string[]; stop(): Promise<void> } {
  const proc = spawn(process.execPath, [CLI, 'worker', ...args], { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'] });
  const out: string[] = [];
  proc.stdout!.on('data', (b: Buffer) => out.push(b.toString()));
  proc.stderr!.on('data', (b: Buffer) => out.push(b.toString()));
  const exited = new Promise<void>((r) => proc.on('exit', () => r()));
  return {
    proc, out,
    async stop() {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      proc.kill('SIGTERM');
      // Stopping finishes the shard in hand; a worker that cannot (its coordinator gone) is killed.
      const t = setTimeout(() => proc.kill('SIGKILL'), 30_000);
      await exited;
      clearTimeout(t);
    },
  };
}

/** A volunteer whose computation waits for a gate: it holds its copy across the restart, by construction. */
function gatedVolunteer(server: string) {
  const executor = new ShardExecutor({ ort, backend: 'wasm', loadBlob: blobLoader(server) });
  const socket: VolunteerSocket = io(server, { path: SOCKET_PATH, auth: { protocol: PROTOCOL_VERSION }, transports: ['websocket'], autoConnect: false, ...RECONNECT_OPTIONS });
  let open!: () => void;
  const gate = new Promise<void>((r) => { open = r; });
  let held!: (a: Assignment) => void;
  const holding = new Promise<Assignment>((r) => { held = r; });
  const uploads: { copyId: string; status: string }[] = [];
  let uploaded!: () => void;
  const delivered = new Promise<void>((r) => { uploaded = r; });
  const volunteer = new Volunteer({
    socket,
    hello: { backend: 'wasm', capabilities: nodeCapabilities() },
    pending: new MemoryPendingStore(),
    execute: async (a) => {
      held(a);
      await gate;
      return executor.run(a);
    },
    hooks: { uploaded: (copyId, s) => { uploads.push({ copyId, status: s }); uploaded(); } },
  });
  volunteer.start();
  return {
    volunteer, socket, holding, uploads, delivered, open,
    async stop() { await volunteer.stop(); socket.disconnect(); await executor.dispose(); },
  };
}

describe('a coordinator restart keeps the swarm', () => {
  const grid = coordinatorAndChromium();
  const { problems } = grid;
  let page: Page;
  let gated: ReturnType<typeof gatedVolunteer> | null = null;
  const workers: ReturnType<typeof spawnWorker>[] = [];

  // Runs before the fixture's (after-hooks run last first): the volunteers stop while the coordinator still runs.
  afterAll(async () => {
    await gated?.stop();
    await Promise.all(workers.map((w) => w.stop()));
  }, 120_000);

  const joinedIds = (c: SpawnedCoordinator) => new Set(c.logs.filter((l) => l.msg === 'volunteer joined').map((l) => String(l.volunteer)));

  /** Waits for volunteers to join; on a timeout says who did, and what the workers printed. */
  async function joined(c: SpawnedCoordinator, done: () => boolean, what: string): Promise<void> {
    try {
      await c.waitForLog(done, 120_000);
    } catch {
      throw new Error(`${what}: joined ${[...joinedIds(c)].join(', ') || 'nobody'}; page ${JSON.stringify(await status(page).catch(() => null))}; `
        + `workers: ${workers.map((w) => w.out.join('').slice(-1500)).join(' | ')}`);
    }
  }

  it('the page, a --node worker and a --tabs worker resume by themselves and finish a job submitted after the restart', async () => {
    const c1 = grid.c;
    // A copy in hand across the restart: one shard, one replica, taken by the gated volunteer before anyone else joins.
    gated = gatedVolunteer(c1.url);
    const early = await submitMlpJob(c1.api, { records: 8, shardSize: 8, width: 16, layers: 2, seed: 3, replicas: 1 });
    const copy = await gated.holding;
    expect(copy.jobId).toBe(early.id);

    ({ page } = await grid.openTab('wasm'));
    workers.push(spawnWorker(['--node', '1', '--server', c1.url]));
    workers.push(spawnWorker(['--tabs', '1', '--backend', 'wasm', '--server', c1.url]));
    const before = await waitForStatus(page, (s) => s.state === 'waiting' && !!s.volunteerId, 'page contributing', 60_000);
    // A mark only this page load carries: a reload would lose it.
    await page.evaluate(() => { (window as unknown as { __sameLoad: boolean }).__sameLoad = true; });
    await joined(c1, () => joinedIds(c1).size >= 4, 'four volunteers before the restart');
    const gatedId = c1.logs.find((l) => l.msg === 'assigned copy' && l.copy === copy.copyId)!.volunteer as string;
    const swarm = [...joinedIds(c1)].filter((id) => id !== gatedId);
    expect(swarm).toHaveLength(3);
    expect(swarm).toContain(before.volunteerId);

    await c1.stop();
    expect(c1.proc.exitCode).toBe(0);
    // Shutting down is not the volunteers leaving: no lease was cut to the disconnect grace.
    expect(c1.logs.filter((l) => String(l.msg).startsWith('volunteer disconnected holding copies'))).toEqual([]);
    expect(c1.logs.filter((l) => l.msg === 'volunteer disconnected' && l.reason !== 'server shutting down')).toEqual([]);

    const c2 = await grid.restart();
    // Everyone comes back as the same volunteer, by themselves.
    await joined(c2, () => [gatedId, ...swarm].every((id) => joinedIds(c2).has(id)), 'the same four after the restart');
    for (const id of [gatedId, ...swarm]) {
      expect(c2.logs.find((l) => l.msg === 'volunteer joined' && l.volunteer === id)!.resumed).toBe(true);
    }

    // The gated volunteer said hello again while its shard was still computing; its copy, held across the restart,
    // is delivered to the new process and accepted.
    gated.open();
    await gated.delivered;
    expect(gated.uploads).toEqual([{ copyId: copy.copyId, status: 'accepted' }]);
    expect((await waitForJob(c2.api, early.id)).state).toBe('completed');
    await gated.stop();
    gated = null;

    // Three replicas and three volunteers left: every shard needs the page, the --node and the --tabs worker.
    const job = await submitMlpJob(c2.api, { records: 48, shardSize: 8, width: 16, layers: 2, seed: 4, replicas: 3 });
    const done = await waitForJob(c2.api, job.id, 120_000);
    expect(done.state).toBe('completed');
    const computedBy = new Set(c2.logs.filter((l) => l.msg === 'assigned copy' && l.job === job.id).map((l) => String(l.volunteer)));
    expect([...computedBy].sort()).toEqual([...swarm].sort());

    const after = await status(page);
    expect(after.volunteerId).toBe(before.volunteerId);
    expect(after.counts.uploaded).toBeGreaterThanOrEqual(job.shards);
    expect(await page.evaluate(() => (window as unknown as { __sameLoad?: boolean }).__sameLoad)).toBe(true);
    expect(workers[1]!.out.join('')).not.toMatch(/reopening|page error/);
    // The page's connections to the coordinator failing while it was away are expected; nothing else.
    expect(problems.filter((p) => !coordinatorAway(c2.url)(p))).toEqual([]);
  }, 300_000);
});
