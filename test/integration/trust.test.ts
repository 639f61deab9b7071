/**
 * Two fast colluding liars against real processes: raw socket.io clients
 * that never compute and answer every copy they get at once with the same
 * wrong output, beside four honest `tabgrid worker --node` volunteers (two
 * run by the operator, the root of trust), on `--distinct-copies none`, so
 * nothing but reputation keeps the liars' two copies of a shard apart.
 *
 * Pull-based dispatch hands the next copy to whoever asks first, and the
 * liars ask far more often than anyone who computes, so under plain 2-way
 * replication they took most shards' both copies and had them validated.
 * Here they must get no wrong row into the outputs and no credit, whatever
 * the scheduling: replication keeps every shard's other copies for a
 * trusted host while one can be had, and the judge never accepts untrusted
 * agreement while one can (server/core/trust/replication.ts, judge.ts).
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { io, type Socket } from 'socket.io-client';
import { isDeepStrictEqual } from 'node:util';
import { describe, expect, it } from 'vitest';
import { nodeCapabilities } from '../../cli/commands/worker-node.ts';
import type { Assignment, ClientToServerEvents, HelloReply, Reply, ServerToClientEvents } from '../../shared/protocol/events.ts';
import { PROTOCOL_VERSION, SOCKET_PATH } from '../../shared/protocol/version.ts';
import { encodeTensors } from '../../shared/tensor/codec.ts';
import { tensorFromTyped, typedView } from '../../shared/tensor/tensor.ts';
import { decodeTensorProto } from '../../shared/tensor/tensorproto.ts';
import { CLI, REPO } from '../helpers/coordinator.ts';
import { runDirect } from '../helpers/direct-run.ts';
import { mlpModel, randomInput } from '../helpers/onnx-builder.ts';
import { perTest } from '../helpers/per-test.ts';
import { scrape } from '../helpers/metrics.ts';
import { connect, hello, nextCopy, ok } from '../helpers/raw-client.ts';
import { startVolunteer } from '../helpers/volunteers.ts';
import { waitForJob } from '../helpers/wait.ts';

type S = Socket<ServerToClientEvents, ClientToServerEvents>;

const WIDTH = 8;
const SHARDS = 32;
const SHARD_SIZE = 4;
/** What both liars answer, for every record of every copy: the same wrong output, so they agree with each other. */
const LIE = 0.25;

function call<R>(s: S, event: string, payload: unknown): Promise<Reply<R>> {
  return (s as unknown as { timeout(ms: number): { emitWithAck(e: string, p: unknown): Promise<Reply<R>> } }).timeout(30_000).emitWithAck(event, payload);
}

interface Liar {
  account: string;
  answered: number;
  stop(): void;
}

/** A liar: asks for work without pause and answers each copy at once, never computing, asking for the next copy with the answer. */
async function startLiar(url: string): Promise<Liar> {
  const socket: S = io(url, { path: SOCKET_PATH, auth: { protocol: PROTOCOL_VERSION }, transports: ['websocket'], reconnection: false });
  await new Promise<void>((resolve, reject) => {
    socket.on('connect', () => resolve());
    socket.on('connect_error', reject);
  });
  const hello = await call<HelloReply>(socket, 'hello', { backend: 'wasm', capabilities: nodeCapabilities() });
  if (!hello.ok) throw new Error(`liar refused: ${hello.error}`);
  const liar: Liar = { account: hello.account, answered: 0, stop: () => { stopped = true; socket.close(); } };
  let stopped = false;
  const lie = (a: Assignment) => {
    const x = a.inputs.find((t) => t.name === 'x')!;
    const rows = x.dims[0]!;
    return a.outputs.map((name) => ({ name, dtype: 'float32', dims: [rows, WIDTH], data: new Uint8Array(new Float32Array(rows * WIDTH).fill(LIE).buffer) }));
  };
  void (async () => {
    let next: Assignment | null = null;
    while (!stopped) {
      if (!next) {
        const r = await call<{ assignment: Assignment | null }>(socket, 'work:request', {}).catch(() => null);
        if (!r?.ok) { if (!stopped) await new Promise((res) => setTimeout(res, 20)); continue; }
        next = r.assignment;
        if (!next) { await new Promise((res) => setTimeout(res, 20)); continue; }
      }
      const a: Assignment = next;
      next = null;
      const r = await call<{ next?: { assignment: Assignment | null } }>(socket, 'work:result', { copyId: a.copyId, outputs: lie(a), computeMs: 1, next: true }).catch(() => null);
      if (r?.ok) {
        liar.answered++;
        next = r.next?.assignment ?? null;
      }
    }
  })();
  return liar;
}

describe('fast colluding liars beside honest worker --node volunteers', () => {
  const { coordinator, defer } = perTest();

  it('get no wrong row into the outputs and no credit, on --distinct-copies none', async () => {
    const c = await coordinator(['--distinct-copies', 'none']);
    const joined = () => c.logs.filter((l) => l.msg === 'volunteer joined').length;
    // Every volunteer is connected before the job exists: the liars are as ready as anyone.
    const liars = [await startLiar(c.url), await startLiar(c.url)];
    for (const l of liars) defer(() => l.stop());
    const operatorToken = readFileSync(join(c.dataDir, 'operator-token'), 'utf8').trim();
    // Two of the four honest volunteers are the operator's own hosts: a shard whose untrusted copy disagrees with one
    // trusted result gets its next copy from a trusted host (replication.ts), so with two of them every dispute
    // ends, whoever asks first; untrusted honest hosts earn trust by agreeing with them.
    const workers = [
      spawn(process.execPath, [CLI, 'worker', '--node', '2', '--server', c.url], { cwd: REPO, stdio: 'ignore' }),
      spawn(process.execPath, [CLI, 'worker', '--node', '2', '--server', c.url, '--operator-token', operatorToken], { cwd: REPO, stdio: 'ignore' }),
    ];
    for (const w of workers) defer(() => { w.kill('SIGTERM'); });
    await expect.poll(joined, { timeout: 60_000 }).toBe(6);

    const model = mlpModel({ width: WIDTH, layers: 2, seed: 13 });
    const records = SHARDS * SHARD_SIZE;
    const x = tensorFromTyped('float32', [records, WIDTH], randomInput(records, WIDTH, 13));
    const job = await c.api.createJob({
      model: await c.api.uploadBlob(model), inputs: [{ blob: await c.api.uploadBlob(encodeTensors([{ name: 'x', ...x }])), format: 'tensors' }],
      shardSize: SHARD_SIZE, replicas: 2,
    });
    const done = await waitForJob(c.api, job.id, 240_000);
    expect(done.state).toBe('completed');

    const got = typedView(decodeTensorProto(await c.api.output(job.id, 0)) as never) as Float32Array;
    const want = typedView((await runDirect(model, { x }))[0]! as never) as Float32Array;
    let wrongRows = 0;
    for (let r = 0; r < records; r++) {
      for (let k = 0; k < WIDTH; k++) {
        const a = got[r * WIDTH + k]!;
        const b = want[r * WIDTH + k]!;
        if (Math.abs(a - b) > 1e-5 + 1e-3 * Math.max(Math.abs(a), Math.abs(b))) { wrongRows++; break; }
      }
    }
    const credit = await Promise.all(liars.map(async (l) => {
      const s = await c.api.account(l.account);
      // Any ledger entry at all would be credit, even one later reversed.
      return s.entries.reduce((n, e) => n + e.amount, 0);
    }));
    const answered = liars.map((l) => l.answered);
    console.log(`trust: liars answered ${answered.join(' + ')} copies; ${wrongRows} of ${records} rows wrong (${SHARDS} shards); liars' credit ${credit.join(', ')}`);
    // The liars did take copies: they were in the race, and lost it.
    expect(answered.reduce((a, b) => a + b, 0)).toBeGreaterThan(0);
    expect(wrongRows).toBe(0);
    expect(credit).toEqual([0, 0]);
  }, 300_000);
});

/** A raw volunteer that has said hello: it asks once and returns what it was given (nothing else is done with it). */
async function rawVolunteer(url: string): Promise<S> {
  const socket: S = io(url, { path: SOCKET_PATH, auth: { protocol: PROTOCOL_VERSION }, transports: ['websocket'], reconnection: false });
  await new Promise<void>((resolve, reject) => {
    socket.on('connect', () => resolve());
    socket.on('connect_error', reject);
  });
  const hello = await call<HelloReply>(socket, 'hello', { backend: 'wasm', capabilities: nodeCapabilities() });
  if (!hello.ok) throw new Error(`refused: ${hello.error}`);
  return socket;
}

describe('opaque copies', () => {
  const { coordinator, defer } = perTest();

  it('two copies of one shard carry no common field but the input bytes; an old volunteer is refused, told to update', async () => {
    // --copies together: both copies of a shard must be out at once to be compared side by side (one copy at a time,
    // the second would wait for the first to come back).
    const c = await coordinator(['--distinct-copies', 'none', '--copies', 'together']);
    const model = mlpModel({ width: WIDTH, layers: 1, seed: 5 });
    const x = tensorFromTyped('float32', [8, WIDTH], randomInput(8, WIDTH, 5));
    const job = await c.api.createJob({
      model: await c.api.uploadBlob(model), inputs: [{ blob: await c.api.uploadBlob(encodeTensors([{ name: 'x', ...x }])), format: 'tensors' }],
      shardSize: 4, replicas: 2,
    });
    // Four volunteers, one copy each: the two shards' two copies.
    const sockets: S[] = [];
    for (let i = 0; i < 4; i++) sockets.push(await rawVolunteer(c.url));
    defer(() => { for (const s of sockets) s.close(); });
    const assignments: Assignment[] = [];
    for (const s of sockets) {
      const r = await call<{ assignment: Assignment | null }>(s, 'work:request', {});
      if (!r.ok || !r.assignment) throw new Error(`no copy: ${JSON.stringify(r)}`);
      assignments.push(r.assignment);
    }
    // Which shard each copy is of, from the coordinator's own log: the assignments cannot say.
    const shardOf = async (a: Assignment) => (await c.waitForLog((l) => l.msg === 'assigned copy' && l.copy === a.copyId)).shard as string;
    const shards = await Promise.all(assignments.map(shardOf));
    expect(new Set(shards).size).toBe(2);
    const [a, b] = assignments.filter((_, i) => shards[i] === shards[0]);
    const other = assignments.find((_, i) => shards[i] !== shards[0])!;
    for (const x of assignments) {
      expect(Object.keys(x)).not.toContain('shardId');
      // Nothing in a copy names its shard, not even in passing.
      expect(JSON.stringify({ ...x, inputs: [] })).not.toContain(shards[assignments.indexOf(x)]);
      expect(x.jobId).toBe(job.id);
    }
    // The model link's signed expiry is the clock hour's (blob-links.ts), not the shard's: compared by what it names.
    const norm = (p: Assignment) => ({ ...p, model: { hash: p.model.hash, bytes: p.model.bytes } });
    const common = (p: Assignment, q: Assignment) => Object.keys(p).filter((k) => isDeepStrictEqual(norm(p)[k as keyof Assignment], norm(q)[k as keyof Assignment]));
    // What two copies of one shard share beyond what any two copies of the job share is the input bytes alone.
    const sameShard = common(a!, b!);
    const jobWide = new Set(common(a!, other));
    expect(sameShard.filter((k) => !jobWide.has(k))).toEqual(['inputs']);
    expect(a!.copyId).not.toBe(b!.copyId);

    // A volunteer of the previous protocol (its assignments named the shard) is refused at connect, and told why.
    const old = io(c.url, { path: SOCKET_PATH, auth: { protocol: PROTOCOL_VERSION - 1 }, transports: ['websocket'], reconnection: false });
    const refused = await new Promise<Error>((resolve) => old.on('connect_error', resolve));
    old.close();
    expect(refused.message).toBe(`unsupported protocol version ${PROTOCOL_VERSION - 1}; this coordinator speaks version ${PROTOCOL_VERSION}: update this volunteer (reload the page, or install the same tabgrid as the coordinator)`);
  }, 120_000);
});

describe('a revoked operator token', () => {
  const { coordinator, defer } = perTest();

  it('an operator host that lied comes back with the token, as itself and under a forged numeric class: it is told why, gets no operator trust, and its next copy is checked', async () => {
    const c = await coordinator(['--distinct-copies', 'none']);
    const token = readFileSync(join(c.dataDir, 'operator-token'), 'utf8').trim();
    const honest = [startVolunteer(c.url, { operatorToken: token }), startVolunteer(c.url, { operatorToken: token })];
    for (const v of honest) defer(() => v.stop());

    // A raw client with the operator's token: the operator's own host, trusted from its first result.
    const first = await connect(c.url);
    defer(() => { first.close(); });
    const hi = await hello(first, { operatorToken: token });
    expect(hi).toMatchObject({ operator: true });
    expect(hi.notice).toBeUndefined();
    const me = { volunteerId: hi.volunteerId, secret: hi.secret! };
    await expect.poll(() => c.logs.filter((l) => l.msg === 'volunteer joined').length, { timeout: 60_000 }).toBe(3);

    // It lies on a shard every copy of which goes to the three operator hosts (replicas 3, three volunteers).
    const model = mlpModel({ width: WIDTH, layers: 1, seed: 7 });
    const job = async (replicas: number, seed: number) => c.api.createJob({
      model: await c.api.uploadBlob(model),
      inputs: [{ blob: await c.api.uploadBlob(encodeTensors([{ name: 'x', ...tensorFromTyped('float32', [4, WIDTH], randomInput(4, WIDTH, seed)) }])), format: 'tensors' }],
      shardSize: 4, replicas,
    });
    const j1 = await job(3, 7);
    const copy = await nextCopy(first);
    expect(copy.jobId).toBe(j1.id);
    await ok(call(first, 'work:result', { copyId: copy.copyId, outputs: lieFor(copy), computeMs: 1 }));
    expect((await waitForJob(c.api, j1.id, 120_000)).state).toBe('completed');
    const lost = await c.waitForLog((l) => l.msg === 'host lost trust: an operator\'s host returned an invalid result or failed a spot check; its operator trust is revoked for good, its solo results are re-verified');
    expect(lost).toMatchObject({ volunteer: me.volunteerId, reason: 'operator_revoked', operator: true, class: hi.numericClass });
    expect((await scrape(c.url))('tabgrid_hosts_lost_trust_total', { reason: 'operator_revoked' })).toBe(1);
    first.close();
    // The honest operator hosts leave: nothing trusted is connected, so what the returning liar gets shows its own standing.
    await Promise.all(honest.map((v) => v.stop()));

    const notice = /^operator token ignored: this host returned an invalid result or failed a spot check, so it is no longer one of the operator's trusted hosts, in any numeric class/;
    // As itself, in its class: the token is ignored, the reply says why, the log warns.
    const again = await connect(c.url, { auth: me });
    defer(() => { again.close(); });
    const r1 = await hello(again, { operatorToken: token });
    expect(r1).toMatchObject({ volunteerId: me.volunteerId, operator: false, notice: expect.stringMatching(notice) });
    expect(await c.waitForLog((l) => l.level === 40 && typeof l.msg === 'string' && notice.test(l.msg) && l.class === hi.numericClass)).toMatchObject({ volunteer: me.volunteerId });
    again.close();
    // As itself, announcing another onnxruntime version (a numeric class it has no row in): still no operator trust.
    const forged = await connect(c.url, { auth: me });
    defer(() => { forged.close(); });
    const r2 = await hello(forged, { operatorToken: token, capabilities: { ...nodeCapabilities(), ortVersion: '9.9.9-forged' } });
    expect(r2.numericClass).not.toBe(hi.numericClass);
    expect(r2).toMatchObject({ volunteerId: me.volunteerId, operator: false, notice: expect.stringMatching(notice) });
    // The log arrives on the coordinator's stdout, perhaps after the reply.
    await expect.poll(() => c.logs.filter((l) => l.msg === 'volunteer joined' && l.volunteer === me.volunteerId).map((l) => [l.operator, l.trusted]))
      .toEqual([[true, true], [false, false], [false, false]]);

    // Its next copy: at replicas 1 a trusted host's copy would stand alone, credited; an untrusted one's is accepted unchecked, for no credit.
    const j2 = await job(1, 8);
    const next = await nextCopy(forged);
    expect(next.jobId).toBe(j2.id);
    await ok(call(forged, 'work:result', { copyId: next.copyId, outputs: lieFor(next), computeMs: 1 }));
    expect((await waitForJob(c.api, j2.id, 60_000)).state).toBe('completed');
    expect(await c.waitForLog((l) => l.msg === 'accepted a result unchecked (replicas 1, no trusted host to be had): the project gets it, no credit is given')).toMatchObject({ copy: next.copyId, job: j2.id });
    const m = await scrape(c.url);
    expect(m('tabgrid_copies_issued_total', { replication: 'solo' })).toBe(0);
    expect((await c.api.account(hi.account)).entries.reduce((n, e) => n + e.amount, 0)).toBe(0);
  }, 240_000);
});

/** The same wrong output for every record of a copy (the liars' answer). */
function lieFor(a: Assignment) {
  const rows = a.inputs.find((t) => t.name === 'x')!.dims[0]!;
  return a.outputs.map((name) => ({ name, dtype: 'float32', dims: [rows, WIDTH], data: new Uint8Array(new Float32Array(rows * WIDTH).fill(LIE).buffer) }));
}
