/**
 * The coordinator's public HTTP views the contributor page shows before and
 * while contributing: what runs (`/api/v1/swarm`) and what an account earned
 * (`/api/v1/accounts/:account`). Parsed defensively: the page must keep working
 * when a field is missing or a newer coordinator adds some.
 */

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

type Json = Record<string, unknown>;
const obj = (x: unknown): Json => (x && typeof x === 'object' ? (x as Json) : {});
const num = (x: unknown): number | null => (typeof x === 'number' && Number.isFinite(x) ? x : null);
const str = (x: unknown, d = ''): string => (typeof x === 'string' ? x : d);

async function getJson(url: string, signal?: AbortSignal): Promise<unknown> {
  const res = await fetch(url, { signal, headers: { accept: 'application/json' } });
  if (!res.ok) throw new Error(`${new URL(url).pathname}: HTTP ${res.status}`);
  return res.json();
}

export async function fetchSwarm(coordinator: string, signal?: AbortSignal): Promise<SwarmView> {
  const body = obj(await getJson(`${coordinator}/api/v1/swarm`, signal));
  const vol = obj(body.volunteers);
  const byBackend: Record<string, number> = {};
  for (const [k, v] of Object.entries(obj(vol.byBackend))) if (num(v) !== null) byBackend[k] = v as number;
  const rawJobs = Array.isArray(body.jobs) ? body.jobs : Array.isArray(body.activeJobs) ? body.activeJobs : [];
  const jobs = rawJobs.map((j): ActiveJob => {
    const o = obj(j);
    const shards = obj(o.shards);
    const project = obj(o.project);
    const total = num(shards.total) ?? num(o.shardsTotal);
    const validated = num(shards.validated) ?? num(o.shardsValidated);
    const progress = num(o.progress) ?? (total && validated !== null ? validated / total : null);
    return {
      id: str(o.id ?? o.jobId),
      projectId: str(o.projectId ?? project.id),
      projectName: str(o.projectName ?? project.name, str(o.projectId ?? project.id, 'unnamed project')),
      kind: str(o.kind, 'inference'),
      progress,
      shardsTotal: total,
      shardsValidated: validated,
    };
  });
  const total = num(vol.total) ?? num(body.volunteers) ?? Object.values(byBackend).reduce((a, b) => a + b, 0);
  return { volunteers: total, byBackend, jobs };
}

export async function fetchAccount(coordinator: string, account: string, signal?: AbortSignal): Promise<AccountView> {
  const body = obj(await getJson(`${coordinator}/api/v1/accounts/${encodeURIComponent(account)}`, signal));
  const rows = Array.isArray(body.entries) ? body.entries : Array.isArray(body.ledger) ? body.ledger : [];
  return {
    account: str(body.account, account),
    balance: num(body.balance) ?? 0,
    pending: num(body.pending) ?? 0,
    payable: num(body.payable) ?? num(body.balance) ?? 0,
    entries: rows.map((r) => {
      const o = obj(r);
      return { copyId: str(o.copyId), jobId: str(o.jobId), amount: num(o.amount) ?? 0, at: num(o.at) ?? 0 };
    }),
    changes: (Array.isArray(body.changes) ? body.changes : []).map((r) => {
      const o = obj(r);
      return { kind: str(o.kind), amount: num(o.amount) ?? 0, reason: str(o.reason), at: num(o.at) ?? 0 };
    }),
  };
}

/** The payout epochs that paid a wallet, newest first, with their proofs. */
export async function fetchPayouts(coordinator: string, wallet: string, signal?: AbortSignal): Promise<PayoutProofRow[]> {
  const body = obj(await getJson(`${coordinator}/api/v1/accounts/${encodeURIComponent(wallet)}/payouts`, signal));
  return (Array.isArray(body.payouts) ? body.payouts : []).map((r) => {
    const o = obj(r);
    return { epochId: str(o.epochId), root: str(o.root), at: num(o.at) ?? 0, amount: str(o.amount, '0'), proof: Array.isArray(o.proof) ? o.proof.map((x) => str(x)) : [] };
  });
}
