/**
 * The `npm start` demo's credit goes through the same rules as any job's: a
 * real `tabgrid serve` started with the serve flags of package.json's start
 * script (read from it, so the test follows the script), a volunteer training
 * the MNIST demo, then the coordinator's own SQLite ledger read with the real
 * store: every credit is held (pending until `payable_at` = credited + the
 * hold, payable after), a result accepted unchecked (replicas 1 from an
 * untrusted host, once the trust judge marks it so) is credited nothing, and
 * the credit can be reversed by new rows that the restarted coordinator shows
 * with their reason.
 */
import Database from 'better-sqlite3';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { SqliteStore } from '../../server/store/sqlite/sqlite-store.ts';
import { REPO, spawnCoordinator, type SpawnedCoordinator } from '../helpers/coordinator.ts';
import { startVolunteer, type TestVolunteer } from '../helpers/volunteers.ts';

const HOLD_MS = 60_000;

/** The flags `npm start` gives `tabgrid serve`. */
function npmStartServeFlags(): string[] {
  const script = (JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { scripts: { start: string } }).scripts.start;
  const m = /bin\/tabgrid\.js serve((?: --?[\w-]+(?: [^-&\s][^\s&]*)?)*)\s*$/.exec(script);
  if (!m) throw new Error(`package.json's start script does not end in \`node bin/tabgrid.js serve ...\`: ${script}`);
  return m[1]!.trim().split(/\s+/).filter(Boolean);
}

describe('the npm start demo\'s credit', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'tabgrid-demo-credit-'));
  let c: SpawnedCoordinator | null = null;
  let v: TestVolunteer | null = null;
  afterAll(async () => {
    await v?.stop();
    await c?.stop();
  });

  it('is held, then payable, never credited when unchecked, and reversible by new rows', async () => {
    const flags = npmStartServeFlags();
    expect(flags).toContain('--demo');
    // The demo as npm start runs it, with a known hold (the default is 24 h).
    c = await spawnCoordinator({ dataDir, args: [...flags, '--credit-hold', `${HOLD_MS / 1000}s`] });
    await c.waitForLog((l) => l.msg === 'MNIST demo training job ready: open the contributor page to train it', 120_000);
    const valid: { copyId: string; credit: number }[] = [];
    v = startVolunteer(c.url, { hooks: { outcome: (o) => { if (o.outcome === 'valid') valid.push({ copyId: o.copyId, credit: o.credit }); } } });
    await expect.poll(() => valid.length, { timeout: 180_000, interval: 500 }).toBeGreaterThanOrEqual(4);
    const account = v.account()!;
    await v.stop();
    v = null;
    await c.stop();
    c = null;

    // The coordinator's own ledger, read with the real store.
    const file = join(dataDir, 'tabgrid.sqlite');
    const raw = new Database(file, { readonly: true });
    const copies = raw.prepare(`SELECT c.id, c.credit, c.unchecked, l.amount, l.at, l.payable_at FROM copies c
      JOIN jobs j ON j.id = c.job_id LEFT JOIN ledger l ON l.copy_id = c.id
      WHERE c.account = ? AND c.outcome = 'valid'`).all(account) as { id: string; credit: number; unchecked: number | undefined; amount: number | null; at: number | null; payable_at: number | null }[];
    raw.close();
    expect(copies.length).toBeGreaterThanOrEqual(4);
    const credited = copies.filter((x) => x.amount !== null && x.amount > 0);
    for (const x of copies) {
      if (x.unchecked) {
        // Accepted on no one's word: the project gets it, the volunteer no credit.
        expect(x.credit).toBe(0);
        expect(x.amount ?? 0).toBe(0);
      } else {
        // Credited like any copy: the ledger row is the copy's credit, held for the hold.
        expect(x.amount).toBe(x.credit);
        expect(x.credit).toBeGreaterThan(0);
        expect(x.payable_at! - x.at!).toBe(HOLD_MS);
      }
    }

    const store = new SqliteStore(file);
    try {
      const total = credited.reduce((s, x) => s + x.amount!, 0);
      const firstAt = Math.min(...credited.map((x) => x.at!));
      const lastPayable = Math.max(...credited.map((x) => x.payable_at!));
      if (credited.length) {
        // Within the hold all of it is pending; once every hold has passed, all of it is payable.
        expect(await store.accountCredit(account, firstAt)).toMatchObject({ pending: expect.closeTo(total, 6), payable: expect.closeTo(0, 6) });
        expect(await store.accountCredit(account, lastPayable)).toMatchObject({ pending: expect.closeTo(0, 6), payable: expect.closeTo(total, 6) });
      }
      // Reversible as any credit: new rows, once per copy, with a reason.
      const reversed = await store.reverseCredits({ copyIds: copies.map((x) => x.id), reason: 'demo: found wrong by a spot check', now: lastPayable });
      expect(reversed.map((r) => r.copyId).sort()).toEqual(credited.map((x) => x.id).sort());
      expect(await store.accountCredit(account, lastPayable)).toMatchObject({ balance: expect.closeTo(0, 6), payable: expect.closeTo(0, 6) });
    } finally {
      await store.close();
    }

    // The restarted demo shows the reversals with their reason.
    c = await spawnCoordinator({ dataDir, args: [...flags, '--credit-hold', `${HOLD_MS / 1000}s`] });
    const st = await (await fetch(`${c.url}/api/v1/accounts/${encodeURIComponent(account)}`)).json() as { balance: number; changes: { kind: string; reason: string }[] };
    expect(st.balance).toBeCloseTo(0, 6);
    expect(st.changes.filter((x) => x.kind === 'reversal')).toHaveLength(credited.length);
    for (const ch of st.changes) expect(ch.reason).toBe('demo: found wrong by a spot check');
  }, 360_000);
});
