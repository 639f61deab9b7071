/**
 * Payout epochs: the payable credit of every wallet, closed into a Merkle tree
 * in @openzeppelin/merkle-tree's StandardMerkleTree format over leaves
 * `[address, uint256 amount]`, so a standard Solidity distributor
 * (MerkleProof.verify over keccak256(bytes.concat(keccak256(abi.encode(address, amount)))))
 * can pay each wallet once against the root.
 *
 * Amounts are integers in micro-credits (1 credit = 1 GFLOP = 1,000,000
 * units), rounded down: a payout never pays more than is payable, and the
 * remainder below one unit stays payable for a later epoch.
 */
import { StandardMerkleTree } from '@openzeppelin/merkle-tree';
import { isWallet, toChecksumAddress } from '../../../shared/wallet.ts';

export const UNITS_PER_CREDIT = 1_000_000;
export const LEAF_ENCODING = ['address', 'uint256'] as const;

/** Credit (a float) to whole units, rounded down; a sum a hair under a whole unit from float noise still counts. */
export function creditToUnits(credit: number): bigint {
  if (!Number.isFinite(credit) || credit <= 0) return 0n;
  return BigInt(Math.floor(credit * UNITS_PER_CREDIT + 1e-6));
}

export function unitsToCredit(units: bigint): number {
  return Number(units) / UNITS_PER_CREDIT;
}

export interface PayoutLeaf {
  account: string;
  /** Micro-credits, as a decimal string (uint256). */
  amount: string;
  /** The leaf's index in the tree (for getProof). */
  index: number;
}

export interface PayoutDraft {
  root: string;
  /** StandardMerkleTree.dump(): enough to rebuild the tree and every proof. */
  tree: ReturnType<StandardMerkleTree<[string, string]>['dump']>;
  leaves: PayoutLeaf[];
  /** Total paid, in units (decimal string) and in credit. */
  totalUnits: string;
  /** Per account, the credit the epoch takes out of its payable balance (units / 1e6). */
  debits: { account: string; credit: number }[];
}

/**
 * Builds the epoch over the payable balances given. Only wallets are paid
 * (a `volunteer:<id>` account must first be claimed to a wallet it proves
 * it owns); accounts with less than one unit payable are left for later.
 * Null when nothing is payable.
 */
export function buildPayout(payable: readonly { account: string; payable: number }[]): PayoutDraft | null {
  const rows = payable
    .filter((p) => isWallet(p.account))
    .map((p) => ({ account: toChecksumAddress(p.account), units: creditToUnits(p.payable) }))
    .filter((p) => p.units > 0n)
    // A fixed order: the same balances always give the same root.
    .sort((a, b) => (a.account < b.account ? -1 : a.account > b.account ? 1 : 0));
  if (!rows.length) return null;
  const values: [string, string][] = rows.map((r) => [r.account, r.units.toString()]);
  const tree = StandardMerkleTree.of(values, [...LEAF_ENCODING]);
  const leaves: PayoutLeaf[] = [];
  for (const [index, [account, amount]] of tree.entries()) leaves.push({ account, amount, index });
  return {
    root: tree.root,
    tree: tree.dump(),
    leaves,
    totalUnits: rows.reduce((s, r) => s + r.units, 0n).toString(),
    debits: rows.map((r) => ({ account: r.account, credit: unitsToCredit(r.units) })),
  };
}

/** One account's proof in a stored epoch. */
export function proofFor(tree: PayoutDraft['tree'], index: number): string[] {
  return StandardMerkleTree.load(tree as Parameters<typeof StandardMerkleTree.load<[string, string]>>[0]).getProof(index);
}
