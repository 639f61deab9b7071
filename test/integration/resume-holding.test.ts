/**
 * A hello that lists the copies its volunteer still holds (a reload, a
 * dropped connection) keeps them for it with a fresh lease, instead of
 * leaving them to run out the disconnect grace and be reissued; and a
 * hostile client can claim nothing with it. Raw socket.io clients against a
 * real coordinator: each forged claim (another volunteer's copy, an id that
 * does not exist, a copy that expired, one of a private project whose group
 * the claimant left, one announced in another numeric class, a volunteer new
 * with this hello, a list too long or with an id twice) is refused with its
 * reason, and the copies' rows are read back unchanged.
 */
import Database from 'better-sqlite3';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { nodeCapabilities } from '../../cli/commands/worker-node.ts';
import { TabgridClient } from '../../shared/http/client.ts';
import { type HelloReply, MAX_HELD_IN_HELLO } from '../../shared/protocol/events.ts';
import { encodeTensors } from '../../shared/tensor/codec.ts';
import { tensorFromTyped } from '../../shared/tensor/tensor.ts';
import type { SpawnedCoordinator } from '../helpers/coordinator.ts';
import { mlpModel, randomInput } from '../helpers/onnx-builder.ts';
import { perDescribe } from '../helpers/per-test.ts';
import { call, connect, nextCopy, ok, type RawSocket } from '../helpers/raw-client.ts';

type Row = { id: string; volunteer_id: string; state: string; deadline: number; reason: string | null };

describe('copies a hello says it holds', () => {
  // A disconnect grace long enough for every claim below (the machine may be slow), far shorter than the jobs' leases.
  const coordinator = perDescribe(['--disconnect-grace', '60']);
  let c: SpawnedCoordinator;
  let db: Database.Database;
  const sockets: RawSocket[] = [];
  /** A project's job of `shards` one-record shards, one replica each, with a lease of `leaseSeconds` (10 minutes). */
  let job: (api: TabgridClient, shards: number, leaseSeconds?: number) => Promise<string>;

  beforeAll(() => {
    c = coordinator.c;
    db = new Database(join(c.dataDir, 'tabgrid.sqlite'), { readonly: true });
    coordinator.defer(() => { for (const s of sockets) s.close(); db.close(); });
    const model = mlpModel({ width: 8, layers: 1, seed: 5 });
    job = async (api, shards, leaseSeconds) => {
      const input = await api.uploadBlob(encodeTensors([{ name: 'x', ...tensorFromTyped('float32', [shards, 8], randomInput(shards, 8, shards)) }]));
      const created = await api.createJob({
        model: await api.uploadBlob(model), inputs: [{ name: 'x', blob: input, format: 'tensors' }], shardSize: 1, replicas: 1,
        leaseSeconds: leaseSeconds ?? 600,
      });
      return created.id;
    };
  });
  const open = async (auth?: { volunteerId: string; secret: string }) => {
    const s = await connect(c.url, auth ? { auth } : {});
    sockets.push(s);
    return s;
  };
  const helloOn = (s: RawSocket, extra: object = {}) => call<HelloReply>(s, 'hello', { backend: 'wasm', capabilities: nodeCapabilities(), ...extra });
  const rows = (ids: string[]): Row[] => ids.map((id) => db.prepare('SELECT id, volunteer_id, state, deadline, reason FROM copies WHERE id = ?').get(id) as Row);
  /** Says goodbye, and waits until the coordinator has cut the copies' leases to the disconnect grace. */
  const leave = async (s: RawSocket, volunteerId: string) => {
    const seen = c.logs.length;
    s.close();
    await c.waitForLog((l) => c.logs.indexOf(l) >= seen && l.msg === 'volunteer disconnected holding copies: reissuing them unless it returns in time' && l.volunteer === volunteerId);
  };
  const refusal = (copyId: string, reason: unknown) => ({ copyId, reason });

  it('keeps its own copies in flight for a volunteer that comes back, and refuses every other claim, changing nothing', async () => {
    const operator = new TabgridClient(c.url, readFileSync(join(c.dataDir, 'operator-token'), 'utf8').trim());
    const crew = await operator.createProject({ name: 'crew', private: true });
    const crewApi = new TabgridClient(c.url, crew.token);
    const { code } = await crewApi.createInvite('crew');

    // A: in the crew's group. First an expired copy of its own: a one-second lease, acknowledged, left to run out
    // (its job is then cancelled, so it is not handed out again).
    const aSocket = await open();
    const a = await ok(helloOn(aSocket));
    await ok(call(aSocket, 'group:join', { code }));
    const shortJob = await job(c.api, 1, 1);
    const expired = await nextCopy(aSocket);
    expect(expired.jobId).toBe(shortJob);
    await ok(call(aSocket, 'work:ack', { copyId: expired.copyId }));
    await c.waitForLog((l) => l.msg === 'copy expired; its shard will be reissued' && l.copy === expired.copyId);
    await c.api.cancel(shortJob);
    // Then A holds one copy of the crew's job and one public copy, both acknowledged.
    await job(crewApi, 1);
    const crewCopy = await nextCopy(aSocket);
    const publicJob = await job(c.api, 3);
    const mine = await nextCopy(aSocket);
    expect([crewCopy.projectId, mine.jobId]).toEqual([crew.project.id, publicJob]);
    for (const x of [crewCopy, mine]) await ok(call(aSocket, 'work:ack', { copyId: x.copyId }));
    // B: another volunteer, holding a public copy of its own.
    const bSocket = await open();
    const b = await ok(helloOn(bSocket));
    const theirs = await nextCopy(bSocket);
    await ok(call(bSocket, 'work:ack', { copyId: theirs.copyId }));

    // A leaves the crew's group, then its connection drops: its copies now wait out the disconnect grace.
    await ok(call(aSocket, 'group:leave', { projectId: crew.project.id }));
    await leave(aSocket, a.volunteerId);
    const ids = [mine.copyId, crewCopy.copyId, theirs.copyId, expired.copyId];
    const before = rows(ids);
    expect(before.map((r) => r.state)).toEqual(['running', 'running', 'running', 'expired']);
    const aCreds = { volunteerId: a.volunteerId, secret: a.secret! };
    const bCreds = { volunteerId: b.volunteerId, secret: b.secret! };

    // B claims A's copy and an id that does not exist: the same words for both, nothing learned, nothing changed.
    const asB = await ok(helloOn(await open(bCreds), { holding: [{ copyId: mine.copyId, state: 'computing' }, { copyId: 'no-such-copy', state: 'kept' }] }));
    expect(asB.holding).toEqual({
      resumed: [], resent: [],
      refused: [refusal(mine.copyId, `copy ${mine.copyId} is not assigned to you`), refusal('no-such-copy', 'copy no-such-copy is not assigned to you')],
    });
    // A volunteer new with this hello holds nothing, whatever it names.
    const fresh = await ok(helloOn(await open(), { holding: [{ copyId: theirs.copyId, state: 'interrupted' }] }));
    expect(fresh.holding).toEqual({ resumed: [], resent: [], refused: [refusal(theirs.copyId, `copy ${theirs.copyId} is not assigned to you`)] });
    // Too many ids, or one twice: the whole hello is refused before anything is read.
    const many = Array.from({ length: MAX_HELD_IN_HELLO + 1 }, (_, i) => ({ copyId: `copy-${String(i).padStart(4, '0')}`, state: 'computing' }));
    expect(await helloOn(await open(bCreds), { holding: many })).toEqual({ ok: false, code: 'bad_request', error: `invalid hello payload: holding: at most ${MAX_HELD_IN_HELLO} copies` });
    expect(await helloOn(await open(bCreds), { holding: [{ copyId: theirs.copyId, state: 'kept' }, { copyId: theirs.copyId, state: 'computing' }] }))
      .toEqual({ ok: false, code: 'bad_request', error: `invalid hello payload: holding: copy ${theirs.copyId} is listed more than once` });
    expect(await helloOn(await open(bCreds), { holding: [{ copyId: theirs.copyId, state: 'stolen' }] }))
      .toEqual({ ok: false, code: 'bad_request', error: 'invalid hello payload: holding.0.state: state must be computing, kept or interrupted' });
    // A itself, announcing another numeric class than its copies were assigned to: not for this class to finish.
    const gpu = { backend: 'webgpu', capabilities: { ...nodeCapabilities(), backends: ['webgpu', 'wasm'], gpu: { vendor: 'v', architecture: 'a', features: [], maxStorageBufferBindingSize: 1, maxBufferSize: 1 } } };
    const asGpu = await ok(helloOn(await open(aCreds), { ...gpu, holding: [{ copyId: mine.copyId, state: 'computing' }] }));
    expect(asGpu.holding!.refused).toEqual([refusal(mine.copyId, `copy ${mine.copyId} was assigned to numeric class wasm/ort-${nodeCapabilities().ortVersion}, and this hello announces ${asGpu.numericClass}`)]);
    expect(rows(ids)).toEqual(before);

    // A comes back as it was: its public copy is kept with a fresh lease; the crew's copy (it left the group), B's copy
    // and its expired copy are refused, each with its reason, and stay as they were.
    const back = await ok(helloOn(await open(aCreds), { holding: ['computing', 'computing', 'computing', 'kept'].map((state, i) => ({ copyId: ids[i], state })) }));
    expect(back.holding).toEqual({
      resumed: [mine.copyId], resent: [],
      refused: [
        refusal(crewCopy.copyId, `copy ${crewCopy.copyId} is of a private project whose group you are not in`),
        refusal(theirs.copyId, `copy ${theirs.copyId} is not assigned to you`),
        // Expired at its lease, or at its hold ceiling (four one-second leases) if its acknowledgement came late.
        refusal(expired.copyId, expect.stringMatching(new RegExp(`^copy ${expired.copyId} is expired \\((lease expired without heartbeat or result|held 4 s, .*)\\): it is no longer held for you$`))),
      ],
    });
    const after = rows(ids);
    expect(after.slice(1)).toEqual(before.slice(1));
    // Its lease is the job's lease (600 s) from the hello again, not what was left of the 60 s grace.
    expect(after[0]).toMatchObject({ state: 'running', volunteer_id: a.volunteerId });
    expect(after[0]!.deadline - before[0]!.deadline).toBeGreaterThan(400_000);
  });

  it('sends an interrupted copy\'s assignment again, under the same copy', async () => {
    const first = await open();
    const v = await ok(helloOn(first));
    await job(c.api, 1);
    const copy = await nextCopy(first);
    await leave(first, v.volunteerId);

    // A reload lost the assignment; the page kept the copy's id and asks for it again.
    const again = await open({ volunteerId: v.volunteerId, secret: v.secret! });
    const back = await ok(helloOn(again, { holding: [{ copyId: copy.copyId, state: 'interrupted' }] }));
    expect(back.holding!.resumed).toEqual([copy.copyId]);
    expect(back.holding!.resent.map((a) => ({ copyId: a.copyId, jobId: a.jobId, inputs: a.inputs.map((t) => ({ ...t, data: [...new Uint8Array(t.data)] })) })))
      .toEqual([{ copyId: copy.copyId, jobId: copy.jobId, inputs: copy.inputs.map((t) => ({ ...t, data: [...new Uint8Array(t.data)] })) }]);
    expect(rows([copy.copyId])[0]).toMatchObject({ state: 'running', volunteer_id: v.volunteerId });
  });
});
