/**
 * A job submission whose reply is lost makes one job, against a real
 * coordinator. A proxy between the client and the coordinator passes
 * everything on, except that it swallows the reply to the first
 * POST /api/v1/jobs: it waits for the coordinator's whole answer (the job is
 * made by then) and closes the client's connection without a byte of it, as a
 * connection dropped on the way back does. The typed client, and `tabgrid
 * infer` on it, send the submission again with its Idempotency-Key and get the
 * job the first made; `--idempotency-key` makes a rerun of the command find
 * it too; keys are a project's own.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningCoordinator, startCoordinator } from '../../server/app.ts';
import { TabgridClient, Unreachable } from '../../shared/http/client.ts';
import { ROUTES } from '../../shared/http/routes.ts';
import { encodeNpy } from '../../shared/tensor/npy.ts';
import { tensorFromTyped } from '../../shared/tensor/tensor.ts';
import { CLI, REPO } from '../helpers/coordinator.ts';
import { mlpModel, randomInput } from '../helpers/onnx-builder.ts';

const run = promisify(execFile);

interface Passed { method: string; path: string; key: string | undefined; swallowed: boolean }

/** The proxy: forwards every request to `upstream`; the first `swallow` job submissions get no reply at all. */
async function lossyProxy(upstream: string, swallow: number): Promise<{ url: string; seen: Passed[]; close: () => Promise<void> }> {
  const seen: Passed[] = [];
  let left = swallow;
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', async () => {
      const headers: Record<string, string> = {};
      for (const name of ['authorization', 'content-type', 'accept', 'idempotency-key']) {
        const value = req.headers[name];
        if (typeof value === 'string') headers[name] = value;
      }
      const body = Buffer.concat(chunks);
      const answer = await fetch(`${upstream}${req.url}`, { method: req.method!, headers, ...(body.length ? { body } : {}) });
      const bytes = Buffer.from(await answer.arrayBuffer());
      const swallowed = req.method === 'POST' && req.url === '/api/v1/jobs' && left > 0;
      seen.push({ method: req.method!, path: req.url!, key: headers['idempotency-key'], swallowed });
      if (swallowed) {
        left--;
        // The coordinator answered (the job exists); the client hears nothing but its connection closing.
        req.socket.destroy();
        return;
      }
      res.writeHead(answer.status, { 'content-type': answer.headers.get('content-type') ?? 'application/octet-stream' });
      res.end(bytes);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const address = server.address();
  if (!address || typeof address !== 'object') throw new Error('no address');
  return {
    url: `http://127.0.0.1:${address.port}`,
    seen,
    close: () => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }),
  };
}

describe('a job submission that lost its reply', () => {
  let c: RunningCoordinator;
  let api: TabgridClient;
  const dir = mkdtempSync(join(tmpdir(), 'tabgrid-idempotent-'));
  const closers: (() => Promise<void>)[] = [];
  let model: string;
  let input: string;
  const request = () => ({ model, inputs: [{ name: 'x', blob: input, format: 'npy' as const }], shardSize: 4, replicas: 1 });
  const jobCount = async () => (await api.jobs()).jobs.length;

  beforeAll(async () => {
    c = await startCoordinator({ dataDir: join(dir, 'data'), port: 0, host: '127.0.0.1', distinctCopies: new Set(), logLevel: 'warn' });
    api = new TabgridClient(c.url, c.token!);
    const modelBytes = mlpModel({ width: 8, layers: 1, seed: 4 });
    const inputBytes = encodeNpy(tensorFromTyped('float32', [8, 8], randomInput(8, 8, 4)));
    model = await api.uploadBlob(modelBytes);
    input = await api.uploadBlob(inputBytes);
    writeFileSync(join(dir, 'm.onnx'), modelBytes);
    writeFileSync(join(dir, 'x.npy'), inputBytes);
  });
  afterAll(async () => {
    for (const close of closers.splice(0)) await close();
    await c?.close();
  });

  it('without a key is not sent again, and leaves a job its submitter never heard of', async () => {
    // What the key is for: the coordinator made the job, the client cannot know it, and sending it again would make another.
    const proxy = await lossyProxy(c.url, 1);
    closers.push(proxy.close);
    const before = await jobCount();
    const err = await new TabgridClient(proxy.url, c.token!).call(ROUTES.createJob, { body: request() }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Unreachable);
    expect((err as Error).message).toContain('not sent again: the coordinator may have applied this POST');
    expect(proxy.seen.filter((x) => x.method === 'POST')).toEqual([{ method: 'POST', path: '/api/v1/jobs', key: undefined, swallowed: true }]);
    expect(await jobCount()).toBe(before + 1);
  });

  it('through the typed client is sent again with its key and makes exactly one job', async () => {
    const proxy = await lossyProxy(c.url, 1);
    closers.push(proxy.close);
    const before = (await api.jobs()).jobs.map((j) => j.id);
    const created = await new TabgridClient(proxy.url, c.token!).createJob(request());
    const posts = proxy.seen.filter((x) => x.method === 'POST');
    expect(posts.map((x) => x.swallowed)).toEqual([true, false]);
    expect(posts[0]!.key).toMatch(/^"[0-9a-f]{32}"$/);
    expect(posts[1]!.key).toBe(posts[0]!.key);
    const after = (await api.jobs()).jobs.map((j) => j.id);
    // One new job, the one the reply named: the repeat was answered with the first's job.
    expect(after.filter((id) => !before.includes(id))).toEqual([created.id]);
    expect(created).toMatchObject({ kind: 'inference', state: 'running', records: 8, shardSize: 4, replicas: 1, shards: { total: 2 } });
  });

  it('through `tabgrid infer` makes exactly one job', async () => {
    const proxy = await lossyProxy(c.url, 1);
    closers.push(proxy.close);
    const before = (await api.jobs()).jobs.map((j) => j.id);
    const r = await run(process.execPath, [CLI, 'infer', '--server', proxy.url, '--model', join(dir, 'm.onnx'), '--input', join(dir, 'x.npy'),
      '--shard-size', '4', '--replicas', '1', '--no-wait', '--json', '--out', join(dir, 'out')], { cwd: REPO, env: { ...process.env, TABGRID_TOKEN: c.token! } });
    const { job } = JSON.parse(r.stdout) as { job: string };
    expect(proxy.seen.filter((x) => x.method === 'POST').map((x) => x.swallowed)).toEqual([true, false]);
    const after = (await api.jobs()).jobs.map((j) => j.id);
    expect(after.filter((id) => !before.includes(id))).toEqual([job]);
  }, 60_000);

  it('run again by hand with the same --idempotency-key finds the same job; another request with it is refused', async () => {
    const before = await jobCount();
    const infer = (...extra: string[]) => run(process.execPath, [CLI, 'infer', '--server', c.url, '--model', join(dir, 'm.onnx'), '--input', join(dir, 'x.npy'),
      '--shard-size', '4', '--no-wait', '--json', '--out', join(dir, 'out'), '--idempotency-key', 'nightly-2026-12-03', ...extra],
    { cwd: REPO, env: { ...process.env, TABGRID_TOKEN: c.token! } });
    const first = JSON.parse((await infer('--replicas', '1')).stdout) as { job: string };
    const again = JSON.parse((await infer('--replicas', '1')).stdout) as { job: string };
    expect(again.job).toBe(first.job);
    expect(await jobCount()).toBe(before + 1);
    const other = await infer('--replicas', '2').then(() => null, (e: { code: number; stderr: string }) => e);
    expect(other?.code).toBe(1);
    expect(other?.stderr).toContain(`422 Idempotency-Key "nightly-2026-12-03" was used for job ${first.job}, submitted with another request`);
    expect(await jobCount()).toBe(before + 1);
  }, 90_000);

  it('sent several times at once makes one job', async () => {
    const before = await jobCount();
    const all = await Promise.all([1, 2, 3].map(() => api.createJob(request(), { idempotencyKey: 'at-once' })));
    expect(new Set(all.map((j) => j.id)).size).toBe(1);
    expect(await jobCount()).toBe(before + 1);
  });

  it('keys are a project\'s own: another project\'s same key makes its own job', async () => {
    const operator = new TabgridClient(c.url, readFileSync(join(dir, 'data', 'operator-token'), 'utf8').trim());
    const { token } = await operator.createProject({ name: 'other' });
    const other = new TabgridClient(c.url, token);
    // Blobs are per project: the other project uploads the same bytes, so the same request names the same hashes.
    expect(await other.uploadBlob(readFileSync(join(dir, 'm.onnx')))).toBe(model);
    expect(await other.uploadBlob(readFileSync(join(dir, 'x.npy')))).toBe(input);
    const mine = await api.createJob(request(), { idempotencyKey: 'shared-key' });
    const theirs = await other.createJob(request(), { idempotencyKey: 'shared-key' });
    expect(theirs.id).not.toBe(mine.id);
    expect(theirs.projectId).not.toBe(mine.projectId);
    expect((await other.jobs()).jobs.map((j) => j.id)).toEqual([theirs.id]);
    // Each repeat finds its own project's job.
    expect((await api.createJob(request(), { idempotencyKey: 'shared-key' })).id).toBe(mine.id);
    expect((await other.createJob(request(), { idempotencyKey: 'shared-key' })).id).toBe(theirs.id);
  });
});
