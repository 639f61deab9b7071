/**
 * Operating a coordinator: every serve flag as an environment variable (and a
 * README row), /readyz that fails when the store cannot answer, Prometheus
 * jobs/shards/queue/HTTP/build metrics, pid and hostname on every log line.
 */
import { execFile, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { encodeTensors } from '../../shared/tensor/codec.ts';
import { tensorFromTyped } from '../../shared/tensor/tensor.ts';
import { CLI, REPO, freePort, spawnCoordinator } from '../helpers/coordinator.ts';
import { mlpModel, randomInput } from '../helpers/onnx-builder.ts';
import { freshPgSchema } from '../helpers/pg-schema.ts';

const run = promisify(execFile);

describe('operating a coordinator', () => {
  const cleanup: (() => Promise<unknown> | void)[] = [];
  afterEach(async () => {
    for (const f of cleanup.splice(0).reverse()) await Promise.resolve(f()).catch(() => {});
  });

  it('every serve flag has an environment variable and a row in the README table', async () => {
    const help = (await run(process.execPath, [CLI, 'serve', '--help'], { cwd: REPO })).stdout;
    const flags = [...help.matchAll(/^ {2}(--[a-z-]+)/gm)].map((m) => m[1]!).filter((f) => f !== '--help');
    expect(flags.length).toBeGreaterThan(10);
    const readme = readFileSync(join(REPO, 'README.md'), 'utf8');
    for (const flag of flags) {
      const block = help.slice(help.indexOf(`  ${flag}`)).split(/\n {2}-/)[0]!.replace(/\s+/g, ' ');
      const env = /env: (TABGRID_[A-Z_]+)\)/.exec(block)?.[1];
      expect(env, `${flag} has no environment variable`).toBeDefined();
      expect(readme, `README lacks the row for ${flag}`).toContain(`| \`${flag}\` | \`${env}\` |`);
    }
  });

  it('serve takes its settings from the environment alone', async () => {
    const port = await freePort();
    const dataDir = join(mkdtempSync(join(tmpdir(), 'tabgrid-env-')), 'd');
    const p = spawn(process.execPath, [CLI, 'serve'], {
      cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, TABGRID_PORT: String(port), TABGRID_HOST: '127.0.0.1', TABGRID_DATA: dataDir, TABGRID_DISTINCT_COPIES: 'none', TABGRID_LOG_LEVEL: 'debug', TABGRID_MAX_UPLOAD_MB: '1' },
    });
    cleanup.push(() => new Promise((r) => { p.on('exit', r); p.kill('SIGTERM'); }));
    let out = '';
    const listening = await new Promise<Record<string, unknown>>((resolve, reject) => {
      p.stdout!.on('data', (c: Buffer) => {
        out += c.toString();
        const line = out.split('\n').find((l) => l.includes('"coordinator listening"'));
        if (line) resolve(JSON.parse(line));
      });
      p.on('exit', (code) => reject(new Error(`serve exited ${code}`)));
    });
    expect(listening).toMatchObject({ url: `http://127.0.0.1:${port}`, distinctCopies: [], pid: p.pid, hostname: hostname() });
    expect(existsSync(join(dataDir, 'token'))).toBe(true);
    // TABGRID_MAX_UPLOAD_MB=1 holds: 2 MiB is refused.
    const token = readFileSync(join(dataDir, 'token'), 'utf8').trim();
    const big = await fetch(`http://127.0.0.1:${port}/api/v1/blobs/${'0'.repeat(64)}`, {
      method: 'PUT', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/octet-stream' }, body: new Uint8Array(2 * 1024 * 1024),
    });
    expect(big.status).toBe(413);
  }, 60_000);

  it('/metrics counts jobs and shards by state, the queue, HTTP requests by route, and says its build', async () => {
    const c = await spawnCoordinator();
    cleanup.push(() => c.stop());
    const model = await c.api.uploadBlob(mlpModel({ width: 8, layers: 1 }));
    const x = tensorFromTyped('float32', [12, 8], randomInput(12, 8));
    const input = await c.api.uploadBlob(encodeTensors([{ name: 'x', ...x }]));
    const a = await c.api.createJob({ model, inputs: [{ blob: input, format: 'tensors' }], shardSize: 4, replicas: 2 });
    const b = await c.api.createJob({ model, inputs: [{ blob: input, format: 'tensors' }], shardSize: 6, replicas: 3 });
    await c.api.cancel(b.id);
    await c.api.job(a.id);
    await c.api.job(a.id);
    const text = await (await fetch(`${c.url}/metrics`)).text();
    const value = (series: string) => Number(new RegExp(`^${series.replace(/[{}"]/g, (ch) => `\\${ch}`)} (\\S+)$`, 'm').exec(text)?.[1]);
    expect(value('tabgrid_jobs{state="running"}')).toBe(1);
    expect(value('tabgrid_jobs{state="cancelled"}')).toBe(1);
    expect(value('tabgrid_jobs{state="completed"}')).toBe(0);
    // Running job a: 3 open shards, each wanting 2 copies nobody holds; cancelled b counts for neither.
    expect(value('tabgrid_shards{state="open"}')).toBe(3);
    expect(value('tabgrid_queue_depth')).toBe(6);
    expect(value('tabgrid_http_request_duration_seconds_count{method="POST",route="/api/v1/jobs",status="201"}')).toBe(2);
    expect(value('tabgrid_http_request_duration_seconds_count{method="GET",route="/api/v1/jobs/:id",status="200"}')).toBe(2);
    const pkg = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { version: string };
    expect(value(`tabgrid_build_info{version="${pkg.version}",node="${process.version}",store="sqlite"}`)).toBe(1);
    // Every log line names its process and host.
    expect(c.logs.length).toBeGreaterThan(3);
    for (const l of c.logs) expect(l).toMatchObject({ pid: c.proc.pid, hostname: hostname() });
  }, 60_000);

  it('/readyz answers while the store does, and 503 once PostgreSQL lost the schema', async () => {
    const db = await freshPgSchema();
    cleanup.push(() => db.drop());
    const c = await spawnCoordinator({ args: db.serveArgs });
    cleanup.push(() => c.stop());
    const ready = await fetch(`${c.url}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ ok: true, store: 'postgres' });

    await db.query(`DROP SCHEMA ${db.name} CASCADE`);
    const gone = await fetch(`${c.url}/readyz`);
    expect(gone.status).toBe(503);
    expect(await gone.json()).toMatchObject({ ok: false, store: 'postgres', code: 'store_unavailable', error: expect.stringMatching(/^store not ready: relation "jobs" does not exist/) });
    // Liveness is another question: the process still serves.
    expect((await fetch(`${c.url}/healthz`)).status).toBe(200);
  }, 60_000);
});
