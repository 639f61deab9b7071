/**
 * Adaptive replication across coordinators on one PostgreSQL database: a
 * trusted host connected to coordinator B counts for coordinator A's
 * decisions. Before, A counted only its own sockets, so two untrusted hosts
 * on A took both copies of a shard and had it validated on their agreement
 * alone while the operator's host sat idle on B. Now each coordinator tells
 * the others, twice a second through the socket.io adapter, the numeric
 * classes of the trusted hosts connected to it (gateway/cluster.ts), and A
 * keeps the shard's other copy for B's trusted host.
 *
 * Raw socket.io clients, each from its own /24 (the distinct-copies rule
 * stays on), so the test orders every request itself.
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { Assignment } from '../../shared/protocol/events.ts';
import { encodeTensors } from '../../shared/tensor/codec.ts';
import { tensorFromTyped } from '../../shared/tensor/tensor.ts';
import { spawnCoordinator, type SpawnedCoordinator } from '../helpers/coordinator.ts';
import { mlpModel, randomInput } from '../helpers/onnx-builder.ts';
import { freshPgSchema, type PgSchema } from '../helpers/pg-schema.ts';
import { call, connect, hello, ok, type RawSocket } from '../helpers/raw-client.ts';
import { waitForJob } from '../helpers/wait.ts';

const WIDTH = 8;
const RECORDS = 4;

describe('two coordinators on one PostgreSQL database', () => {
  let db: PgSchema | undefined;
  let a: SpawnedCoordinator | undefined;
  let b: SpawnedCoordinator | undefined;
  const sockets: RawSocket[] = [];
  afterAll(async () => {
    for (const s of sockets) s.close();
    await Promise.all([a?.stop(), b?.stop()]);
    await db?.drop();
  });

  async function volunteer(c: SpawnedCoordinator, localAddress: string, extra: object = {}): Promise<RawSocket> {
    const s = await connect(c.url, { localAddress });
    sockets.push(s);
    await hello(s, extra);
    return s;
  }
  const request = async (s: RawSocket) => (await ok(call<{ assignment: Assignment | null }>(s, 'work:request', {}))).assignment;
  /** The same well-formed result from whoever sends it: agreement is what is judged here, not the numbers. */
  const submit = (s: RawSocket, copy: Assignment) => ok(call<{ status: string }>(s, 'work:result', {
    copyId: copy.copyId, computeMs: 1,
    outputs: copy.outputs.map((name) => ({ name, dtype: 'float32', dims: [RECORDS, WIDTH], data: new Uint8Array(new Float32Array(RECORDS * WIDTH).fill(0.5).buffer) })),
  }));

  it('A keeps a shard\'s second copy from its untrusted hosts while B\'s trusted host is connected, and B\'s host completes it', async () => {
    db = await freshPgSchema();
    const args = db.serveArgs;
    const dataDir = join(mkdtempSync(join(tmpdir(), 'tabgrid-cluster-trust-')), 'data');
    a = await spawnCoordinator({ dataDir, args });
    b = await spawnCoordinator({ dataDir, args });
    const operatorToken = readFileSync(join(dataDir, 'operator-token'), 'utf8').trim();

    // The operator's host joins B; A hears of it from B's news.
    const trusted = await volunteer(b, '127.0.5.1', { operatorToken });
    const heard = await a.waitForLog((l) => l.msg === 'trusted hosts connected to another coordinator changed' && (l.classes as string[]).length === 1, 30_000);
    expect((heard.classes as string[])[0]).toMatch(/^wasm\//);
    const u1 = await volunteer(a, '127.0.6.1');
    const u2 = await volunteer(a, '127.0.7.1');

    const x = tensorFromTyped('float32', [RECORDS, WIDTH], randomInput(RECORDS, WIDTH, 3));
    const job = await a.api.createJob({
      model: await a.api.uploadBlob(mlpModel({ width: WIDTH, layers: 1, seed: 3 })),
      inputs: [{ blob: await a.api.uploadBlob(encodeTensors([{ name: 'x', ...x }])), format: 'tensors' }], shardSize: RECORDS, replicas: 2,
    });
    const first = await request(u1);
    expect(first?.jobId).toBe(job.id);
    // The shard's other copy is kept for B's trusted host: the second untrusted host on A gets nothing, asked again and again.
    for (let i = 0; i < 3; i++) expect(await request(u2)).toBeNull();
    expect((await submit(u1, first!)).status).toBe('accepted');
    expect((await a.api.job(job.id)).state).toBe('running');

    const second = await request(trusted);
    expect(second?.jobId).toBe(job.id);
    expect((await submit(trusted, second!)).status).toBe('accepted');
    expect((await waitForJob(a.api, job.id, 30_000)).state).toBe('completed');
    // Checked by the trusted host's agreement: the untrusted host's copy is credited, and was never alone.
    const { rows } = await db.query(`SELECT volunteer_id, outcome FROM ${db.name}.copies ORDER BY assigned_at`);
    expect(rows.map((r) => r.outcome)).toEqual(['valid', 'valid']);
  }, 180_000);
});
