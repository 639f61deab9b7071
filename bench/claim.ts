/**
 * The claim path (`store.claimCopy` on a real SQLite file, with the trust
 * inputs the work service gives it): how long a request takes for a host the
 * class rules refuse, and for one they let take a copy.
 *
 * A refused host matters because it asks again every few seconds (the
 * `retryInMs` of an empty reply, and every work nudge): a forger announcing a
 * made-up numeric class, or an honest host of a class with no trusted host,
 * beside a homogeneous job. Before the claim decided job-wide refusals once
 * per job (core/scheduler/claim.ts jobRefusal), each such request decided
 * every shard in the store's queue and read further pages of the job's
 * wanting shards with their copies, only to refuse them all.
 *
 * One project, one homogeneous inference job of `--claim-shards` shards
 * (more than the store's queue page, as a real job has); the refused host's
 * class is announced by one address group (fewer than classQuorum); the
 * granted hosts are trusted hosts of the honoured class, each a new
 * volunteer taking one copy. `--claim-against DIR` measures the checkout at
 * DIR (its server/store/sqlite) in the same run, the two taking turns request
 * by request; each figure is the median of the windows' means.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { DEFAULT_LIMITS, DEFAULT_TOLERANCE } from '../server/core/jobs/limits.ts';
import type { Job, Shard } from '../server/core/jobs/types.ts';
import { DEFAULT_TRUST } from '../server/core/trust/policy.ts';
import { createRng } from '../server/training/rng.ts';
import type { ClaimRequest, Store } from '../server/store/types.ts';
import type { Flags } from './lib/flags.ts';
import { median, round, table } from './lib/stats.ts';

export const CLAIM_FLAGS = ['claim-shards', 'claim-requests', 'claim-windows', 'claim-against'] as const;

const HONEST = 'wasm/ort-1.30.0';
const FORGED = 'webgpu/forged/x/ort-1.30.0';
const NOW = 1_700_000_000_000;

function homogeneousJob(projectId: string, n: number): { job: Job; shards: Shard[] } {
  const job: Job = {
    id: `job-claim-${n}`, projectId, kind: 'inference', state: 'running', progress: null, createdAt: NOW, finishedAt: null, error: null, resultHash: null,
    spec: {
      kind: 'inference', modelHash: 'a'.repeat(64), modelBytes: 4096, inputs: [{ name: 'x', dtype: 'float32', dims: [n * 8, 4], hash: 'b'.repeat(64) }],
      batchedInputs: ['x'], runUnit: 1, records: n * 8, shardSize: 8, outputs: [{ name: 'y', dtype: 'float32', dims: [null, 2] }], stackOutputs: true,
      tolerance: DEFAULT_TOLERANCE, limits: DEFAULT_LIMITS, homogeneous: true, flopsPerRecord: 1e6, creditPerRecord: 0.001,
    },
  };
  const shards: Shard[] = Array.from({ length: n }, (_, index) => ({
    id: `${job.id}-s${index}`, jobId: job.id, index, start: index * 8, end: index * 8 + 8, state: 'open', wanted: DEFAULT_LIMITS.replicas,
    canonicalCopyId: null, errors: 0, issued: 0,
  }));
  return { job, shards };
}

interface Side {
  name: string;
  store: Store;
  dir: string;
  refusedMs: number[];
  grantedMs: number[];
  granted: number;
}

async function open(name: string, storeModule: string, shards: number): Promise<Side> {
  const { SqliteStore } = await import(pathToFileURL(storeModule).href) as typeof import('../server/store/sqlite/sqlite-store.ts');
  const dir = mkdtempSync(join(tmpdir(), 'tabgrid-claim-bench-'));
  const store: Store = new SqliteStore(join(dir, 'tabgrid.sqlite'));
  const project = { id: 'p-claim', name: 'claim bench', createdAt: NOW, embed: { allowedOrigins: [], defaultIntensity: 0.5, creditTo: 'site' as const } };
  await store.createProject(project);
  const { job, shards: rows } = homogeneousJob(project.id, shards);
  await store.createJob(job, rows);
  return { name, store, dir, refusedMs: [], grantedMs: [], granted: 0 };
}

/** The claim request the work service makes, with the class census and trusted classes it reads. */
function request(n: number, cls: string, trusted: boolean, draw: () => number): ClaimRequest {
  const id = `v${n}`;
  return {
    volunteer: { id, wallet: null, address: `10.${(n >> 16) & 255}.${(n >> 8) & 255}.${n & 255}`, numericClass: cls, account: `volunteer:${id}` },
    rules: new Set(['wallet', 'address']), now: NOW, draw,
    trust: {
      policy: DEFAULT_TRUST, asker: trusted ? { streak: 50 } : null, trustedClasses: [HONEST],
      census: new Map([[HONEST, 50], [FORGED, 1]]), draw: 0.5,
    },
  };
}

export async function claimBench(flags: Flags, log: (line: string) => void): Promise<Record<string, number | string>> {
  const quick = flags.has('quick');
  const shards = flags.int('claim-shards', 20_000);
  const requests = flags.int('claim-requests', quick ? 50 : 100);
  const windows = flags.int('claim-windows', quick ? 2 : 6);
  const against = flags.string('claim-against');
  log(`one homogeneous job of ${shards.toLocaleString('en')} shards on SQLite; ${windows} windows of ${requests} requests by a refused host (class announced by 1 address group) and ${requests} claims by trusted hosts; load average ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
  const sides: Side[] = [];
  if (against) sides.push(await open(`baseline ${against}`, join(resolve(against), 'server/store/sqlite/sqlite-store.ts'), shards));
  sides.push(await open('this checkout', resolve('server/store/sqlite/sqlite-store.ts'), shards));
  let volunteer = 0;
  try {
    for (let w = 0; w < windows; w++) {
      const rng = sides.map(() => createRng(13 + w));
      const refused = sides.map(() => 0);
      const granted = sides.map(() => 0);
      // Request by request, the sides taking turns (ABBA): the machine's load drifts alike for both.
      const turns = (i: number) => (i % 2 === 0 ? sides.keys() : [...sides.keys()].reverse());
      for (let i = 0; i < requests; i++) {
        for (const k of turns(i)) {
          const draw = () => rng[k]!.next();
          const t = performance.now();
          if (await sides[k]!.store.claimCopy(request(1_000_000, FORGED, false, draw))) throw new Error(`${sides[k]!.name}: the refused host got a copy`);
          refused[k]! += performance.now() - t;
        }
      }
      for (let i = 0; i < requests; i++) {
        for (const k of turns(i)) {
          const draw = () => rng[k]!.next();
          const t = performance.now();
          const got = await sides[k]!.store.claimCopy(request(volunteer + i, HONEST, true, draw));
          granted[k]! += performance.now() - t;
          if (got) sides[k]!.granted++;
        }
      }
      for (const [k, side] of sides.entries()) {
        side.refusedMs.push(refused[k]! / requests);
        side.grantedMs.push(granted[k]! / requests);
      }
      volunteer += requests;
    }
  } finally {
    // The store's checkpoint thread is unref'd: without a handle of ours, the process would end while close() waits for it.
    const alive = setInterval(() => {}, 1000);
    for (const s of sides) {
      await s.store.close();
      rmSync(s.dir, { recursive: true, force: true });
    }
    clearInterval(alive);
  }
  log(table(['store', 'refused host ms/request', 'granted ms/claim', 'copies granted'], sides.map((s) => [
    s.name, round(median(s.refusedMs), 3), round(median(s.grantedMs), 3), `${s.granted}/${windows * requests}`,
  ])));
  const mine = sides.at(-1)!;
  const base = against ? sides[0]! : null;
  return {
    claim_refused_ms: round(median(mine.refusedMs), 3),
    claim_granted_ms: round(median(mine.grantedMs), 3),
    ...(base ? { claim_baseline_refused_ms: round(median(base.refusedMs), 3), claim_baseline_granted_ms: round(median(base.grantedMs), 3) } : {}),
  };
}
