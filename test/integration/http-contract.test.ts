/**
 * The HTTP contract (shared/http/) against a real coordinator: the OpenAPI
 * document it serves validates as OpenAPI 3.1 and lists exactly the routes
 * the server registered; every reply of a job's life (submitted, followed,
 * its outputs, the swarm, the ledger, an account) parses with its route's
 * schema; and bad input is refused at the edge with the error shape, before
 * anything changes.
 */
import { Validator } from '@seriousme/openapi-schema-validator';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as v from 'valibot';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningCoordinator, startCoordinator } from '../../server/app.ts';
import { ApiError, TabgridClient } from '../../shared/http/client.ts';
import { ErrorReplySchema, JobCreatedSchema } from '../../shared/http/replies.ts';
import { ROUTES } from '../../shared/http/routes.ts';
import { encodeNpy } from '../../shared/tensor/npy.ts';
import { tensorFromTyped } from '../../shared/tensor/tensor.ts';
import { mlpModel, randomInput } from '../helpers/onnx-builder.ts';
import { startVolunteer, type TestVolunteer } from '../helpers/volunteers.ts';
import { fetchAccount, fetchSwarm } from '../../client/lib/coordinator-api.ts';
import { fetchSwarmStats } from '../../client/dashboard/api.ts';

describe('the HTTP contract', () => {
  let c: RunningCoordinator;
  let api: TabgridClient;
  const dataDir = mkdtempSync(join(tmpdir(), 'tabgrid-contract-'));
  const volunteers: TestVolunteer[] = [];

  beforeAll(async () => {
    c = await startCoordinator({ dataDir, port: 0, host: '127.0.0.1', distinctCopies: new Set(), logLevel: 'warn' });
    api = new TabgridClient(c.url, c.token!);
  });
  afterAll(async () => {
    await Promise.all(volunteers.map((x) => x.stop()));
    await c?.close();
  });

  it('serves an OpenAPI 3.1 document that validates', async () => {
    const doc = await api.openapi();
    const result = await new Validator().validate(doc as never);
    expect(result.errors ?? []).toEqual([]);
    expect(result.valid).toBe(true);
    expect(doc.openapi).toBe('3.1.0');
  });

  it('documents every route the server registered under /api, and every documented route exists', async () => {
    const doc = await api.openapi() as { paths: Record<string, Record<string, unknown>> };
    const key = (method: string, url: string) => `${method.toUpperCase()} ${url.replace(/:([A-Za-z0-9_]+)/g, '{$1}')}`;
    const documented = new Set(Object.entries(doc.paths).flatMap(([path, ops]) => Object.keys(ops).map((m) => key(m, path))));
    const registered = new Set(c.routes.map((r) => key(r.method, r.url)));
    // Fastify answers HEAD for every GET by itself; a HEAD is documented only where it means something else.
    const meaningful = [...registered].filter((r) => !(r.startsWith('HEAD ') && registered.has(`GET ${r.slice(5)}`) && !documented.has(r)));
    const undocumented = meaningful.filter((r) => r.split(' ')[1]!.startsWith('/api/') && !documented.has(r));
    const missing = [...documented].filter((r) => !registered.has(r));
    expect(undocumented).toEqual([]);
    expect(missing).toEqual([]);
    // The table and the document agree route for route.
    expect(documented.size).toBe(Object.keys(ROUTES).length);
    // A private project's group (issue 15): five routes, each open to the project's token or the operator's.
    const group = Object.entries(doc.paths).flatMap(([path, ops]) => Object.entries(ops).map(([m, op]) => ({ route: key(m, path), op: op as { tags: string[]; security?: unknown } })))
      .filter((x) => x.op.tags.includes('group'));
    expect(group.map((x) => x.route).sort()).toEqual([
      'DELETE /api/v1/projects/{project}/invites/{invite}', 'DELETE /api/v1/projects/{project}/members/{volunteer}',
      'GET /api/v1/projects/{project}/invites', 'GET /api/v1/projects/{project}/members', 'POST /api/v1/projects/{project}/invites',
    ]);
    for (const x of group) expect(x.op.security).toEqual([{ projectToken: [] }, { operatorToken: [] }]);
  });

  it('answers a job\'s whole life within the contract (every reply parsed by its schema)', async () => {
    const width = 8;
    const records = 12;
    const model = await api.uploadBlob(mlpModel({ width, layers: 2, seed: 3 }));
    expect(await api.hasBlob(model)).toBe(true);
    const input = await api.uploadBlob(encodeNpy(tensorFromTyped('float32', [records, width], randomInput(records, width, 9))));
    const created = await api.createJob({ model, inputs: [{ name: 'x', blob: input, format: 'npy' }], shardSize: 4, replicas: 1 });
    expect(created).toMatchObject({ kind: 'inference', records, shardSize: 4, replicas: 1, state: 'running', shards: { total: 3 } });
    // The operator's own host: trusted from the start, so its lone results at replicas 1 are accepted and credited
    // (an untrusted host's would be unchecked and earn nothing).
    volunteers.push(startVolunteer(c.url, { operatorToken: readFileSync(join(dataDir, 'operator-token'), 'utf8').trim() }));
    const done = await api.waitForJob(created.id, { pollMs: 200, timeoutMs: 60_000 });
    expect(done.state).toBe('completed');
    expect(done.kind === 'inference' && done.records).toBe(records);
    const { outputs } = await api.outputs(created.id);
    expect(outputs.length).toBeGreaterThan(0);
    expect((await api.output(created.id, 0, 'npy')).byteLength).toBeGreaterThan(0);
    expect((await api.jobs()).jobs.map((j) => j.id)).toContain(created.id);
    const swarm = await api.swarm();
    expect(swarm.volunteers.total).toBe(1);
    // The contributor page and the swarm dashboard read /api/v1/swarm through the same client and schema.
    const [pageView, dashView] = await Promise.all([fetchSwarm(c.url), fetchSwarmStats(c.url)]);
    expect(pageView.volunteers).toBe(dashView.stats.volunteers.total);
    expect(pageView.byBackend).toEqual(dashView.stats.volunteers.byBackend);
    expect(pageView.jobs.map((j) => j.id)).toEqual(dashView.jobs.map((j) => j.id));
    const account = volunteers[0]!.account()!;
    const statement = await api.account(account, { limit: 5 });
    expect(statement.copies).toBe(3);
    expect(statement.entries).toHaveLength(3);
    const view = await fetchAccount(c.url, account);
    expect(view).toMatchObject({ account, balance: statement.balance, pending: statement.pending, payable: statement.payable });
    expect(view.entries.map((e) => e.copyId).sort()).toEqual(statement.entries.map((e) => e.copyId).sort());
    expect((await api.ledger()).accounts.find((a) => a.account === account)?.copies).toBe(3);
    expect(await api.health()).toEqual({ ok: true, store: 'sqlite' });
    const project = await api.project();
    expect((await api.publicProject(project.id)).name).toBe(project.name);
    expect((await api.embedInfo(project.id)).project.id).toBe(project.id);
    expect((await api.payouts()).epochs).toEqual([]);

    // The project's public page: the leaderboard is the ledger summed by account, the compute the validated records' FLOPs.
    const board = await api.projectBoard(project.name);
    expect({ ...board, at: 0 }).toEqual({ ...(await api.projectBoard(project.id)), at: 0 });
    const ledger = statement.entries.filter((e) => e.projectId === project.id);
    expect(board.leaderboard).toEqual([{ rank: 1, account, credit: ledger.reduce((n, e) => n + e.amount, 0), copies: ledger.length }]);
    expect(board.credit).toBeCloseTo(board.leaderboard[0]!.credit, 9);
    expect(board.shards).toEqual({ total: 3, validated: 3 });
    expect(board.jobs.completed).toBe(1);
    expect(board.validatedFlops).toBeCloseTo(created.flopsPerRecord * records, 0);
    const page = await fetch(`${c.url}/p/${project.name}`, { redirect: 'manual' });
    expect(page.status).toBe(302);
    expect(new URL(page.headers.get('location')!, `${c.url}/p/${project.name}`).href).toBe(`${c.url}/dashboard.html#/p/${project.name}`);
    await expect(api.projectBoard('no-such-project')).rejects.toMatchObject({ status: 404 });
  });

  it('refuses bad input at the edge with the error shape, and changes nothing', async () => {
    const before = (await api.jobs()).jobs.length;
    const refusals: [string, RequestInit | undefined, number][] = [
      ['/api/v1/jobs', { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${c.token}` }, body: JSON.stringify({ kind: 'bogus' }) }, 400],
      ['/api/v1/jobs', { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${c.token}` }, body: JSON.stringify({ model: 'x', inputs: [] }) }, 400],
      ['/api/v1/jobs/..%2F..%2Fetc', { headers: { authorization: `Bearer ${c.token}` } }, 400],
      ['/api/v1/jobs/abcdefgh/outputs/0?format=csv', { headers: { authorization: `Bearer ${c.token}` } }, 400],
      ['/api/v1/accounts/someone', undefined, 400],
      ['/api/v1/accounts/volunteer:abcdefgh?limit=ten', undefined, 400],
      ['/api/v1/accounts/volunteer:abcdefgh/payouts', undefined, 400],
      ['/api/v1/jobs', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' }, 401],
    ];
    for (const [path, init, status] of refusals) {
      const res = await fetch(`${c.url}${path}`, init);
      const body: unknown = await res.json();
      expect({ path, status: res.status }).toEqual({ path, status });
      expect(v.is(ErrorReplySchema, body), `${path}: ${JSON.stringify(body)}`).toBe(true);
    }
    // The typed client says which field, with the coordinator's code.
    const err = await api.createJob({ model: 'f'.repeat(64), inputs: [], replicas: 0 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect(err).toMatchObject({ status: 400, code: 'bad_request' });
    expect((err as Error).message).toContain('replicas: must be >= 1');
    expect((await api.jobs()).jobs.length).toBe(before);
  });

  it('takes an Idempotency-Key on a submission: a repeat gets the same reply, another body a 422, a bad key a 400', async () => {
    // Documented: the header, with what it does.
    const doc = await api.openapi() as { paths: Record<string, Record<string, { parameters?: { name: string; in: string; required: boolean; description?: string }[] }>> };
    const header = doc.paths['/api/v1/jobs']!.post!.parameters!.find((p) => p.in === 'header');
    expect(header).toMatchObject({ name: 'Idempotency-Key', in: 'header', required: false });
    expect(header!.description).toContain('422');

    const model = await api.uploadBlob(mlpModel({ width: 8, layers: 1, seed: 11 }));
    const input = await api.uploadBlob(encodeNpy(tensorFromTyped('float32', [4, 8], randomInput(4, 8, 11))));
    const submit = (body: unknown, key?: string) => fetch(`${c.url}/api/v1/jobs`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${c.token}`, ...(key !== undefined ? { 'idempotency-key': key } : {}) },
      body: JSON.stringify(body),
    });
    const before = (await api.jobs()).jobs.length;
    const body = { model, inputs: [{ name: 'x', blob: input, format: 'npy' }], shardSize: 2, replicas: 1, name: 'keyed' };
    const first = await submit(body, '"contract-key-1"');
    expect(first.status).toBe(201);
    const a = v.parse(JobCreatedSchema, await first.json());
    // The same request again, its members in another order and the key bare: the same job, the same reply's shape.
    const { name, ...rest } = body;
    const repeat = await submit({ kind: 'inference', name, ...rest }, 'contract-key-1');
    expect(repeat.status).toBe(201);
    const b = v.parse(JobCreatedSchema, await repeat.json());
    expect(b.id).toBe(a.id);
    // The job as it is now (the volunteer of the test above may be computing it): what the submission fixed is the same.
    const fixed = (j: typeof a) => {
      const { state: _s, shards, copies: _c, credit: _cr, finishedAt: _f, error: _e, warnings: _w, waiting: _wt, ...made } = j;
      return { ...made, shards: shards.total };
    };
    expect(Object.keys(b).filter((k) => k !== 'waiting').sort()).toEqual(Object.keys(a).filter((k) => k !== 'waiting').sort());
    expect(fixed(b)).toEqual(fixed(a));
    expect((await api.jobs()).jobs.length).toBe(before + 1);

    // The key with another body: refused with the error shape, naming the job, and nothing changes.
    const other = await submit({ ...body, replicas: 2 }, 'contract-key-1');
    expect(other.status).toBe(422);
    const refusal: unknown = await other.json();
    expect(v.is(ErrorReplySchema, refusal)).toBe(true);
    expect(refusal).toEqual({
      code: 'idempotency_key_reused',
      error: `Idempotency-Key "contract-key-1" was used for job ${a.id}, submitted with another request; a repeat must send the same body, and a new submission a new key`,
    });
    // Bad keys: a precise 400 each, before anything is looked up or made.
    const bad: [string, string][] = [
      ['a key', 'Idempotency-Key may hold only letters, digits, "-", "_", "." and ":" (optionally in double quotes, once); it holds " "'],
      ['k'.repeat(256), 'Idempotency-Key is 256 characters long; at most 255 are taken'],
      ['""', 'Idempotency-Key is empty: send 1 to 255 letters, digits, "-", "_", "." or ":" (a UUID fits)'],
    ];
    for (const [key, why] of bad) {
      const res = await submit(body, key);
      expect({ key, status: res.status }).toEqual({ key, status: 400 });
      expect(await res.json()).toEqual({ code: 'bad_request', error: `invalid headers of POST /api/v1/jobs: idempotency-key: ${why}` });
    }
    expect((await api.jobs()).jobs.length).toBe(before + 1);
  });
});
