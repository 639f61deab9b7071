/**
 * Inference jobs end to end against a real `tabgrid serve` process, real
 * socket.io volunteers running onnxruntime-web, and the real CLI code.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { infer } from '../../cli/commands/infer.ts';
import { outputsDisagreement } from '../../server/core/validation/compare.ts';
import { encodeNpy } from '../../shared/tensor/npy.ts';
import { decodeTensorProto } from '../../shared/tensor/tensorproto.ts';
import { tensorFromTyped } from '../../shared/tensor/tensor.ts';
import { CLI, REPO } from '../helpers/coordinator.ts';
import type { WireTensor } from '../../shared/protocol/events.ts';
import { runDirect } from '../helpers/direct-run.ts';
import { mlpModel, randomInput } from '../helpers/onnx-builder.ts';
import { perDescribe } from '../helpers/per-test.ts';
import { scaleOutputs, type TestVolunteer } from '../helpers/volunteers.ts';

const EXACT = { rtol: 0, atol: 0 };

describe('inference jobs', () => {
  const shared = perDescribe();
  /** Every volunteer started, in order: a later test looks up the first one's account. */
  const volunteers: TestVolunteer[] = [];
  const dir = mkdtempSync(join(tmpdir(), 'tabgrid-infer-'));

  async function submit(records: number, shardSize: number, extra: Partial<Parameters<typeof infer>[0]> = {}) {
    const { c } = shared;
    const model = mlpModel({ width: 16, layers: 2, seed: records });
    const x = tensorFromTyped('float32', [records, 16], randomInput(records, 16, records));
    writeFileSync(join(dir, `m${records}.onnx`), model);
    writeFileSync(join(dir, `x${records}.npy`), encodeNpy(x));
    const out = join(dir, `out${records}`);
    const code = await infer({
      server: c.url, token: c.token, model: join(dir, `m${records}.onnx`), input: [`x=${join(dir, `x${records}.npy`)}`],
      shardSize, format: 'pb', out, quiet: true, ...extra,
    });
    return { code, out, model, x };
  }

  it('splits a job into shards, cross-checks them and returns outputs equal to a direct onnxruntime-web run', async () => {
    const { c } = shared;
    volunteers.push(shared.volunteer(), shared.volunteer(), shared.volunteer());
    const { code, out, model, x } = await submit(100, 16);
    expect(code).toBe(0);
    const got = decodeTensorProto(new Uint8Array(readFileSync(join(out, 'output_0.pb'))));
    const want = await runDirect(model, { x });
    expect(got.dims).toEqual([100, 16]);
    expect(outputsDisagreement([got], [{ ...want[0]!, name: got.name }], EXACT)).toBeNull();
    // 7 shards × 2 replicas, each credited once.
    const job = c.logs.find((l) => l.msg === 'inference job created' && l.records === 100)!;
    expect(job.shards).toBe(7);
    const validated = c.logs.filter((l) => l.msg === 'shard validated' && l.job === job.job);
    expect(validated).toHaveLength(7);
  });

  // The coordinator remembers the checked, stored form of an input blob: a second job on it must still come out right.
  it('a second job on the same input blob, with another shard size, comes out right too', async () => {
    const { c } = shared;
    const { code, out, model, x } = await submit(100, 25);
    expect(code).toBe(0);
    const got = decodeTensorProto(new Uint8Array(readFileSync(join(out, 'output_0.pb'))));
    expect(outputsDisagreement([got], [{ ...(await runDirect(model, { x }))[0]!, name: got.name }], EXACT)).toBeNull();
    expect(c.logs.filter((l) => l.msg === 'inference job created' && l.records === 100).map((l) => l.shards)).toEqual([7, 4]);
  });

  it('outvotes a volunteer that perturbs its outputs: no credit, and its numbers never reach the outputs', async () => {
    const { c } = shared;
    const liar = shared.volunteer({ tamper: scaleOutputs(1.5) });
    volunteers.push(liar);
    const { code, out, model, x } = await submit(120, 8);
    expect(code).toBe(0);
    const got = decodeTensorProto(new Uint8Array(readFileSync(join(out, 'output_0.pb'))));
    const want = await runDirect(model, { x });
    expect(outputsDisagreement([got], [{ ...want[0]!, name: got.name }], EXACT)).toBeNull();
    // The liar did take copies, each was judged invalid, and it earned nothing.
    expect(liar.uploaded.length).toBeGreaterThan(0);
    await expect.poll(() => liar.outcomes.length, { timeout: 10_000 }).toBeGreaterThan(0);
    expect(liar.outcomes.every((o) => o.outcome === 'invalid' && o.credit === 0)).toBe(true);
    expect(liar.outcomes[0]!.reason).toMatch(/disagrees with the canonical result/);
    const account = await (await fetch(`${c.url}/api/v1/accounts/${encodeURIComponent(liar.account()!)}`)).json() as { balance: number; entries: unknown[] };
    expect(account.balance).toBe(0);
    expect(account.entries).toHaveLength(0);
    const honest = await (await fetch(`${c.url}/api/v1/accounts/${encodeURIComponent(volunteers[0]!.account()!)}`)).json() as { balance: number };
    expect(honest.balance).toBeGreaterThan(0);
    expect(c.logs.some((l) => l.msg === 'no consensus: issuing one more copy')).toBe(true);
  });

  it('judges a volunteer that floods NaN invalid', async () => {
    const { c } = shared;
    const nan = shared.volunteer({
      tamper: (outs: WireTensor[]) => outs.map((o) => ({ ...o, data: new Uint8Array(new Float32Array(o.data.byteLength / 4).fill(NaN).buffer) })),
    });
    volunteers.push(nan);
    const { code } = await submit(90, 6);
    expect(code).toBe(0);
    await expect.poll(() => nan.outcomes.length, { timeout: 10_000 }).toBeGreaterThan(0);
    expect(nan.outcomes.every((o) => o.outcome === 'invalid' && o.credit === 0)).toBe(true);
    expect(nan.outcomes[0]!.reason).toMatch(/NaN/);
    await nan.stop();
  });

  it('runs as the real CLI: infer, status, results, ledger', async () => {
    const { c } = shared;
    const run = promisify(execFile);
    const model = mlpModel({ width: 16, layers: 1, seed: 3 });
    const x = tensorFromTyped('float32', [10, 16], randomInput(10, 16, 3));
    writeFileSync(join(dir, 'cli.onnx'), model);
    writeFileSync(join(dir, 'cli.npy'), encodeNpy(x));
    const env = { ...process.env, TABGRID_TOKEN: c.token };
    const r = await run(process.execPath, [CLI, 'infer', '--server', c.url, '--model', join(dir, 'cli.onnx'), '--input', join(dir, 'cli.npy'),
      '--format', 'npy', '--out', join(dir, 'cli-out'), '--shard-size', '4', '--json'], { cwd: REPO, env });
    const { job } = JSON.parse(r.stdout) as { job: string };
    expect(existsSync(join(dir, 'cli-out', 'output_0.npy'))).toBe(true);
    expect(r.stderr).toMatch(/10 records in 3 shards, 2 replicas/);
    const status = JSON.parse((await run(process.execPath, [CLI, 'status', job, '--server', c.url, '--json'], { cwd: REPO, env })).stdout);
    expect(status).toMatchObject({ state: 'completed', shards: { total: 3, validated: 3, failed: 0 } });
    const res = await run(process.execPath, [CLI, 'results', job, '--server', c.url, '--out', join(dir, 'cli-res')], { cwd: REPO, env });
    expect(res.stdout.trim()).toBe(join(dir, 'cli-res', 'output_0.pb'));
    const ledger = await run(process.execPath, [CLI, 'ledger', '--server', c.url], { cwd: REPO, env });
    expect(ledger.stdout).toMatch(/volunteer:\S+\s+\d+\.\d{6}\s+\(\d+ valid copies\)/);
    const bad = await run(process.execPath, [CLI, 'infer', '--server', c.url, '--model', join(dir, 'cli.onnx'), '--input', join(dir, 'missing.npy'), '--out', join(dir, 'x')], { cwd: REPO, env }).catch((e) => e);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/cannot read input .*missing\.npy/);
  });
});
