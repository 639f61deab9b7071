/**
 * Private swarms (issue 15) on a real coordinator: a private project's work
 * goes only to the volunteers in its group, and its blobs open only with the
 * capability an assignment of it carries.
 *
 * The attackers are raw socket.io clients and plain fetches: a stranger asks
 * for work while the project's job waits (and while members compute it) and
 * gets none of it; it tries malformed, forged and revoked codes, each refused
 * with its own reason and no membership made; bare hashes, hash links signed
 * with the coordinator's own key, capabilities moved to another project's
 * blob or to another copy, and capabilities of copies no longer in flight all
 * open nothing. Members join with `tabgrid worker --node --join CODE` and
 * complete the job. A member the project removes, and one whose invite it
 * revokes, get no more of its work and cannot rejoin by those codes.
 */
import Database from 'better-sqlite3';
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { io, type Socket } from 'socket.io-client';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { nodeCapabilities } from '../../cli/commands/worker-node.ts';
import { sha256 } from '../../server/blobs/blob-store.ts';
import { linkExpiry, signLink } from '../../server/blobs/blob-links.ts';
import { TabgridClient } from '../../shared/http/client.ts';
import type { Assignment, ClientToServerEvents, Reply, ServedProjects, ServerToClientEvents } from '../../shared/protocol/events.ts';
import { PROTOCOL_VERSION, SOCKET_PATH } from '../../shared/protocol/version.ts';
import { encodeTensors } from '../../shared/tensor/codec.ts';
import { tensorFromTyped } from '../../shared/tensor/tensor.ts';
import { CLI, REPO } from '../helpers/coordinator.ts';
import { uploadMnist } from '../helpers/mnist-job.ts';
import { mlpModel, randomInput } from '../helpers/onnx-builder.ts';
import { perDescribe } from '../helpers/per-test.ts';

const run = promisify(execFile);
type S = Socket<ServerToClientEvents, ClientToServerEvents>;
type WorkReply = { assignment: Assignment | null; reason?: string };

/** A raw socket.io client speaking the protocol by hand: what an attacker (or a minimal volunteer) sends. */
class RawClient {
  volunteerId = '';
  private constructor(readonly s: S) {}

  static async connect(url: string, hello: Record<string, unknown> = {}): Promise<RawClient> {
    const s: S = io(url, { path: SOCKET_PATH, auth: { protocol: PROTOCOL_VERSION }, transports: ['websocket'], reconnection: false });
    await new Promise<void>((r, j) => { s.on('connect', () => r()); s.on('connect_error', j); });
    const c = new RawClient(s);
    const h = await c.call<{ volunteerId: string }>('hello', { backend: 'wasm', capabilities: nodeCapabilities(), ...hello });
    if (!h.ok) throw new Error(h.error);
    c.volunteerId = h.volunteerId;
    return c;
  }

  call<R>(event: string, payload: unknown): Promise<Reply<R>> {
    return (this.s as unknown as { emitWithAck(e: string, p: unknown): Promise<Reply<R>> }).emitWithAck(event, payload);
  }

  async work(): Promise<Assignment | null> {
    const r = await this.call<WorkReply>('work:request', {});
    if (!r.ok) throw new Error(r.error);
    return r.assignment;
  }

  async release(copyId: string): Promise<void> {
    const r = await this.call('work:release', { copyId });
    if (!r.ok) throw new Error(r.error);
  }

  async served(): Promise<ServedProjects> {
    const r = await this.call<ServedProjects>('group:list', {});
    if (!r.ok) throw new Error(r.error);
    return { public: r.public, groups: r.groups };
  }

  close() {
    this.s.close();
  }
}

describe('private swarms', () => {
  const shared = perDescribe();
  let operatorToken: string;
  let lab: { api: TabgridClient; token: string; id: string; model: string; input: string };
  let lab2: { api: TabgridClient; model: string };
  let publicModel: string;
  let worker: ChildProcess | undefined;
  let db: Database.Database;
  const clients: RawClient[] = [];
  let code = '';

  /** The CLI as the operator runs it beside the coordinator's data. */
  const tabgrid = async (...args: string[]) => {
    const { c } = shared;
    const r = await run(process.execPath, [CLI, ...args, '--server', c.url, '--data', c.dataDir], { cwd: REPO, env: { ...process.env, TABGRID_OPERATOR_TOKEN: '' } });
    return r.stdout;
  };
  const call = (token: string | null, method: string, path: string, body?: unknown) => fetch(`${shared.c.url}${path}`, {
    method, headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const connect = async (hello: Record<string, unknown> = {}) => {
    const r = await RawClient.connect(shared.c.url, hello);
    clients.push(r);
    return r;
  };
  const input = (seed: number, records = 24) => encodeTensors([{ name: 'x', ...tensorFromTyped('float32', [records, 8], randomInput(records, 8, seed)) }]);
  const labJob = async (o: { shards: number; leaseSeconds?: number }) =>
    (await lab.api.createJob({ model: lab.model, inputs: [{ name: 'x', blob: lab.input, format: 'tensors' }], shardSize: 24 / o.shards, replicas: 1, ...(o.leaseSeconds ? { leaseSeconds: o.leaseSeconds } : {}) })).id;

  beforeAll(async () => {
    const { c } = shared;
    operatorToken = readFileSync(join(c.dataDir, 'operator-token'), 'utf8').trim();
    db = new Database(join(c.dataDir, 'tabgrid.sqlite'), { readonly: true });
    const created = JSON.parse(await tabgrid('project', 'create', 'lab', '--private', '--description', 'our own data', '--json')) as { project: { id: string; private: boolean }; token: string };
    expect(created.project.private).toBe(true);
    const api = new TabgridClient(c.url, created.token);
    lab = { api, token: created.token, id: created.project.id, model: await api.uploadBlob(mlpModel({ width: 8, layers: 1, seed: 11 })), input: await api.uploadBlob(input(3)) };
    const other = await new TabgridClient(c.url, operatorToken).createProject({ name: 'lab2', private: true });
    const api2 = new TabgridClient(c.url, other.token);
    lab2 = { api: api2, model: await api2.uploadBlob(mlpModel({ width: 8, layers: 1, seed: 12 })) };
    await api2.uploadBlob(input(4));
    publicModel = await c.api.uploadBlob(mlpModel({ width: 8, layers: 1, seed: 13 }));
    // The lab's invite the tests join by (the invites test makes and checks its own).
    code = (JSON.parse(await tabgrid('project', 'invite', 'create', 'lab', '--label', 'team', '--json')) as { code: string }).code;
  });
  // Each test starts with none of the project's jobs waiting, whatever the one before left.
  afterEach(async () => {
    for (const j of (await lab.api.jobs()).jobs) if (j.state === 'running') await lab.api.cancel(j.id);
  });
  afterAll(async () => {
    worker?.kill('SIGTERM');
    for (const x of clients) x.close();
    db?.close();
  });

  it('invites: the operator (CLI) and the project\'s own token (HTTP) make, list and revoke them; others are refused and change nothing', async () => {
    const { c } = shared;
    // A private project of this test's own, so its counts are its own whatever ran before.
    const own = JSON.parse(await tabgrid('project', 'create', 'crew', '--private', '--json')) as { token: string };
    const made = JSON.parse(await tabgrid('project', 'invite', 'create', 'crew', '--label', 'team', '--json')) as { code: string; link: string; invite: { id: string; label: string } };
    expect(made.code).toMatch(/^tgi_[A-Za-z0-9_-]{32}$/);
    expect(made.link).toBe(`${c.url}/?join=${made.code}`);
    expect(made.invite.label).toBe('team');
    // The plain text names the code, the link and the worker command.
    const text = await tabgrid('project', 'invite', 'create', 'crew', '--label', 'spare');
    expect(text).toMatch(/code {5}tgi_/);
    expect(text).toMatch(/tabgrid worker --node 2 --join tgi_/);

    const byToken = await call(own.token, 'POST', '/api/v1/projects/crew/invites', { label: 'http' });
    expect(byToken.status).toBe(201);
    const httpInvite = ((await byToken.json()) as { invite: { id: string } }).invite.id;
    const count = async () => ((await (await call(operatorToken, 'GET', '/api/v1/projects/crew/invites')).json()) as { invites: unknown[] }).invites.length;
    const before = await count();
    expect(before).toBe(3);
    // Another project's token, no token, a bad body: refused, nothing made.
    expect((await call(c.token, 'POST', '/api/v1/projects/crew/invites', {})).status).toBe(403);
    expect((await call(null, 'POST', '/api/v1/projects/crew/invites', {})).status).toBe(401);
    const bad = await call(own.token, 'POST', '/api/v1/projects/crew/invites', { label: 5 });
    expect(bad.status).toBe(400);
    expect(await count()).toBe(before);
    expect((await call(operatorToken, 'GET', '/api/v1/projects/nope/invites')).status).toBe(404);

    // Revoked by the project's token: once; unknown ids are 404.
    expect((await call(own.token, 'DELETE', `/api/v1/projects/crew/invites/${httpInvite}`)).status).toBe(200);
    expect((await call(own.token, 'DELETE', `/api/v1/projects/crew/invites/${httpInvite}`)).status).toBe(409);
    expect((await call(own.token, 'DELETE', '/api/v1/projects/crew/invites/nosuchinvite')).status).toBe(404);
    const list = await tabgrid('project', 'invite', 'list', 'crew');
    expect(list.split('\n').filter((l) => /\blive\b/.test(l))).toHaveLength(2);
    expect(list).toMatch(new RegExp(`${httpInvite}\\s+revoked`));
    expect(await tabgrid('project', 'show', 'crew')).toMatch(/swarm {4}private/);
    expect(await tabgrid('project', 'member', 'list', 'crew')).toBe('no members\n');
  });

  it('a private project\'s shard never reaches a volunteer outside its group, while members (worker --node --join) compute the job', async () => {
    const { c } = shared;
    const job = await labJob({ shards: 6 });
    const stranger = await connect();
    // An embed's hello naming the project is no way in either.
    const embedded = await connect({ projectId: lab.id });
    // The job waits with every shard open, and the strangers get none of it.
    expect((await lab.api.job(job)).shards).toMatchObject({ total: 6, validated: 0 });
    expect(await stranger.work()).toBeNull();
    expect(await embedded.work()).toBeNull();

    // Codes that open nothing: each refused with its reason; no membership is made.
    const tries: [unknown, string, RegExp][] = [
      [{ code: 'tgi_short' }, 'bad_request', /invite code is malformed/],
      [{ code: 42 }, 'bad_request', /invite code must be a string/],
      [{ code: `tgi_${'A'.repeat(32)}` }, 'not_found', /no such invite code/],
      [{ code, extra: 1 }, 'bad_request', /extra/],
    ];
    for (const [payload, errCode, why] of tries) {
      const r = await stranger.call('group:join', payload);
      expect(r).toMatchObject({ ok: false, code: errCode });
      expect(!r.ok && r.error).toMatch(why);
    }
    expect((await stranger.served()).groups).toEqual([]);
    expect(db.prepare('SELECT COUNT(*) AS n FROM project_members').get()).toEqual({ n: 0 });

    // A public job: the stranger is served like anyone, so its empty hands above are the group rule's doing.
    const pubInput = await c.api.uploadBlob(input(5, 8));
    const pub = await c.api.createJob({ model: publicModel, inputs: [{ name: 'x', blob: pubInput, format: 'tensors' }], shardSize: 4, replicas: 1 });
    const got = await stranger.work();
    expect(got).toMatchObject({ jobId: pub.id });
    // A public project's link is today's hash link, which opens its model.
    expect(got!.model.url).not.toMatch(/copy=/);
    expect((await fetch(new URL(got!.model.url, c.url))).status).toBe(200);
    await stranger.release(got!.copyId);

    worker = spawn(process.execPath, [CLI, 'worker', '--node', '2', '--join', `${c.url}/?join=${code}`, '--server', c.url], { cwd: REPO, stdio: ['ignore', 'ignore', 'pipe'] });
    const said: string[] = [];
    worker.stderr!.on('data', (b: Buffer) => said.push(b.toString()));
    // While the members compute, the stranger keeps asking; whatever it gets is the public job's, handed back at once.
    const seen: string[] = [];
    let done = false;
    const asking = (async () => {
      while (!done) {
        for (const x of [stranger, embedded]) {
          const a = await x.work();
          if (a) { seen.push(a.jobId); await x.release(a.copyId); }
        }
        await new Promise((r) => setTimeout(r, 100));
      }
    })();
    const status = await lab.api.waitForJob(job, { timeoutMs: 120_000, pollMs: 250 });
    done = true;
    await asking;
    expect(status.state).toBe('completed');
    expect(seen.every((j) => j === pub.id)).toBe(true);
    worker.kill('SIGTERM');
    await new Promise((r) => worker!.once('exit', r));
    worker = undefined;

    // Every copy of the job went to a member: the worker's two volunteers, who joined by the link.
    const members = (await lab.api.members('lab')).members;
    expect(members.map((m) => m.state)).toEqual(['member', 'member']);
    const holders = (db.prepare('SELECT DISTINCT volunteer_id AS v FROM copies WHERE job_id = ?').all(job) as { v: string }[]).map((r) => r.v);
    expect(holders.length).toBeGreaterThan(0);
    expect(holders.every((v) => members.some((m) => m.volunteerId === v))).toBe(true);
    expect(holders).not.toContain(stranger.volunteerId);
    expect(holders).not.toContain(embedded.volunteerId);
    expect(said.join('')).toMatch(/in project lab's group \(joined now\)/);
    // The public job finishes too (a stranger's project need not wait for anyone's group).
    expect((await c.api.waitForJob(pub.id, { timeoutMs: 60_000, pollMs: 250 })).state).not.toBe('failed');
  });

  it('a private project\'s blobs open only with a capability of a copy in flight: never a hash link, another blob or an ended copy', async () => {
    const job = await labJob({ shards: 3, leaseSeconds: 1 });
    try {
      await capabilities(job);
    } finally {
      await lab.api.cancel(job).catch(() => {});
    }
  });

  it('a private project\'s local-steps training copy names its weights (full weights and deltas of its offer) by a capability of the copy too', async () => {
    const { c } = shared;
    const up = await uploadMnist(lab.api, { count: 256 });
    const job = await lab.api.createJob({
      kind: 'train', model: up.model, data: up.data, labels: up.labels, loss: 'cross-entropy', optimizer: 'adam', lr: 2e-3,
      batch: 32, epochs: 1, shardsPerRound: 2, localSteps: 2, updateFormat: 'int8', replicas: 1, evalFraction: 0,
    });
    try {
      const member = await connect();
      const joined = await member.call('group:join', { code });
      expect(joined).toMatchObject({ ok: true });
      const a = (await member.work())!;
      expect(a.jobId).toBe(job.id);
      expect(a.feedBlobs).toEqual([]);
      const full = new URL(a.weights!.full.url, c.url);
      expect(full.searchParams.get('copy')).toBe(a.copyId);
      const got = await fetch(full);
      expect(got.status).toBe(200);
      expect(sha256(new Uint8Array(await got.arrayBuffer()))).toBe(a.weights!.hash);
      // Its bare hash opens nothing.
      expect((await fetch(`${c.url}/blobs/${a.weights!.hash}`)).status).toBe(404);
      await member.release(a.copyId);
    } finally {
      await lab.api.cancel(job.id).catch(() => {});
    }
  });

  /** The blob test's body (its job is cancelled whatever happens, so the next test starts with none waiting). */
  async function capabilities(job: string) {
    const { c } = shared;
    const member = await connect();
    const joined = await member.call<{ project: { name: string }; already: boolean; served: ServedProjects }>('group:join', { code });
    expect(joined).toMatchObject({ ok: true, project: { name: 'lab' }, already: false });
    expect((await member.served()).groups.map((p) => p.name)).toEqual(['lab']);
    const a = (await member.work())!;
    expect(a.jobId).toBe(job);
    const cap = new URL(a.model.url, c.url);
    expect(cap.searchParams.get('copy')).toBe(a.copyId);
    const ok = await fetch(cap);
    expect(ok.status).toBe(200);
    expect(ok.headers.get('cache-control')).toBe('private, no-store');
    expect(sha256(new Uint8Array(await ok.arrayBuffer()))).toBe(lab.model);

    // The bare hash; a hash link signed with the coordinator's own key (as a public project's would be): nothing.
    expect((await fetch(`${c.url}/blobs/${lab.model}`)).status).toBe(404);
    const key = Buffer.from(readFileSync(join(c.dataDir, 'blobs', '.link-key'), 'utf8').trim(), 'hex');
    const until = linkExpiry(Date.now());
    const hashLink = await fetch(`${c.url}/blobs/${lab.model}?until=${until}&sig=${signLink(key, lab.model, until)}`);
    expect(hashLink.status).toBe(404);
    expect(((await hashLink.json()) as { error: string }).error).toMatch(/opens only with the capability/);
    // The same kind of link opens a public project's model: the refusal above is the privacy rule's.
    expect((await fetch(`${c.url}/blobs/${publicModel}?until=${until}&sig=${signLink(key, publicModel, until)}`)).status).toBe(200);

    // The capability moved to another private project's model, to a public model, or to another copy: nothing.
    for (const other of [lab2.model, publicModel]) expect((await fetch(cap.href.replace(lab.model, other))).status).toBe(404);
    const moved = new URL(cap);
    moved.searchParams.set('copy', `${a.copyId.slice(0, -1)}${a.copyId.endsWith('A') ? 'B' : 'A'}`);
    expect((await fetch(moved)).status).toBe(404);

    // Handed back, the copy is no longer in flight: its capability is refused (403), and says why.
    await member.release(a.copyId);
    const released = await fetch(cap);
    expect(released.status).toBe(403);
    expect(((await released.json()) as { error: string }).error).toMatch(/is cancelled/);

    // Past its lease (1 s from the acknowledgement), likewise.
    const b = (await member.work())!;
    const ack = await member.call<{ leaseDeadline: number }>('work:ack', { copyId: b.copyId });
    if (!ack.ok) throw new Error(ack.error);
    expect((await fetch(new URL(b.model.url, c.url))).status).toBe(200);
    await new Promise((r) => setTimeout(r, Math.max(0, ack.leaseDeadline - Date.now()) + 50));
    const lapsed = await fetch(new URL(b.model.url, c.url));
    expect(lapsed.status).toBe(403);
    expect(((await lapsed.json()) as { error: string }).error).toMatch(/past its lease|is expired/);
  }

  it('a member the project removes, or whose invite it revokes, gets no more of its work and cannot rejoin by that code', async () => {
    const { c } = shared;
    const second = JSON.parse(await tabgrid('project', 'invite', 'create', 'lab', '--json')) as { code: string; invite: { id: string } };
    const job = await labJob({ shards: 8 });
    const [removed, revoked, leaving] = [await connect(), await connect(), await connect()];
    for (const [x, k] of [[removed, code], [revoked, second.code], [leaving, code]] as const) expect(await x.call('group:join', { code: k })).toMatchObject({ ok: true });
    for (const x of [removed, revoked, leaving]) {
      const a = (await x.work())!;
      expect(a.jobId).toBe(job);
      await x.release(a.copyId);
    }

    expect(await tabgrid('project', 'member', 'remove', 'lab', removed.volunteerId)).toBe(`project lab: volunteer ${removed.volunteerId} removed from the group\n`);
    const rev = await call(lab.token, 'DELETE', `/api/v1/projects/lab/invites/${second.invite.id}`);
    expect(rev.status).toBe(200);
    expect(await leaving.call('group:leave', { projectId: lab.id })).toMatchObject({ ok: true, served: { groups: [] } });
    for (const x of [removed, revoked, leaving]) expect(await x.work()).toBeNull();

    const back = await removed.call('group:join', { code });
    expect(back).toMatchObject({ ok: false, code: 'forbidden' });
    expect(!back.ok && back.error).toMatch(/removed you from its group/);
    const dead = await revoked.call('group:join', { code: second.code });
    expect(dead).toMatchObject({ ok: false, code: 'forbidden' });
    expect(!dead.ok && dead.error).toMatch(/revoked this invite code/);
    for (const x of [removed, revoked]) expect(await x.work()).toBeNull();
    const states = Object.fromEntries((await lab.api.members('lab')).members.map((m) => [m.volunteerId, m.state]));
    expect(states).toMatchObject({ [removed.volunteerId]: 'removed', [revoked.volunteerId]: 'invite revoked', [leaving.volunteerId]: 'left' });
    // The member list over the CLI says the same.
    expect(await tabgrid('project', 'member', 'list', 'lab')).toMatch(new RegExp(`${removed.volunteerId}\\s+removed`));
    // Refusals on the HTTP side: another project's token, an unknown volunteer, a second removal.
    expect((await call(c.token, 'DELETE', `/api/v1/projects/lab/members/${revoked.volunteerId}`)).status).toBe(403);
    expect((await call(lab.token, 'DELETE', '/api/v1/projects/lab/members/nosuchvolunteer')).status).toBe(404);
    expect((await call(lab.token, 'DELETE', `/api/v1/projects/lab/members/${removed.volunteerId}`)).status).toBe(409);

    // The one that left comes back by a live code; the removed one by an invite made after its removal.
    expect(await leaving.call('group:join', { code })).toMatchObject({ ok: true, already: false });
    expect((await leaving.work())!.jobId).toBe(job);
    const third = JSON.parse(await tabgrid('project', 'invite', 'create', 'lab', '--json')) as { code: string };
    expect(await removed.call('group:join', { code: third.code })).toMatchObject({ ok: true });
    expect((await removed.work())!.jobId).toBe(job);
    await lab.api.cancel(job);
  });

  it('a private (synchronous) training job\'s round weights and train-step model open only with the capability of a copy in flight', async () => {
    const { c } = shared;
    const m = await uploadMnist(lab.api, { count: 64 });
    const job = await lab.api.createJob({ kind: 'train', model: m.model, data: m.data, labels: m.labels, loss: 'cross-entropy', batch: 16, epochs: 1, shardsPerRound: 2, replicas: 1 });
    expect(await (await connect()).work()).toBeNull();
    const member = await connect();
    expect(await member.call('group:join', { code })).toMatchObject({ ok: true });
    const a = (await member.work())!;
    expect(a.jobId).toBe(job.id);
    expect(a.feedBlobs).toHaveLength(1);
    const until = linkExpiry(Date.now());
    const key = Buffer.from(readFileSync(join(c.dataDir, 'blobs', '.link-key'), 'utf8').trim(), 'hex');
    for (const ref of [a.model, a.feedBlobs[0]!]) {
      const cap = new URL(ref.url, c.url);
      expect(cap.searchParams.get('copy')).toBe(a.copyId);
      const got = await fetch(cap);
      expect(got.status).toBe(200);
      expect(sha256(new Uint8Array(await got.arrayBuffer()))).toBe(ref.hash);
      // The blobs the coordinator made for the job (the train step, the round's weights) are the project's, so private.
      expect((await fetch(`${c.url}/blobs/${ref.hash}?until=${until}&sig=${signLink(key, ref.hash, until)}`)).status).toBe(404);
    }
    await member.release(a.copyId);
    expect((await fetch(new URL(a.feedBlobs[0]!.url, c.url))).status).toBe(403);
  });
});
