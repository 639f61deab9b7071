/**
 * The CLI as an operator and a submitter meet it, against real `tabgrid serve`
 * processes: a job that cannot be served says why (the distinct-address rule
 * with `worker --node 2` on one machine), in status, `jobs`, the `infer`
 * output and the log; Ctrl-C and `cancel`; deadlines; `--no-wait`, `--json`,
 * `--quiet`; and `infer` riding out a coordinator restart.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { encodeNpy } from '../../shared/tensor/npy.ts';
import { tensorFromTyped } from '../../shared/tensor/tensor.ts';
import { CLI, REPO } from '../helpers/coordinator.ts';
import { mlpModel, randomInput } from '../helpers/onnx-builder.ts';
import { perTest } from '../helpers/per-test.ts';
import { waitForJob } from '../helpers/wait.ts';

const run = promisify(execFile);
const dir = mkdtempSync(join(tmpdir(), 'tabgrid-cli-ops-'));
writeFileSync(join(dir, 'm.onnx'), mlpModel({ width: 16, layers: 1, seed: 5 }));
writeFileSync(join(dir, 'x.npy'), encodeNpy(tensorFromTyped('float32', [8, 16], randomInput(8, 16, 5))));
const MODEL = ['--model', join(dir, 'm.onnx'), '--input', join(dir, 'x.npy'), '--shard-size', '4'];

/** A CLI child process whose stderr can be waited on. */
function cli(args: string[], token: string) {
  const p: ChildProcess = spawn(process.execPath, [CLI, ...args], { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, TABGRID_TOKEN: token } });
  let stdout = '';
  let stderr = '';
  const watchers: { re: RegExp; resolve: (m: RegExpMatchArray) => void }[] = [];
  const check = () => {
    for (const w of [...watchers]) {
      const m = stderr.match(w.re);
      if (m) { watchers.splice(watchers.indexOf(w), 1); w.resolve(m); }
    }
  };
  p.stdout!.on('data', (c: Buffer) => { stdout += c.toString(); });
  p.stderr!.on('data', (c: Buffer) => { stderr += c.toString(); check(); });
  // 'close', not 'exit': by then every byte the process wrote has been read.
  const exit = new Promise<number | null>((r) => p.on('close', (code) => r(code)));
  return {
    proc: p, exit,
    get stdout() { return stdout; },
    get stderr() { return stderr; },
    /** Resolves once stderr matches; fails if the process exits first. */
    stderrMatch(re: RegExp): Promise<RegExpMatchArray> {
      const m = stderr.match(re);
      if (m) return Promise.resolve(m);
      return Promise.race([
        new Promise<RegExpMatchArray>((resolve) => watchers.push({ re, resolve })),
        exit.then((code) => { throw new Error(`exited ${code} before stderr matched ${re}:\n${stderr}`); }),
      ]);
    },
  };
}

describe('tabgrid CLI operations', () => {
  const { coordinator, volunteers, defer } = perTest();

  it('says why a job waits under the default distinct rules with `worker --node 2` on one machine; Ctrl-C leaves it running; cancel ends it', async () => {
    const c = await coordinator(['--distinct-copies', 'wallet,address']);
    const worker = spawn(process.execPath, [CLI, 'worker', '--node', '2', '--server', c.url], { cwd: REPO, stdio: 'ignore' });
    defer(() => { worker.kill('SIGKILL'); });
    await c.waitForLog((l) => l.msg === 'volunteer joined' && c.logs.filter((x) => x.msg === 'volunteer joined').length >= 2, 60_000);

    const inf = cli(['infer', '--server', c.url, ...MODEL, '--out', join(dir, 'never')], c.token);
    defer(() => { inf.proc.kill('SIGKILL'); });
    const [, job] = await inf.stderrMatch(/job (\S+): 8 records in 2 shards, 2 replicas/);
    // Warned at submission: two volunteers behind one address cannot supply two copies of a shard.
    await inf.stderrMatch(new RegExp(`warning: job ${job}: replicas 2 need 2 volunteers with distinct wallets and client addresses \\(--distinct-copies wallet,address\\), but the 2 connected volunteers that may compute it give only 1`));
    // Once each shard has its one copy, nothing can take the second: the progress output says why.
    await inf.stderrMatch(new RegExp(`job ${job} waits: 2 volunteers connected, but none may take a copy: 2 share a client address with a copy of the same shard \\(distinct-copies rule 'address'`));

    const env = { ...process.env, TABGRID_TOKEN: c.token };
    const status = (await run(process.execPath, [CLI, 'status', job!, '--server', c.url], { cwd: REPO, env })).stdout;
    expect(status).toMatch(/^state {4}running$/m);
    expect(status).toMatch(/^waiting {2}2 volunteers connected, but none may take a copy: 2 share a client address .*distinct-copies rule 'address'/m);
    const json = JSON.parse((await run(process.execPath, [CLI, 'status', job!, '--server', c.url, '--json'], { cwd: REPO, env })).stdout);
    expect(json).toMatchObject({ id: job, state: 'running', shards: { total: 2, validated: 0 }, waiting: { code: 'excluded' } });
    const jobs = (await run(process.execPath, [CLI, 'jobs', '--server', c.url], { cwd: REPO, env })).stdout;
    expect(jobs).toMatch(new RegExp(`^${job}\\s+inference\\s+running\\s+0/2\\s+\\S+\\s+waits: 2 volunteers connected`, 'm'));
    const jobsJson = JSON.parse((await run(process.execPath, [CLI, 'jobs', '--server', c.url, '--json'], { cwd: REPO, env })).stdout);
    expect(jobsJson.jobs.map((j: { id: string }) => j.id)).toEqual([job]);
    // The log says it once per change, not once per poll: the polls above changed nothing.
    const said = c.logs.filter((l) => l.job === job && typeof l.msg === 'string' && (l.msg as string).startsWith('job waits: 2 volunteers connected, but none'));
    expect(said).toHaveLength(1);
    expect(said[0]).toMatchObject({ code: 'excluded', excluded: { address: 2 } });

    // Ctrl-C: infer stops following, says the job keeps running and how to follow or cancel it.
    inf.proc.kill('SIGINT');
    expect(await inf.exit).toBe(130);
    expect(inf.stderr).toContain(`stopped following job ${job}; it keeps running on the coordinator`);
    expect(inf.stderr).toContain(`tabgrid status ${job} --server ${c.url}`);
    expect(inf.stderr).toContain(`tabgrid cancel ${job} --server ${c.url}`);
    expect((await c.api.job(job!)).state).toBe('running');

    const cancelled = JSON.parse((await run(process.execPath, [CLI, 'cancel', job!, '--server', c.url, '--json'], { cwd: REPO, env })).stdout);
    expect(cancelled).toEqual({ job, state: 'cancelled' });
    const again = await run(process.execPath, [CLI, 'cancel', job!, '--server', c.url], { cwd: REPO, env }).catch((e) => e);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain(`job ${job} is already cancelled`);
  }, 180_000);

  it('fails a job at its deadline with the reason; --no-wait --json returns the id at once; --quiet still prints it', async () => {
    const c = await coordinator();
    const env = { ...process.env, TABGRID_TOKEN: c.token };
    const nowait = await run(process.execPath, [CLI, 'infer', '--server', c.url, ...MODEL, '--out', join(dir, 'nw'), '--no-wait', '--json', '--deadline', '1h'], { cwd: REPO, env });
    const submitted = JSON.parse(nowait.stdout) as { job: string; state: string; warnings: string[] };
    expect(submitted).toMatchObject({ state: 'running', warnings: ['no volunteer is connected yet: the job waits until one is'] });
    expect((await c.api.job(submitted.job)).state).toBe('running');

    const quiet = cli(['infer', '--server', c.url, ...MODEL, '--out', join(dir, 'q'), '--quiet', '--deadline', '2s'], c.token);
    const [, job] = await quiet.stderrMatch(/job (\S+): 8 records in 2 shards/);
    expect(await quiet.exit).toBe(1);
    expect(quiet.stderr).toMatch(new RegExp(`job ${job} waits: no volunteer is connected`));
    expect(quiet.stderr).toMatch(new RegExp(`job ${job} failed: deadline passed: not finished within 2 s of submission \\(by \\S+\\); 0 of 2 shards validated`));
    const s = await c.api.job(job!);
    expect(s).toMatchObject({ state: 'failed', error: expect.stringMatching(/^deadline passed/) });
    expect(c.logs.some((l) => l.msg === 'job failed' && l.job === job)).toBe(true);
    // The one with an hour to go runs on.
    expect((await c.api.job(submitted.job)).state).toBe('running');

    const bad = await run(process.execPath, [CLI, 'infer', '--server', c.url, ...MODEL, '--out', join(dir, 'b'), '--deadline', 'soon'], { cwd: REPO, env }).catch((e) => e);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('--deadline takes a duration of at least 1 s, like 90, 90s, 30m, 2h or 1d; got "soon"');
    const res = await fetch(`${c.url}/api/v1/jobs`, { method: 'POST', headers: { authorization: `Bearer ${c.token}`, 'content-type': 'application/json' }, body: JSON.stringify({ model: 'a'.repeat(64), inputs: [], deadlineSeconds: 0 }) });
    expect(res.status).toBe(400);
    expect(await res.text()).toMatch(/deadlineSeconds/);
    expect((await c.api.jobs()).jobs).toHaveLength(2);
  }, 120_000);

  it('infer rides out a coordinator restart (SIGTERM, same port and data) and finishes the job', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'tabgrid-restart-'));
    let c = await coordinator({ dataDir });
    const port = c.port;
    const out = join(dir, 'restart-out');
    const inf = cli(['infer', '--server', c.url, ...MODEL, '--out', out, '--json'], c.token);
    defer(() => { inf.proc.kill('SIGKILL'); });
    const [, job] = await inf.stderrMatch(/job (\S+): 8 records/);
    await inf.stderrMatch(/waits: no volunteer is connected/);

    await c.stop();
    await inf.stderrMatch(/cannot reach the coordinator at .*; retrying for up to 300 s/);
    c = await coordinator({ dataDir, port });
    volunteers(c, 2);
    expect(await inf.exit).toBe(0);
    expect(inf.stderr).toMatch(/the coordinator is back after/);
    expect(JSON.parse(inf.stdout)).toEqual({ job, state: 'completed', outputs: [join(out, 'output_0.pb')] });
    expect(existsSync(join(out, 'output_0.pb'))).toBe(true);
    expect((await waitForJob(c.api, job!)).state).toBe('completed');
  }, 180_000);

  it('infer that gives up on an absent coordinator prints the exact commands to pick the job up', async () => {
    const c = await coordinator();
    const inf = cli(['infer', '--server', c.url, ...MODEL, '--out', join(dir, 'gone'), '--retry-for', '1'], c.token);
    defer(() => { inf.proc.kill('SIGKILL'); });
    const [, job] = await inf.stderrMatch(/job (\S+): 8 records/);
    await inf.stderrMatch(/waits: no volunteer is connected/);
    await c.stop();
    expect(await inf.exit).toBe(1);
    expect(inf.stderr).toContain(`gave up on the coordinator at ${c.url}`);
    expect(inf.stderr).toContain(`  tabgrid status ${job} --server ${c.url}\n`);
    expect(inf.stderr).toContain(`  tabgrid results ${job} --out ${join(dir, 'gone')} --server ${c.url}\n`);
  }, 120_000);
});
