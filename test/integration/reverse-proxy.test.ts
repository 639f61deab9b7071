/**
 * The README's nginx example in front of two coordinators on one PostgreSQL
 * database (TLS with a certificate made now, WebSocket upgrade, sticky
 * sessions by client address, X-Forwarded-For with --trust-proxy): socket.io
 * volunteers connect through it (long-polling, then WebSocket) and each sticks
 * to one coordinator; `tabgrid infer` talks to the HTTP API through it; the
 * coordinators see each client's own address, which a client cannot choose by
 * sending an X-Forwarded-For of its own.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it, onTestFailed } from 'vitest';
import { outputsDisagreement } from '../../server/core/validation/compare.ts';
import { decodeNpy, encodeNpy } from '../../shared/tensor/npy.ts';
import { tensorFromTyped } from '../../shared/tensor/tensor.ts';
import { CLI, REPO, freePort, spawnCoordinator, type SpawnedCoordinator } from '../helpers/coordinator.ts';
import { runDirect } from '../helpers/direct-run.ts';
import { type RunningNginx, selfSignedCert, startNginx } from '../helpers/nginx.ts';
import { mlpModel, randomInput } from '../helpers/onnx-builder.ts';
import { freshPgSchema, type PgSchema } from '../helpers/pg-schema.ts';
import { startVolunteer, type TestVolunteer } from '../helpers/volunteers.ts';

const run = promisify(execFile);

// The certificate is self-signed: the CLI child processes trust it (NODE_EXTRA_CA_CERTS);
// the in-process volunteers of this test file skip the check (their socket and blob fetches).
process.env.NODE_TLS_REJECT_UNAUTHORIZED = '0';

describe('behind nginx (the README example)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tabgrid-proxy-'));
  let db: PgSchema;
  let a: SpawnedCoordinator;
  let b: SpawnedCoordinator;
  let nginx: RunningNginx;
  let cert: string;
  const volunteers: TestVolunteer[] = [];
  const ids = new Map<TestVolunteer, string>();

  /** A volunteer connecting to the proxy from `address` (any 127.x.y.z reaches it). */
  function volunteerFrom(address: string, socketOptions: NonNullable<Parameters<typeof startVolunteer>[1]>['socketOptions']): TestVolunteer {
    const v: TestVolunteer = startVolunteer(nginx.url, { localAddress: address, socketOptions: { rejectUnauthorized: false, ...socketOptions }, hooks: { hello: (r) => ids.set(v, r.volunteerId) } });
    volunteers.push(v);
    return v;
  }

  beforeAll(async () => {
    db = await freshPgSchema();
    const args = [...db.serveArgs, '--trust-proxy', '--distinct-copies', 'address'];
    // One blob directory for both (shared storage, as the README says); the first start makes the token.
    const dataDir = join(dir, 'data');
    a = await spawnCoordinator({ dataDir, args });
    b = await spawnCoordinator({ dataDir, args });
    const tls = selfSignedCert(dir);
    cert = tls.cert;
    nginx = await startNginx({ dir, port: await freePort(), upstreams: [a.port, b.port], ...tls });
  });
  afterAll(async () => {
    await Promise.all(volunteers.map((v) => v.stop()));
    await nginx?.stop();
    await Promise.all([a?.stop(), b?.stop()]);
    await db?.drop();
  });

  /** The coordinator's 'volunteer joined' line for this volunteer, from whichever coordinator it reached. */
  async function joined(v: TestVolunteer): Promise<{ on: 'a' | 'b'; address: unknown }> {
    for (const t0 = Date.now(); Date.now() - t0 < 30_000; await new Promise((r) => setTimeout(r, 50))) {
      const id = ids.get(v);
      if (!id) continue;
      for (const [on, c] of [['a', a], ['b', b]] as const) {
        const line = c.logs.find((l) => l.msg === 'volunteer joined' && l.volunteer === id);
        if (line) return { on, address: line.address };
      }
    }
    throw new Error(`volunteer never joined either coordinator; nginx: ${nginx.errorLog().slice(-2000)}`);
  }

  /** Volunteers from 127.0.N.1 until one has reached each coordinator. */
  async function oneVolunteerOnEach(): Promise<Record<'a' | 'b', { v: TestVolunteer; address: string }>> {
    const found: Partial<Record<'a' | 'b', { v: TestVolunteer; address: string }>> = {};
    for (let n = 1; n <= 16 && !(found.a && found.b); n++) {
      const address = `127.0.${n}.1`;
      const v = volunteerFrom(address, {});
      const j = await joined(v);
      // The coordinator saw the volunteer's address, not nginx's 127.0.0.1: X-Forwarded-For, trusted.
      expect(j.address).toBe(address);
      if (found[j.on]) await v.stop();
      else found[j.on] = { v, address };
    }
    // ip_hash on 16 /24 networks: both coordinators are reached unless the hash is badly broken.
    if (!found.a || !found.b) throw new Error('every address reached the same coordinator');
    return found as Record<'a' | 'b', { v: TestVolunteer; address: string }>;
  }

  /**
   * What a failure (a timeout above all) leaves for whoever reads the CI log: each coordinator's last log lines
   * and every copy the store recorded, so a stalled job says which copies died, how, and who held them.
   */
  function reportOnFailure(): void {
    onTestFailed(async () => {
      // Without the HTTP request lines: the CLI polling its job would fill the tail.
      const tail = (name: string, c: SpawnedCoordinator) => {
        const lines = c.logs.filter((l) => l.msg !== 'request');
        return `coordinator ${name}, last 80 of ${lines.length} log lines (requests left out):\n${lines.slice(-80).map((l) => JSON.stringify(l)).join('\n')}`;
      };
      const copies = await db.query(`SELECT s.idx, c.volunteer_id, c.address, c.state, c.outcome, c.reason, c.assigned_at, c.deadline, c.returned_at
        FROM ${db.name}.copies c JOIN ${db.name}.shards s ON s.id = c.shard_id ORDER BY s.idx, c.seq`).catch((e: Error) => ({ rows: [`copies unreadable: ${e.message}`] }));
      const volunteerIds = [...ids].map(([v, id]) => `${id} (${volunteers.indexOf(v)})`).join(', ');
      console.error(['reverse-proxy test failed', `volunteers: ${volunteerIds}`, tail('a', a), tail('b', b),
        `copies:\n${copies.rows.map((r) => JSON.stringify(r)).join('\n')}`].join('\n\n'));
    }, 20_000);
  }

  it('volunteers and the CLI work through it: a job whose two copies must come from two addresses completes, one copy through each coordinator', async () => {
    reportOnFailure();
    const on = await oneVolunteerOnEach();
    const model = mlpModel({ width: 8, layers: 1, seed: 11 });
    const x = tensorFromTyped('float32', [16, 8], randomInput(16, 8, 11));
    writeFileSync(join(dir, 'm.onnx'), model);
    writeFileSync(join(dir, 'x.npy'), encodeNpy(x));
    const out = join(dir, 'out');
    await run(process.execPath, [CLI, 'infer', '--server', nginx.url, '--model', join(dir, 'm.onnx'), '--input', join(dir, 'x.npy'),
      '--shard-size', '4', '--replicas', '2', '--format', 'npy', '--out', out, '--quiet'], {
      cwd: REPO, timeout: 90_000,
      env: { ...process.env, TABGRID_TOKEN: a.token, NODE_EXTRA_CA_CERTS: cert, NODE_TLS_REJECT_UNAUTHORIZED: '1' },
    });
    const got = decodeNpy(new Uint8Array(readFileSync(join(out, 'output_0.npy'))));
    const want = await runDirect(model, { x });
    expect(outputsDisagreement([{ ...got, name: want[0]!.name }], [want[0]!], { rtol: 0, atol: 0 })).toBeNull();

    // Two copies per shard from distinct addresses: one from each volunteer, each through its own coordinator.
    const assigned = (c: SpawnedCoordinator) => c.logs.filter((l) => l.msg === 'assigned copy').length;
    expect(assigned(a)).toBeGreaterThanOrEqual(4);
    expect(assigned(b)).toBeGreaterThanOrEqual(4);
    // The store recorded each valid copy under its volunteer's own network (/24, --address-groups): four shards, one copy from each.
    const { rows } = await db.query(`SELECT address, count(*)::int AS n FROM ${db.name}.copies WHERE outcome = 'valid' GROUP BY address ORDER BY address`);
    expect(rows).toEqual([on.a.address, on.b.address].map((a) => a.replace(/\.1$/, '.0/24')).sort().map((address) => ({ address, n: 4 })));
    // Its own budget, not the default 60 s: it starts the CLI as a process (given 90 s above) and two onnxruntime
    // sessions. Under load the default was spent with nothing wrong (load 38 on 2 cores: the CLI took 25 s to
    // create the job, the first copies 23 s to compute, every copy returned and valid).
  }, 180_000);

  it('a volunteer that long-polls first, as a browser does, keeps its session through the proxy and upgrades to WebSocket', async () => {
    // (From the default address: Node's polling transport cannot choose its local address.)
    const v = volunteerFrom('127.0.0.1', { transports: ['polling', 'websocket'] });
    const j = await joined(v);
    expect(j.address).toBe('127.0.0.1');
    for (const t0 = Date.now(); v.socket.io.engine.transport.name !== 'websocket' && Date.now() - t0 < 20_000;) await new Promise((r) => setTimeout(r, 50));
    expect(v.socket.io.engine.transport.name).toBe('websocket');
    // The session's polling requests and its upgrade all reached the coordinator that opened it: no reconnects.
    expect(ids.get(v)).toBeDefined();
    expect([...a.logs, ...b.logs].filter((l) => l.msg === 'volunteer joined' && l.volunteer === ids.get(v))).toHaveLength(1);
  });

  it('a client cannot choose the address the coordinator sees by sending its own X-Forwarded-For', async () => {
    const address = '127.0.99.1';
    const liar = volunteerFrom(address, { extraHeaders: { 'x-forwarded-for': '198.51.100.7' } });
    expect((await joined(liar)).address).toBe(address);
  });
});
