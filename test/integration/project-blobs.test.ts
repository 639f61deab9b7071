/**
 * Blobs are per project. A project sees and uses only blobs it uploaded (the
 * bytes are stored once, whoever uploads them): project B can neither learn
 * that project A holds a hash (HEAD) nor start a job on A's model or input
 * without uploading the bytes itself. Volunteers fetch a model through the
 * link their assignment carries (signed, expiring), not by its bare hash.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { io, type Socket } from 'socket.io-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiClient } from '../../cli/api-client.ts';
import { nodeCapabilities } from '../../cli/commands/worker-node.ts';
import { hashToken } from '../../server/services/job-service.ts';
import { newId } from '../../server/store/ids.ts';
import { SqliteStore } from '../../server/store/sqlite/sqlite-store.ts';
import type { Assignment, ClientToServerEvents, Reply, ServerToClientEvents } from '../../shared/protocol/events.ts';
import { PROTOCOL_VERSION, SOCKET_PATH } from '../../shared/protocol/version.ts';
import { encodeTensors } from '../../shared/tensor/codec.ts';
import { tensorFromTyped } from '../../shared/tensor/tensor.ts';
import { spawnCoordinator, type SpawnedCoordinator } from '../helpers/coordinator.ts';
import { mlpModel, randomInput } from '../helpers/onnx-builder.ts';
import { sha256 } from '../../server/blobs/blob-store.ts';

type S = Socket<ServerToClientEvents, ClientToServerEvents>;

describe('blobs are per project', () => {
  let c: SpawnedCoordinator;
  let a: ApiClient;
  let b: ApiClient;
  let bToken: string;
  const model = mlpModel({ width: 8, layers: 1, seed: 5 });
  const input = encodeTensors([{ name: 'x', ...tensorFromTyped('float32', [4, 8], randomInput(4, 8, 4)) }]);
  const modelHash = sha256(model);
  const inputHash = sha256(input);
  const bModel = mlpModel({ width: 8, layers: 1, seed: 6 });
  const bModelHash = sha256(bModel);
  const sockets: S[] = [];

  beforeAll(async () => {
    // Two projects in one data directory, made before the coordinator starts (the CLI makes only one).
    const dataDir = mkdtempSync(join(tmpdir(), 'tabgrid-blobs-'));
    const store = new SqliteStore(join(dataDir, 'tabgrid.sqlite'));
    const tokens: string[] = [];
    for (const name of ['alpha', 'beta']) {
      const id = newId();
      await store.createProject({ id, name, createdAt: Date.now(), embed: { allowedOrigins: [], defaultIntensity: 0.3, creditTo: 'site' } });
      const token = `tg_${name}_${newId()}`;
      await store.addToken({ id: newId(), projectId: id, hash: hashToken(token), label: 'test', createdAt: Date.now() });
      tokens.push(token);
    }
    await store.close();
    const { writeFileSync } = await import('node:fs');
    writeFileSync(join(dataDir, 'token'), `${tokens[0]}\n`, { mode: 0o600 });
    c = await spawnCoordinator({ dataDir });
    a = c.api;
    bToken = tokens[1]!;
    b = new ApiClient(c.url, bToken);
  });
  afterAll(async () => {
    for (const s of sockets) s.close();
    await c?.stop();
  });

  const head = (token: string, hash: string) => fetch(`${c.url}/api/v1/blobs/${hash}`, { method: 'HEAD', headers: { authorization: `Bearer ${token}` } }).then((r) => r.status);
  const jobCount = async (api: ApiClient) => (await api.jobs()).jobs.length;

  it('project B cannot see A\'s blobs, nor start a job on A\'s model or input without uploading them', async () => {
    expect(await a.uploadBlob(model)).toBe(modelHash);
    expect(await a.uploadBlob(input)).toBe(inputHash);
    expect(await head(c.token, modelHash)).toBe(200);
    expect(await head(c.token, inputHash)).toBe(200);
    // B holds neither: the coordinator does not say that someone else does.
    expect(await head(bToken, modelHash)).toBe(404);
    expect(await head(bToken, inputHash)).toBe(404);

    const job = { model: modelHash, inputs: [{ name: 'x', blob: inputHash, format: 'tensors' as const }], shardSize: 4, replicas: 1 };
    const before = await jobCount(b);
    await expect(b.createJob(job)).rejects.toThrow(`model blob ${modelHash} was not uploaded by this project`);
    expect(await jobCount(b)).toBe(before);

    // With its own model but A's input: refused on the input.
    expect(await b.uploadBlob(bModel)).toBe(bModelHash);
    await expect(b.createJob({ ...job, model: bModelHash })).rejects.toThrow(`input 0: blob ${inputHash} was not uploaded by this project`);
    expect(await jobCount(b)).toBe(before);

    // Once B uploads the same bytes itself, they are its own too (stored once), and its job runs.
    expect(await b.uploadBlob(input)).toBe(inputHash);
    expect(await head(bToken, inputHash)).toBe(200);
    const created = await b.createJob({ ...job, model: bModelHash });
    expect(created.id).toBeTruthy();
    expect(await jobCount(b)).toBe(before + 1);
    // A's own job on its own blobs is fine.
    expect((await a.createJob(job)).id).toBeTruthy();
  });

  it('volunteers fetch a model through the link their assignment carries, not by its bare hash', async () => {
    const s: S = io(c.url, { path: SOCKET_PATH, auth: { protocol: PROTOCOL_VERSION }, transports: ['websocket'], reconnection: false });
    sockets.push(s);
    await new Promise<void>((r) => s.on('connect', () => r()));
    const call = <R>(e: string, p: unknown) => (s as unknown as { emitWithAck(e: string, p: unknown): Promise<Reply<R>> }).emitWithAck(e, p);
    // Work waiting (whatever the test above left).
    await a.createJob({ model: modelHash, inputs: [{ name: 'x', blob: inputHash, format: 'tensors' as const }], shardSize: 4, replicas: 1 });
    expect(await call('hello', { backend: 'wasm', capabilities: nodeCapabilities() })).toMatchObject({ ok: true });
    const r = await call<{ assignment: Assignment | null }>('work:request', {});
    if (!r.ok) throw new Error(r.error);
    const ref = r.assignment!.model;
    // The bare hash, which anyone who ever saw an assignment knows, opens nothing.
    const bare = await fetch(`${c.url}/blobs/${ref.hash}`);
    expect(bare.status).toBe(404);
    expect(((await bare.json()) as { error: string }).error).toMatch(/comes with an assignment/);
    // The assignment's link does, and the bytes are the model's.
    expect(ref.url).toMatch(new RegExp(`^/blobs/${ref.hash}\\?`));
    const got = await fetch(new URL(ref.url, c.url));
    expect(got.status).toBe(200);
    expect(sha256(new Uint8Array(await got.arrayBuffer()))).toBe(ref.hash);
    // A link altered to another model (which a volunteer may fetch, with its own link), or with its expiry pushed back, is refused.
    const u = new URL(ref.url, c.url);
    const other = new URL(u.href.replace(ref.hash, ref.hash === modelHash ? bModelHash : modelHash));
    expect((await fetch(other)).status).toBe(404);
    u.searchParams.set('until', String(Number(u.searchParams.get('until')) + 3_600_000));
    expect((await fetch(u)).status).toBe(404);
  });
});
