/**
 * Hostile volunteers against a real coordinator, as raw socket.io clients:
 * each is watched winning against the old rules, then losing.
 */
import { describe, expect, it } from 'vitest';
import type { Assignment } from '../../shared/protocol/events.ts';
import { encodeTensors } from '../../shared/tensor/codec.ts';
import { tensorFromTyped } from '../../shared/tensor/tensor.ts';
import type { SpawnedCoordinator } from '../helpers/coordinator.ts';
import { mlpModel, randomInput } from '../helpers/onnx-builder.ts';
import { perTest } from '../helpers/per-test.ts';
import { call, connect, hello, nextCopy, ok, type RawSocket } from '../helpers/raw-client.ts';
import { startVolunteer, type TestVolunteer } from '../helpers/volunteers.ts';
import { waitForJob } from '../helpers/wait.ts';

describe('hostile volunteers', () => {
  const spawned = perTest();
  const defer = spawned.defer;
  // No spot checks: a known-answer copy (spot-checks.ts) drawn at random for some work request would be one
  // more copy, error or release beside the ones each test counts.
  const coordinator = (args: string[]) => spawned.coordinator(['--spot-checks', '0', ...args]);
  function volunteer(url: string): TestVolunteer {
    const v = startVolunteer(url);
    defer(() => v.stop());
    return v;
  }
  /** A raw volunteer that has said hello and holds the next copy it is given. */
  async function hostile(url: string): Promise<{ socket: RawSocket; copy: Assignment }> {
    const socket = await connect(url);
    defer(() => { socket.close(); });
    await hello(socket);
    return { socket, copy: await nextCopy(socket) };
  }
  /**
   * `n` identities from one network (127.0.0.1), one after another, each taking the shard's copy and doing
   * `act(i)` with it: reporting it failed, or handing it back.
   */
  async function identitiesThat(c: SpawnedCoordinator, n: number, act: (i: number) => 'fail' | 'release'): Promise<void> {
    for (let i = 0; i < n; i++) {
      const liar = await hostile(c.url);
      if (act(i) === 'fail') await ok(call(liar.socket, 'work:fail', { copyId: liar.copy.copyId, error: `identity ${i}: cannot compute` }));
      else await ok(call(liar.socket, 'work:release', { copyId: liar.copy.copyId }));
    }
  }
  async function job(c: SpawnedCoordinator, o: { records: number; shardSize: number; replicas: number; leaseSeconds?: number }) {
    const model = await c.api.uploadBlob(mlpModel({ width: 8, layers: 1 }));
    const x = await c.api.uploadBlob(encodeTensors([{ name: 'x', ...tensorFromTyped('float32', [o.records, 8], randomInput(o.records, 8)) }]));
    return c.api.createJob({ model, inputs: [{ blob: x, format: 'tensors' }], shardSize: o.shardSize, replicas: o.replicas, ...(o.leaseSeconds ? { leaseSeconds: o.leaseSeconds } : {}) });
  }

  it('gives a shard to a NAT-shared address after one of its volunteers errored on it', async () => {
    // Every client here connects from 127.0.0.1: one address, as behind a NAT.
    const c = await coordinator(['--distinct-copies', 'wallet,address']);
    const j = await job(c, { records: 4, shardSize: 4, replicas: 1 });
    const failing = await hostile(c.url);
    await ok(call(failing.socket, 'work:fail', { copyId: failing.copy.copyId, error: 'out of memory' }));
    // The volunteer that errored is not given the shard again...
    const again = await ok(call<{ assignment: Assignment | null }>(failing.socket, 'work:request', {}));
    expect(again.assignment).toBeNull();
    // ...but another volunteer behind the same address is, and finishes the job.
    const honest = volunteer(c.url);
    const done = await waitForJob(c.api, j.id, 60_000);
    expect(done.state).toBe('completed');
    await expect.poll(() => honest.uploaded.length, { timeout: 20_000 }).toBe(1);
    // The errored copy cannot come back late beside its sibling's result from the same address.
    const late = await call(failing.socket, 'work:result', {
      copyId: failing.copy.copyId, computeMs: 1,
      outputs: [{ name: 'y', dtype: 'float32', dims: [4, 8], data: new Uint8Array(4 * 8 * 4) }],
    });
    expect(late).toMatchObject({ ok: false, code: 'conflict' });
    expect((late as { error: string }).error).toMatch(/went to another volunteer with your address; this late result is not needed/);
  }, 120_000);

  it('takes a copy back from a volunteer that heartbeats forever once it reaches its hold ceiling, tells it why, and the job completes', async () => {
    const c = await coordinator([]);
    const j = await job(c, { records: 4, shardSize: 4, replicas: 1, leaseSeconds: 2 });
    const squatter = await hostile(c.url);
    const since = Date.now();
    await ok(call(squatter.socket, 'work:ack', { copyId: squatter.copy.copyId }));
    // Heartbeats far more often than the 2 s lease needs (one after the lease ran out loses the copy), until the copy is gone.
    let lost: { copyId: string; reason: string } | undefined;
    while (!lost) {
      const r = await ok(call<{ extended: string[]; lost: { copyId: string; reason: string }[] }>(squatter.socket, 'work:heartbeat', { copyIds: [squatter.copy.copyId] }));
      lost = r.lost[0];
      if (!lost) await new Promise((res) => setTimeout(res, 200));
    }
    const heldMs = Date.now() - since;
    // Expired by the reconciler, or (a heartbeat first) run out at its ceiling: either way the squatter hears why.
    expect(lost.reason).toMatch(/^copy is (expired|overdue, its lease ran out \d+ s ago): held 8 s, the most one copy of this job may be held \(4 leases, or 10 runs on a slow device\): reissued to another volunteer$/);
    // The ceiling is 4 leases of 2 s.
    expect(heldMs).toBeGreaterThanOrEqual(8000);
    // The shard wants a copy again, but not from the squatter: a copy held to the ceiling bars its holder
    // (eligibility.ts), unlike one handed back or expired for want of an acknowledgement or heartbeat.
    const again = await ok(call<{ assignment: Assignment | null }>(squatter.socket, 'work:request', {}));
    expect(again.assignment).toBeNull();
    const honest = volunteer(c.url);
    const done = await waitForJob(c.api, j.id, 60_000);
    expect(done.state).toBe('completed');
    expect(done.copies).toMatchObject({ expired: 1 });
    await expect.poll(() => honest.uploaded.length, { timeout: 20_000 }).toBe(1);
  }, 120_000);

  it('does not let four failing identities from one network fail a job that honest volunteers can finish', async () => {
    const c = await coordinator(['--distinct-copies', 'wallet,address']);
    const j = await job(c, { records: 4, shardSize: 4, replicas: 1 });
    // Four identities (one more than the job's 3 tolerated errors), all from 127.0.0.1, each failing the copy it gets.
    await identitiesThat(c, 4, () => 'fail');
    await c.waitForLog((l) => l.msg === 'volunteer could not compute its copy; it will be reissued' && /identity 3/.test(String(l.error)));
    expect((await c.api.job(j.id))).toMatchObject({ state: 'running', copies: { error: 4 } });
    const honest = volunteer(c.url);
    const done = await waitForJob(c.api, j.id, 60_000);
    expect(done.state).toBe('completed');
    await expect.poll(() => honest.uploaded.length, { timeout: 20_000 }).toBe(1);
  }, 120_000);

  it('does not let twelve identities from one network use up a shard\'s copy budget by failing and handing back its copies', async () => {
    const c = await coordinator(['--distinct-copies', 'wallet,address']);
    const j = await job(c, { records: 4, shardSize: 4, replicas: 1 });
    // Twelve identities from 127.0.0.1 (the job may issue 10 copies of a shard): each takes the copy, then
    // reports it failed (even ones) or hands it back unstarted (odd ones). One source, so one charge.
    await identitiesThat(c, 12, (i) => (i % 2 === 0 ? 'fail' : 'release'));
    expect(await c.api.job(j.id)).toMatchObject({ state: 'running', copies: { error: 6 } });
    const honest = volunteer(c.url);
    const done = await waitForJob(c.api, j.id, 60_000);
    expect(done.state).toBe('completed');
    await expect.poll(() => honest.uploaded.length, { timeout: 20_000 }).toBe(1);
  }, 120_000);

  const SITE = '0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed';
  /** Makes the coordinator's one project credit every embed visitor to SITE; returns the project id. */
  async function siteWalletProject(c: SpawnedCoordinator): Promise<string> {
    await c.api.setEmbed({ allowedOrigins: [], defaultIntensity: 0.3, creditTo: 'site', siteWallet: SITE });
    return (await c.api.project()).id;
  }

  it('gives the second copy of a site-wallet embed shard to a visitor on another network, never to one on the same address', async () => {
    const c = await coordinator(['--distinct-copies', 'wallet,address']);
    const projectId = await siteWalletProject(c);
    await job(c, { records: 4, shardSize: 4, replicas: 2 });
    const embedHello = { projectId, embedOrigin: 'https://news.example', wallet: '0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359' };
    const visitor = async (address: string) => {
      const socket = await connect(c.url, { localAddress: address });
      defer(() => { socket.close(); });
      expect((await hello(socket, embedHello)).account).toBe(SITE);
      return socket;
    };
    const request = async (s: RawSocket) => (await ok(call<{ assignment: Assignment | null }>(s, 'work:request', {}))).assignment;
    const first = await visitor('127.0.30.1');
    const a = await request(first);
    expect(a).not.toBeNull();
    // Its result comes back first (any well-formed one: nothing is judged before the second): one copy at a time,
    // nobody gets a shard's second copy while the first is out, and the refusals below must be the address rule's.
    const rows = a!.inputs[0]!.dims[0]!;
    const outputs = a!.outputs.map((name) => ({ name, dtype: 'float32', dims: [rows, 8], data: new Uint8Array(new Float32Array(rows * 8).buffer) }));
    expect((await ok(call<{ status: string }>(first, 'work:result', { copyId: a!.copyId, outputs, computeMs: 1 }))).status).toBe('accepted');
    // The same visitor, and another visitor behind its address, are refused the shard's second copy...
    expect(await request(first)).toBeNull();
    expect(await request(await visitor('127.0.30.1'))).toBeNull();
    // ...while a visitor elsewhere gets it, though every one of them is credited to the one site wallet.
    const b = await request(await visitor('127.0.40.1'));
    // The same shard's other copy: the assignment says nothing of shards (opaque copy ids), the coordinator's log does.
    const shardOf = async (copyId: string) => (await c.waitForLog((l) => l.msg === 'assigned copy' && l.copy === copyId)).shard;
    expect(b!.jobId).toBe(a!.jobId);
    expect(await shardOf(b!.copyId)).toBe(await shardOf(a!.copyId));
    expect(b!.copyId).not.toBe(a!.copyId);
  }, 120_000);

  it('completes a site-wallet embed job at replicas 2 with visitors from two networks, crediting the site wallet', async () => {
    const c = await coordinator(['--distinct-copies', 'wallet,address']);
    const projectId = await siteWalletProject(c);
    const j = await job(c, { records: 8, shardSize: 4, replicas: 2 });
    const embed = { projectId, embedOrigin: 'https://news.example' };
    const visitors = ['127.0.50.1', '127.0.60.1'].map((localAddress) => {
      const v = startVolunteer(c.url, { embed, localAddress });
      defer(() => v.stop());
      return v;
    });
    const done = await waitForJob(c.api, j.id, 60_000);
    expect(done.state).toBe('completed');
    // Both visitors computed both shards: two copies of each, one per network.
    await expect.poll(() => visitors.map((v) => v.uploaded.length), { timeout: 20_000 }).toEqual([2, 2]);
    expect(visitors.map((v) => v.account())).toEqual([SITE, SITE]);
  }, 120_000);
});
