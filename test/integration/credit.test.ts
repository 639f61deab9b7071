/**
 * Credit that can be paid out, against real `tabgrid serve` processes and
 * real socket.io volunteers computing real shards: the hold (pending, then
 * payable), wallet claims signed with Sign-In with Ethereum (hostile
 * claimants first), and payout epochs whose proofs are checked with
 * @openzeppelin/merkle-tree and, independently, by hashing with viem.
 */
import { StandardMerkleTree } from '@openzeppelin/merkle-tree';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { concat, encodeAbiParameters, keccak256, type Hex } from 'viem';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import { describe, expect, it } from 'vitest';
import { infer } from '../../cli/commands/infer.ts';
import { payout } from '../../cli/commands/payout.ts';
import { scrape } from '../helpers/metrics.ts';
import { encodeNpy } from '../../shared/tensor/npy.ts';
import { tensorFromTyped } from '../../shared/tensor/tensor.ts';
import { claimMessage } from '../../shared/wallet-claim.ts';
import type { AccountBalance } from '../../shared/protocol/events.ts';
import type { SpawnedCoordinator } from '../helpers/coordinator.ts';
import { mlpModel, randomInput } from '../helpers/onnx-builder.ts';
import { type PerDescribe, perDescribe } from '../helpers/per-test.ts';

const dir = mkdtempSync(join(tmpdir(), 'tabgrid-credit-'));

/** A small job, 2 replicas, run to the end by the volunteers already connected. */
async function runJob(c: SpawnedCoordinator, records: number) {
  const model = mlpModel({ width: 8, layers: 1, seed: records });
  writeFileSync(join(dir, `m${records}.onnx`), model);
  writeFileSync(join(dir, `x${records}.npy`), encodeNpy(tensorFromTyped('float32', [records, 8], randomInput(records, 8, records))));
  const code = await infer({
    server: c.url, token: c.token, model: join(dir, `m${records}.onnx`), input: [`x=${join(dir, `x${records}.npy`)}`],
    shardSize: 4, replicas: 2, format: 'pb', out: join(dir, `out${records}-${c.port}`), quiet: true,
  });
  expect(code).toBe(0);
}

interface AccountView extends AccountBalance { copies: number; changes: { kind: string; amount: number; reason: string; copyId: string | null }[] }
const account = async (c: SpawnedCoordinator, a: string) => (await fetch(`${c.url}/api/v1/accounts/${encodeURIComponent(a)}`)).json() as Promise<AccountView>;

/** A volunteer on the describe's coordinator that keeps the credentials its hello gave it and the balances it was sent. */
function withSecret(shared: PerDescribe, o: Parameters<PerDescribe['volunteer']>[0] = {}) {
  const creds: { volunteerId?: string; secret?: string } = {};
  const balances: AccountBalance[] = [];
  const v = shared.volunteer({
    ...o,
    hooks: {
      hello: (r) => { if (r.secret) Object.assign(creds, { volunteerId: r.volunteerId, secret: r.secret }); },
      balance: (b) => balances.push(b),
    },
  });
  return { v, creds, balances };
}

describe('credit hold and wallet claims', () => {
  const shared = perDescribe(['--credit-hold', '1h']);

  it('credit is pending for the hold; only the volunteer holding its secret, with a signature from the wallet named in a fresh message for its own account, moves it; a replay is refused', async () => {
    const { c } = shared;
    const a = withSecret(shared);
    const b = withSecret(shared);
    await runJob(c, 16);
    const from = a.v.account()!;
    expect(from).toMatch(/^volunteer:/);
    await expect.poll(async () => (await account(c, from)).copies, { timeout: 15_000 }).toBe(4);
    const before = await account(c, from);
    expect(before.balance).toBeGreaterThan(0);
    expect(before).toMatchObject({ pending: before.balance, payable: 0 });
    // The volunteer hears the split too.
    await expect.poll(() => a.balances.at(-1)?.pending, { timeout: 10_000 }).toBe(before.balance);

    const owner = privateKeyToAccount(generatePrivateKey());
    const thief = privateKeyToAccount(generatePrivateKey());
    const host = new URL(c.url).host;
    const post = (body: unknown) => fetch(`${c.url}/api/v1/claims`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    const fresh = (acct: string, wallet: string) => claimMessage({ account: acct, wallet, coordinatorUrl: c.url, now: Date.now() });

    // A stranger holding a wallet but not the volunteer's secret.
    let m = fresh(from, thief.address);
    let r = await post({ volunteerId: a.creds.volunteerId, secret: b.creds.secret, message: m, signature: await thief.signMessage({ message: m }) });
    expect(r.status).toBe(401);
    // The volunteer's own secret, but the message names the owner's wallet and the thief signed it.
    m = fresh(from, owner.address);
    r = await post({ volunteerId: a.creds.volunteerId, secret: a.creds.secret, message: m, signature: await thief.signMessage({ message: m }) });
    expect(r.status).toBe(403);
    expect((await r.json() as { error: string }).error).toMatch(/signed by .*, not by/);
    // A message signed for another volunteer's account, replayed with this one's secret.
    m = fresh(b.v.account()!, owner.address);
    r = await post({ volunteerId: a.creds.volunteerId, secret: a.creds.secret, message: m, signature: await owner.signMessage({ message: m }) });
    expect(r.status).toBe(403);
    // A message for another coordinator.
    m = claimMessage({ account: from, wallet: owner.address, coordinatorUrl: 'https://evil.example', now: Date.now() });
    r = await post({ volunteerId: a.creds.volunteerId, secret: a.creds.secret, message: m, signature: await owner.signMessage({ message: m }) });
    expect(r.status).toBe(403);
    // Garbage is a precise 400.
    r = await post({ volunteerId: a.creds.volunteerId, secret: a.creds.secret, message: m });
    expect(r.status).toBe(400);
    expect(await account(c, from)).toMatchObject({ balance: before.balance, changes: [] });
    expect(await account(c, owner.address)).toMatchObject({ balance: 0 });

    // The right signer: the credit moves, as new rows, and keeps its hold.
    m = fresh(from, owner.address);
    const signature = await owner.signMessage({ message: m });
    r = await post({ volunteerId: a.creds.volunteerId, secret: a.creds.secret, message: m, signature });
    expect(r.status).toBe(200);
    expect(await r.json()).toMatchObject({ from, wallet: owner.address, movedPayable: 0 });
    const moved = await account(c, owner.address);
    expect(moved.balance).toBeCloseTo(before.balance, 9);
    expect(moved.pending).toBeCloseTo(before.balance, 9);
    expect(moved.changes.map((x) => x.kind)).toEqual(['claim_in', 'claim_in', 'claim_in', 'claim_in']);
    expect(moved.changes[0]!.reason).toMatch(new RegExp(`from ${from}`));
    const left = await account(c, from);
    expect(left).toMatchObject({ balance: 0, pending: 0, payable: 0, copies: 4 });
    expect(left.changes.every((x) => x.kind === 'claim_out' && x.amount < 0)).toBe(true);

    // The same signed message again: refused, nothing moves.
    r = await post({ volunteerId: a.creds.volunteerId, secret: a.creds.secret, message: m, signature });
    expect(r.status).toBe(409);
    expect((await account(c, owner.address)).changes).toHaveLength(4);
  });
});

/** keccak256(keccak256(abi.encode(address, uint256))): the standard tree's leaf, hashed here without the library. */
const leafHash = (account: string, amount: string) =>
  keccak256(keccak256(encodeAbiParameters([{ type: 'address' }, { type: 'uint256' }], [account as Hex, BigInt(amount)])));
/** Walks a proof with sorted pairs, as OpenZeppelin's MerkleProof.verify does. */
const walk = (leaf: Hex, proof: string[]) =>
  proof.reduce<Hex>((h, p) => (BigInt(h) < BigInt(p) ? keccak256(concat([h, p as Hex])) : keccak256(concat([p as Hex, h]))), leaf);

/** The operator token the coordinator made at first start (payouts are the operator's). */
const operatorToken = (c: { dataDir: string }) => readFileSync(join(c.dataDir, 'operator-token'), 'utf8').trim();

describe('payouts', () => {
  const shared = perDescribe(['--credit-hold', '0']);

  it('`tabgrid payout` closes an epoch over wallets\' payable credit; its proofs verify with the library and by hand; nothing is paid twice', async () => {
    const { c } = shared;
    const W = privateKeyToAccount(generatePrivateKey()).address;
    const named = withSecret(shared, { wallet: W });
    const anon = withSecret(shared);
    await runJob(c, 12);
    await expect.poll(async () => (await account(c, W)).copies, { timeout: 15_000 }).toBe(3);
    const w = await account(c, W);
    expect(w).toMatchObject({ pending: 0, payable: w.balance });

    // Closing an epoch is the operator's.
    expect((await fetch(`${c.url}/api/v1/payouts`, { method: 'POST' })).status).toBe(401);

    const out = join(dir, 'epoch1');
    const e = (await payout({ server: c.url, token: operatorToken(c), out, quiet: true }))!;
    const units = BigInt(Math.floor(w.balance * 1e6 + 1e-6)).toString();
    // Only wallets: the anonymous volunteer's payable credit waits for a claim.
    expect(e.proofs.map((p) => [p.account, p.amount])).toEqual([[W, units]]);
    const anonAfter = await account(c, anon.v.account()!);
    expect(anonAfter.payable).toBeGreaterThan(0);

    const epoch = JSON.parse(readFileSync(join(out, 'epoch.json'), 'utf8')) as { id: string; root: string; leafEncoding: string[] };
    const proofs = JSON.parse(readFileSync(join(out, 'proofs.json'), 'utf8')) as Record<string, { amount: string; index: number; proof: string[] }>;
    const tree = StandardMerkleTree.load(JSON.parse(readFileSync(join(out, 'tree.json'), 'utf8')) as Parameters<typeof StandardMerkleTree.load<[string, string]>>[0]);
    expect(epoch).toMatchObject({ id: e.id, root: e.root, leafEncoding: ['address', 'uint256'] });
    expect(tree.root).toBe(epoch.root);

    // What a volunteer fetches with its address alone.
    const mine = await (await fetch(`${c.url}/api/v1/accounts/${W.toLowerCase()}/payouts`)).json() as { payouts: { epochId: string; root: string; amount: string; proof: string[] }[] };
    expect(mine.payouts).toHaveLength(1);
    const p = mine.payouts[0]!;
    expect(p).toMatchObject({ epochId: e.id, root: e.root, amount: units, proof: proofs[W]!.proof });
    expect(StandardMerkleTree.verify(p.root, ['address', 'uint256'], [W, p.amount], p.proof)).toBe(true);
    expect(walk(leafHash(W, p.amount), p.proof)).toBe(p.root);
    // A forged amount does not verify, by either check.
    const more = (BigInt(p.amount) + 1n).toString();
    expect(StandardMerkleTree.verify(p.root, ['address', 'uint256'], [W, more], p.proof)).toBe(false);
    expect(walk(leafHash(W, more), p.proof)).not.toBe(p.root);

    // Paid: the wallet's payable is spent, and a second epoch has nothing to pay.
    expect(await account(c, W)).toMatchObject({ payable: 0 });
    expect((await account(c, W)).changes[0]).toMatchObject({ kind: 'payout', reason: expect.stringContaining(e.id) });
    expect(await payout({ server: c.url, token: operatorToken(c), out: join(dir, 'epoch2'), quiet: true })).toBeNull();
    // A lost reply: the same epoch can be written again by id.
    const again = await payout({ server: c.url, token: operatorToken(c), out: join(dir, 'epoch1-again'), epoch: e.id, quiet: true });
    expect(again!.root).toBe(e.root);
    // One epoch closed: the empty second one and the epoch written again close none.
    expect((await scrape(c.url))('tabgrid_payouts_closed_total')).toBe(1);
  });
});
