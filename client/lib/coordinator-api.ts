/**
 * The coordinator's public HTTP views the contributor page shows before and
 * while contributing: what runs (`/api/v1/swarm`) and what an account earned
 * (`/api/v1/accounts/:account`). Fetched and parsed by the typed client
 * (shared/http/client.ts) with the contract's schemas; a newer coordinator's
 * extra fields are ignored, a reply outside the contract is an error.
 */
import { type SwarmReply, TabgridClient } from '../../shared/http/client.ts';

export interface ActiveJob {
  id: string;
  projectId: string;
  projectName: string;
  kind: string;
  /** 0..1, or null when the coordinator does not say. */
  progress: number | null;
  shardsTotal: number | null;
  shardsValidated: number | null;
}

export interface SwarmView {
  volunteers: number;
  byBackend: Record<string, number>;
  jobs: ActiveJob[];
}

export interface LedgerRow {
  copyId: string;
  jobId: string;
  amount: number;
  at: number;
}

/** A later change to a balance: a reversal (with why), a claim moving credit, a payout. */
export interface LedgerChangeRow {
  kind: string;
  amount: number;
  reason: string;
  at: number;
}

export interface AccountView {
  account: string;
  balance: number;
  /** Still in its hold (a spot check may reverse it). */
  pending: number;
  /** Past its hold, not yet paid out. */
  payable: number;
  /** Reversed after it was claimed or paid, beyond what is payable: the next payout pays net of it. */
  debt: number;
  /** Of the balance, credit for results under review (pending until the coordinator or the operator's own host has recomputed them). */
  underReview?: number;
  entries: LedgerRow[];
  changes: LedgerChangeRow[];
}

/** One payout epoch that paid a wallet, with the Merkle proof a distributor contract checks. */
export interface PayoutProofRow {
  epochId: string;
  root: string;
  at: number;
  /** Micro-credits (uint256, decimal). */
  amount: string;
  proof: string[];
}

const client = (coordinator: string) => new TabgridClient(coordinator);

/** The swarm as the contributor page shows it, from the one /api/v1/swarm reply of the contract. */
export function swarmView(r: SwarmReply): SwarmView {
  return {
    volunteers: r.volunteers.total,
    byBackend: r.volunteers.byBackend,
    jobs: r.jobs.map((j) => ({
      id: j.id, projectId: j.projectId, projectName: j.projectName, kind: j.kind,
      progress: j.shards.total ? j.shards.validated / j.shards.total : null,
      shardsTotal: j.shards.total, shardsValidated: j.shards.validated,
    })),
  };
}

export async function fetchSwarm(coordinator: string, signal?: AbortSignal): Promise<SwarmView> {
  return swarmView(await client(coordinator).swarm(signal));
}

export async function fetchAccount(coordinator: string, account: string, signal?: AbortSignal): Promise<AccountView> {
  const s = await client(coordinator).account(account, signal ? { signal } : {});
  return {
    account: s.account, balance: s.balance, pending: s.pending, payable: s.payable, debt: s.debt,
    ...(s.underReview !== undefined ? { underReview: s.underReview } : {}),
    entries: s.entries.map((e) => ({ copyId: e.copyId, jobId: e.jobId, amount: e.amount, at: e.at })),
    changes: s.changes.map((c) => ({ kind: c.kind, amount: c.amount, reason: c.reason, at: c.at })),
  };
}

/** The payout epochs that paid a wallet, newest first, with their proofs. */
export async function fetchPayouts(coordinator: string, wallet: string, signal?: AbortSignal): Promise<PayoutProofRow[]> {
  const r = await client(coordinator).walletPayouts(wallet, signal);
  return r.payouts.map((p) => ({ epochId: p.epochId, root: p.root, at: p.at, amount: p.amount, proof: p.proof }));
}
