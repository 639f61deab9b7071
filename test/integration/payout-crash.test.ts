/**
 * Payouts across a SIGKILL of the coordinator in the middle of closing an
 * epoch, on both stores: a real `tabgrid serve` (stopped at an exact point
 * by test/helpers/payout-crash.mjs, then killed), real volunteers' credit,
 * the real `tabgrid payout` CLI. After the restart the epoch is either absent
 * (killed before its transaction committed: every credit still payable, and
 * the next epoch pays it once) or complete (killed after: its credit spent,
 * the next epoch has nothing to pay, and `--epoch ID` writes it again). In
 * no case is a credit paid twice.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { encodeTensors } from '../../shared/tensor/codec.ts';
import { tensorFromTyped } from '../../shared/tensor/tensor.ts';
import { CLI, REPO, spawnCoordinator, type SpawnedCoordinator } from '../helpers/coordinator.ts';
import { mlpModel, randomInput } from '../helpers/onnx-builder.ts';
import { freshPgSchema, type PgSchema } from '../helpers/pg-schema.ts';
import { startVolunteer } from '../helpers/volunteers.ts';
import { waitForJob } from '../helpers/wait.ts';

const HOOK = join(REPO, 'test/helpers/payout-crash.mjs');
const run = promisify(execFile);

interface Account { balance: number; payable: number; debt: number }
const account = async (c: SpawnedCoordinator, a: string) => (await fetch(`${c.url}/api/v1/accounts/${a}`)).json() as Promise<Account>;
const epochs = async (c: SpawnedCoordinator) => ((await (await fetch(`${c.url}/api/v1/payouts`)).json()) as { epochs: { id: string; root: string }[] }).epochs;
const paidTo = async (c: SpawnedCoordinator, w: string) =>
  ((await (await fetch(`${c.url}/api/v1/accounts/${w}/payouts`)).json()) as { payouts: { epochId: string; amount: string }[] }).payouts;
const operatorToken = (dataDir: string) => readFileSync(join(dataDir, 'operator-token'), 'utf8').trim();

/** `tabgrid payout`, as the operator runs it. */
function payoutCli(c: SpawnedCoordinator, out: string, extra: string[] = []) {
  return run(process.execPath, [CLI, 'payout', '--server', c.url, '--out', out, '--token', operatorToken(c.dataDir), ...extra], { cwd: REPO, timeout: 60_000 })
    .then((r) => ({ code: 0, stdout: r.stdout, stderr: r.stderr }), (e: { code?: number; stdout?: string; stderr?: string }) => ({ code: e.code ?? -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' }));
}

async function untilStopped(dataDir: string, cli: Promise<{ code: number; stdout: string; stderr: string }>) {
  const f = join(dataDir, 'payout-stopped');
  let done: { code: number; stdout: string; stderr: string } | null = null;
  void cli.then((r) => { done = r; });
  for (const t0 = Date.now(); !existsSync(f); await new Promise((r) => setTimeout(r, 50))) {
    if (done || Date.now() - t0 > 60_000) throw new Error(`the coordinator never reached the payout crash point: ${JSON.stringify(done)}`);
  }
  return readFileSync(f, 'utf8');
}

for (const storeKind of ['sqlite', 'postgres'] as const) {
  describe(`a payout epoch across a SIGKILL (${storeKind})`, () => {
    const dir = mkdtempSync(join(tmpdir(), `tabgrid-payout-crash-${storeKind}-`));
    const dataDir = join(dir, 'data');
    let db: PgSchema | null = null;
    // No spot checks: a known-answer copy still computing when the volunteers stop would add credit after it was counted.
    let args: string[] = ['--credit-hold', '0', '--spot-checks', '0'];
    let c: SpawnedCoordinator;
    const W1 = privateKeyToAccount(generatePrivateKey()).address;
    const W2 = privateKeyToAccount(generatePrivateKey()).address;
    const earned: Record<string, bigint> = {};
    const start = () => spawnCoordinator({ dataDir, args, nodeArgs: ['--import', HOOK] });

    beforeAll(async () => {
      if (storeKind === 'postgres') {
        db = await freshPgSchema();
        args = [...args, ...db.serveArgs];
      }
      c = await start();
      // Two wallets earn payable credit (no hold) on one real job.
      const vols = [W1, W2].map((wallet) => startVolunteer(c.url, { wallet }));
      const model = await c.api.uploadBlob(mlpModel({ width: 8, layers: 1 }));
      const x = await c.api.uploadBlob(encodeTensors([{ name: 'x', ...tensorFromTyped('float32', [16, 8], randomInput(16, 8)) }]));
      const job = await c.api.createJob({ model, inputs: [{ blob: x, format: 'tensors' }], shardSize: 4, replicas: 2 });
      expect((await waitForJob(c.api, job.id, 90_000)).state).toBe('completed');
      await Promise.all(vols.map((v) => v.stop()));
      for (const w of [W1, W2]) {
        const a = await account(c, w);
        expect(a.payable).toBeGreaterThan(0);
        earned[w] = BigInt(Math.floor(a.payable * 1e6 + 1e-6));
      }
    }, 180_000);
    afterEach(() => {
      for (const f of ['crash-mid-payout', 'crash-after-payout', 'payout-stopped']) rmSync(join(dataDir, f), { force: true });
    });
    afterAll(async () => {
      await c?.stop();
      await db?.drop();
    });

    it('killed inside the epoch\'s transaction: after restart the epoch is absent, every credit still payable, and the next epoch pays each once', async () => {
      writeFileSync(join(dataDir, 'crash-mid-payout'), '');
      const cli = payoutCli(c, join(dir, 'never'));
      expect(await untilStopped(dataDir, cli)).toBe('mid-payout');
      await c.kill('SIGKILL');
      const lost = await cli;
      expect(lost.code).not.toBe(0);
      expect(existsSync(join(dir, 'never', 'epoch.json'))).toBe(false);
      rmSync(join(dataDir, 'crash-mid-payout'));

      c = await start();
      expect(await epochs(c)).toEqual([]);
      for (const w of [W1, W2]) expect(BigInt(Math.floor((await account(c, w)).payable * 1e6 + 1e-6))).toBe(earned[w]);
      const ok = await payoutCli(c, join(dir, 'e1'));
      expect(ok.code, ok.stderr).toBe(0);
      const e1 = JSON.parse(readFileSync(join(dir, 'e1', 'epoch.json'), 'utf8')) as { id: string };
      expect((await epochs(c)).map((e) => e.id)).toEqual([e1.id]);
      for (const w of [W1, W2]) {
        expect((await paidTo(c, w)).map((p) => [p.epochId, BigInt(p.amount)])).toEqual([[e1.id, earned[w]]]);
        expect(await account(c, w)).toMatchObject({ payable: expect.closeTo(0, 6), debt: 0 });
      }
    }, 180_000);

    it('killed after the epoch committed, before its reply: after restart it is complete, nothing is paid again, and --epoch writes it', async () => {
      // New credit to pay: the same wallets earn again.
      const vols = [W1, W2].map((wallet) => startVolunteer(c.url, { wallet }));
      const model = await c.api.uploadBlob(mlpModel({ width: 8, layers: 1, seed: 2 }));
      const x = await c.api.uploadBlob(encodeTensors([{ name: 'x', ...tensorFromTyped('float32', [8, 8], randomInput(8, 8, 2)) }]));
      const job = await c.api.createJob({ model, inputs: [{ blob: x, format: 'tensors' }], shardSize: 4, replicas: 2 });
      expect((await waitForJob(c.api, job.id, 90_000)).state).toBe('completed');
      await Promise.all(vols.map((v) => v.stop()));
      const owed: Record<string, bigint> = {};
      for (const w of [W1, W2]) owed[w] = BigInt(Math.floor((await account(c, w)).payable * 1e6 + 1e-6));
      const before = (await epochs(c)).length;

      writeFileSync(join(dataDir, 'crash-after-payout'), '');
      const cli = payoutCli(c, join(dir, 'lost'));
      expect(await untilStopped(dataDir, cli)).toBe('after-payout');
      await c.kill('SIGKILL');
      expect((await cli).code).not.toBe(0);
      rmSync(join(dataDir, 'crash-after-payout'));

      c = await start();
      const all = await epochs(c);
      expect(all).toHaveLength(before + 1);
      const e2 = all[0]!;
      for (const w of [W1, W2]) {
        expect((await paidTo(c, w)).find((p) => p.epochId === e2.id)?.amount).toBe(owed[w]!.toString());
        expect((await account(c, w)).payable).toBeCloseTo(0, 6);
      }
      // Closing again pays nothing: each credit was paid in exactly one epoch.
      const again = await payoutCli(c, join(dir, 'again'));
      expect(again.code, again.stderr).toBe(0);
      expect(again.stdout).toMatch(/nothing to pay/);
      expect(await epochs(c)).toHaveLength(before + 1);
      for (const w of [W1, W2]) {
        expect((await paidTo(c, w)).reduce((s, p) => s + BigInt(p.amount), 0n)).toBe(earned[w]! + owed[w]!);
      }
      // The lost reply, written again by id.
      const rewrite = await payoutCli(c, join(dir, 'e2'), ['--epoch', e2.id]);
      expect(rewrite.code, rewrite.stderr).toBe(0);
      expect(JSON.parse(readFileSync(join(dir, 'e2', 'epoch.json'), 'utf8'))).toMatchObject({ id: e2.id, root: e2.root });
    }, 240_000);
  });
}
