/**
 * Projects and their tokens (issue 15), against a real `tabgrid serve`: the
 * operator credential made at first start, projects created, listed, changed
 * and deleted through the CLI and the operator HTTP API, tokens issued,
 * revoked and rotated (a revoked token is refused on its next request), jobs
 * with names and labels, and isolation: project A cannot see, use or cancel
 * B's jobs or blobs. A data directory from before projects had settings keeps
 * its local project and token.
 */
import Database from 'better-sqlite3';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiClient } from '../../cli/api-client.ts';
import { sha256 } from '../../server/blobs/blob-store.ts';
import { hashToken } from '../../server/services/job-service.ts';
import { MIGRATIONS } from '../../server/store/sqlite/migrations.ts';
import { encodeTensors } from '../../shared/tensor/codec.ts';
import { tensorFromTyped } from '../../shared/tensor/tensor.ts';
import { CLI, REPO } from '../helpers/coordinator.ts';
import { mlpModel, randomInput } from '../helpers/onnx-builder.ts';
import { perDescribe, perTest } from '../helpers/per-test.ts';

const run = promisify(execFile);

describe('projects and tokens', () => {
  const shared = perDescribe();
  let operator: string;

  beforeAll(() => {
    operator = readFileSync(join(shared.c.dataDir, 'operator-token'), 'utf8').trim();
  });

  /** The CLI as the operator runs it beside the coordinator's data. */
  const tabgrid = async (...args: string[]) => {
    const { c } = shared;
    const r = await run(process.execPath, [CLI, ...args, '--server', c.url, '--data', c.dataDir], { cwd: REPO, env: { ...process.env, TABGRID_OPERATOR_TOKEN: '' } });
    return r.stdout;
  };
  const call = (token: string, method: string, path: string, body?: unknown) => fetch(`${shared.c.url}${path}`, {
    method, headers: { authorization: `Bearer ${token}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const status = async (token: string) => (await call(token, 'GET', '/api/v1/project')).status;
  const projectNames = async () => ((await (await call(operator, 'GET', '/api/v1/operator/projects')).json()) as { projects: { name: string }[] }).projects.map((p) => p.name);

  it('the operator credential is made at first start: mode 600 on disk, only its hash in the store', async () => {
    const { c } = shared;
    expect(operator).toMatch(/^tg_[A-Za-z0-9_-]{32}$/);
    expect(statSync(join(c.dataDir, 'operator-token')).mode & 0o777).toBe(0o600);
    const db = new Database(join(c.dataDir, 'tabgrid.sqlite'), { readonly: true });
    try {
      expect(db.prepare('SELECT hash FROM operator_tokens').all()).toEqual([{ hash: hashToken(operator) }]);
      // Neither secret is anywhere in the database as text.
      const dump = JSON.stringify([db.prepare('SELECT * FROM operator_tokens').all(), db.prepare('SELECT * FROM tokens').all()]);
      expect(dump).not.toContain(operator);
      expect(dump).not.toContain(c.token);
    } finally {
      db.close();
    }
    // It manages projects; a project token does not, and it is no project token.
    expect((await call(operator, 'GET', '/api/v1/operator/projects')).status).toBe(200);
    expect((await call(c.token, 'GET', '/api/v1/operator/projects')).status).toBe(403);
    expect((await call('tg_not-a-token', 'GET', '/api/v1/operator/projects')).status).toBe(403);
    expect(await status(operator)).toBe(401);
    // The local project made at first start still works with its token.
    expect(await status(c.token)).toBe(200);
  });

  it('the CLI creates, lists and shows projects; bad input is refused and changes nothing', async () => {
    const created = JSON.parse(await tabgrid('project', 'create', 'alpha', '--weight', '3', '--description', 'image tagging', '--json')) as
      { project: { name: string; weight: number; private: boolean }; token: string; tokenId: string };
    expect(created.project).toMatchObject({ name: 'alpha', weight: 3, private: false });
    expect(await status(created.token)).toBe(200);
    expect(await tabgrid('project', 'create', 'beta', '--max-in-flight', '4')).toMatch(/project beta: API token tg_/);

    const list = await tabgrid('project', 'list');
    expect(list).toMatch(/^alpha\s+\S+\s+3\s+public\s+-\s+0\s+1\/1\s+image tagging$/m);
    expect(list).toMatch(/^beta\s+\S+\s+1\s+public\s+4\s+0\s+1\/1$/m);
    expect(list).toMatch(/^local\s/m);

    const before = await projectNames();
    for (const [body, why] of [
      [{ name: 'has space' }, /project name/],
      [{ name: '' }, /project name/],
      [{ name: 'gamma', weight: -1 }, /weight must be >= 0.01/],
      [{ name: 'gamma', maxInFlight: 1.5 }, /maxInFlight must be an integer/],
      [{ name: 'gamma', owner: 'x' }, /owner/],
      [{ name: 'gamma', private: 'yes' }, /private/],
    ] as const) {
      const r = await call(operator, 'POST', '/api/v1/operator/projects', body);
      expect(r.status).toBe(400);
      expect(((await r.json()) as { error: string }).error).toMatch(why);
    }
    const dup = await call(operator, 'POST', '/api/v1/operator/projects', { name: 'alpha' });
    expect(dup.status).toBe(409);
    expect(await projectNames()).toEqual(before);
    await expect(tabgrid('project', 'create', 'x', '--weight', '0')).rejects.toThrow(/--weight must be a number/);
    // Payouts are the operator's: its credential closes an epoch; another project's token does not.
    expect((await call(created.token, 'POST', '/api/v1/payouts')).status).toBe(403);
    expect((await call(operator, 'POST', '/api/v1/payouts')).status).toBe(200);
  });

  it('several tokens per project: each revocable on its own and refused at once; rotate keeps only the new one', async () => {
    const first = JSON.parse(await tabgrid('project', 'create', 'delta', '--json')) as { token: string; tokenId: string };
    const second = JSON.parse(await tabgrid('project', 'token', 'create', 'delta', '--label', 'ci', '--json')) as { token: string; tokenId: string };
    expect(await status(first.token)).toBe(200);
    expect(await status(second.token)).toBe(200);

    expect(await tabgrid('project', 'token', 'revoke', 'delta', second.tokenId)).toContain(`revoked ${second.tokenId}`);
    expect(await status(second.token)).toBe(401);
    expect(await status(first.token)).toBe(200);
    // Revoking again, or a token of another project, is refused.
    expect((await call(operator, 'DELETE', `/api/v1/operator/projects/delta/tokens/${second.tokenId}`)).status).toBe(409);
    expect((await call(operator, 'DELETE', `/api/v1/operator/projects/alpha/tokens/${first.tokenId}`)).status).toBe(404);
    expect(await status(first.token)).toBe(200);

    const rotated = JSON.parse(await tabgrid('project', 'token', 'rotate', 'delta', '--json')) as { token: string; revoked: string[] };
    expect(rotated.revoked).toEqual([first.tokenId]);
    expect(await status(first.token)).toBe(401);
    expect(await status(rotated.token)).toBe(200);
    const shown = await tabgrid('project', 'show', 'delta');
    expect(shown).toMatch(new RegExp(`${first.tokenId}\\s+revoked`));
    expect(shown).toMatch(new RegExp(`${second.tokenId}\\s+revoked.*ci$`, 'm'));
    expect(shown.match(/ live /g)).toHaveLength(1);
  });

  describe('isolation between projects, and delete', () => {
    const model = mlpModel({ width: 8, layers: 1, seed: 11 });
    const input = encodeTensors([{ name: 'x', ...tensorFromTyped('float32', [8, 8], randomInput(8, 8, 3)) }]);
    let a: ApiClient;
    let b: ApiClient;
    let aToken: string;
    let bToken: string;
    let bJob: string;

    beforeAll(async () => {
      const { c } = shared;
      const make = async (name: string) => ((await (await call(operator, 'POST', '/api/v1/operator/projects', { name })).json()) as { token: string }).token;
      aToken = await make('iso-a');
      a = new ApiClient(c.url, aToken);
      bToken = await make('iso-b');
      b = new ApiClient(c.url, bToken);
      const hash = await b.uploadBlob(model);
      const x = await b.uploadBlob(input);
      // No volunteer is connected: the job stays running.
      const job = await b.createJob({ model: hash, inputs: [{ name: 'x', blob: x, format: 'tensors' }], shardSize: 4, name: 'b nightly', tags: { team: 'b' } });
      bJob = job.id;
    });

    it('A cannot see, use or cancel B\'s jobs, nor see or use B\'s blobs', async () => {
      expect((await a.jobs()).jobs).toEqual([]);
      // The same answer as for a job that does not exist: ids are not an oracle.
      for (const path of [`/api/v1/jobs/${bJob}`, `/api/v1/jobs/${bJob}/outputs`, `/api/v1/jobs/${bJob}/outputs/0`, `/api/v1/jobs/${bJob}/model`, '/api/v1/jobs/no-such-job']) {
        const r = await call(aToken, 'GET', path);
        expect([path, r.status, ((await r.json()) as { error: string }).error]).toEqual([path, 404, expect.stringMatching(/job \S+ does not exist/)]);
      }
      await expect(a.cancel(bJob)).rejects.toThrow(/404/);
      expect((await b.job(bJob)).state).toBe('running');
      expect((await call(aToken, 'HEAD', `/api/v1/blobs/${sha256(model)}`)).status).toBe(404);
      expect((await call(bToken, 'HEAD', `/api/v1/blobs/${sha256(model)}`)).status).toBe(200);
      await expect(a.createJob({ model: sha256(model), inputs: [{ name: 'x', blob: sha256(input), format: 'tensors' }] })).rejects.toThrow(/was not uploaded by this project/);
      expect((await a.jobs()).jobs).toEqual([]);
    });

    it('job names and labels show in tabgrid jobs and status; bad ones are refused', async () => {
      const { c } = shared;
      const env = { ...process.env, TABGRID_TOKEN: bToken };
      const jobs = (await run(process.execPath, [CLI, 'jobs', '--server', c.url], { cwd: REPO, env })).stdout;
      expect(jobs).toMatch(/^JOB\s+NAME\s+KIND\s+STATE\s+SHARDS\s+CREATED\s+LABELS/m);
      expect(jobs).toMatch(new RegExp(`^${bJob}\\s+b nightly\\s+inference\\s+running\\s+0/2\\s+\\S+\\s+team=b`, 'm'));
      const st = (await run(process.execPath, [CLI, 'status', bJob, '--server', c.url], { cwd: REPO, env })).stdout;
      expect(st).toContain(`job      ${bJob} (inference) "b nightly"`);
      expect(st).toContain('labels   team=b');
      const before = (await b.jobs()).jobs.length;
      for (const extra of [{ tags: { 'bad key': 'x' } }, { name: '' }, { priority: 1.5 }]) {
        await expect(b.createJob({ model: sha256(model), inputs: [{ name: 'x', blob: sha256(input), format: 'tensors' }], ...extra })).rejects.toThrow(/400/);
      }
      expect((await b.jobs()).jobs.length).toBe(before);
    });

    it('delete is refused while a job runs; once none does, the project and its tokens are gone', async () => {
      await expect(tabgrid('project', 'delete', 'iso-b')).rejects.toThrow(/has jobs running/);
      expect(await projectNames()).toContain('iso-b');
      expect(await status(bToken)).toBe(200);
      await b.cancel(bJob);
      expect(await tabgrid('project', 'delete', 'iso-b')).toBe('project iso-b deleted\n');
      expect(await projectNames()).not.toContain('iso-b');
      expect(await status(bToken)).toBe(401);
      expect((await call(operator, 'DELETE', '/api/v1/operator/projects/iso-b')).status).toBe(404);
    });
  });
});

describe('a lost operator token', () => {
  const { coordinator } = perTest();

  it('tabgrid operator token reset makes a new one from the data directory; the running coordinator refuses the old one at once', async () => {
    const c = await coordinator();
    const file = join(c.dataDir, 'operator-token');
    const old = readFileSync(file, 'utf8').trim();
    const projects = (token: string) => fetch(`${c.url}/api/v1/operator/projects`, { headers: { authorization: `Bearer ${token}` } }).then((r) => r.status);
    expect(await projects(old)).toBe(200);
    // Without the data directory there is nothing to reset, and nothing is made.
    const empty = mkdtempSync(join(tmpdir(), 'tabgrid-no-data-'));
    await expect(run(process.execPath, [CLI, 'operator', 'token', 'reset', '--data', empty], { cwd: REPO })).rejects.toThrow(/no coordinator data in/);
    const { stdout } = await run(process.execPath, [CLI, 'operator', 'token', 'reset', '--data', c.dataDir], { cwd: REPO });
    const fresh = /operator token (tg_\S+)/.exec(stdout)![1]!;
    expect(fresh).not.toBe(old);
    expect(readFileSync(file, 'utf8').trim()).toBe(fresh);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(await projects(old)).toBe(403);
    expect(await projects(fresh)).toBe(200);
  });
});

describe('a data directory from before issue 15', () => {
  const { coordinator } = perTest();

  it('keeps its local project and token, and gets an operator credential', async () => {
    // The schema as the previous release left it, with its local project and token.
    const dataDir = mkdtempSync(join(tmpdir(), 'tabgrid-old-data-'));
    const db = new Database(join(dataDir, 'tabgrid.sqlite'));
    const before = MIGRATIONS.findIndex((m) => m.includes('ALTER TABLE projects ADD COLUMN weight'));
    expect(before).toBeGreaterThan(0);
    for (let v = 0; v < before; v++) db.exec(MIGRATIONS[v]!);
    db.pragma(`user_version = ${before}`);
    const token = 'tg_old-local-token-from-before-issue-15';
    db.prepare(`INSERT INTO projects (id, name, created_at, embed) VALUES ('old-local-project', 'local', 1, ?)`).run(JSON.stringify({ allowedOrigins: [], defaultIntensity: 0.3, creditTo: 'visitor' }));
    db.prepare(`INSERT INTO tokens (id, project_id, hash, label, created_at) VALUES ('old-token', 'old-local-project', ?, 'first start', 1)`).run(hashToken(token));
    db.close();
    writeFileSync(join(dataDir, 'token'), `${token}\n`, { mode: 0o600 });

    const c = await coordinator({ dataDir });
    expect(c.token).toBe(token);
    expect(await c.api.project()).toMatchObject({ id: 'old-local-project', name: 'local' });
    const operator = readFileSync(join(dataDir, 'operator-token'), 'utf8').trim();
    const list = await fetch(`${c.url}/api/v1/operator/projects`, { headers: { authorization: `Bearer ${operator}` } });
    expect(((await list.json()) as { projects: unknown[] }).projects).toEqual([
      expect.objectContaining({ id: 'old-local-project', name: 'local', weight: 1, private: false, maxInFlight: 0, running: 0, tokens: [expect.objectContaining({ id: 'old-token', revokedAt: null })] }),
    ]);
  });
});
