/**
 * `tabgrid payout --out DIR`: closes a payout epoch on the coordinator (the
 * operator's token) and writes what a Merkle distributor needs:
 *   DIR/epoch.json   id, root, total (micro-credits), accounts, leaf encoding
 *   DIR/tree.json    the StandardMerkleTree dump (@openzeppelin/merkle-tree)
 *   DIR/proofs.json  per wallet: amount, leaf index, proof
 * `--epoch ID` writes an epoch already closed (after a lost reply) instead.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type ReplyOf, ROUTES, TabgridClient } from '../../shared/http/client.ts';

type EpochReply = ReplyOf<typeof ROUTES.payout>;

export async function payout(o: { server: string; token: string; out: string; epoch?: string; quiet?: boolean }): Promise<EpochReply | null> {
  const api = new TabgridClient(o.server, o.token);
  let epoch: EpochReply;
  if (o.epoch) {
    epoch = await api.payout(o.epoch);
  } else {
    const r = await api.closePayout();
    if (!r.epoch) {
      if (!o.quiet) process.stdout.write(`nothing to pay: ${r.reason ?? 'no payable credit'}\n`);
      return null;
    }
    epoch = r.epoch;
  }
  await mkdir(o.out, { recursive: true });
  await writeFile(join(o.out, 'tree.json'), JSON.stringify(epoch.tree, null, 2));
  await writeFile(join(o.out, 'proofs.json'), JSON.stringify(Object.fromEntries(epoch.proofs.map((p) => [p.account, { amount: p.amount, index: p.index, proof: p.proof }])), null, 2));
  await writeFile(join(o.out, 'epoch.json'), JSON.stringify({
    id: epoch.id, root: epoch.root, totalUnits: epoch.totalUnits, accounts: epoch.accounts, closedAt: new Date(epoch.at).toISOString(),
    leafEncoding: ['address', 'uint256'], unitsPerCredit: 1_000_000,
  }, null, 2));
  if (!o.quiet) process.stdout.write(`payout epoch ${epoch.id}: root ${epoch.root}, ${epoch.accounts} wallets, ${Number(epoch.totalUnits) / 1e6} credits; written to ${o.out}\n`);
  return epoch;
}
