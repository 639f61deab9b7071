/**
 * The Store contract against PostgreSQL (a temp schema per test), plus what
 * only PostgreSQL has: migrations shared by several coordinators, and the
 * guards a multi-process store needs.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { MIGRATIONS } from '../../../server/store/postgres/migrations.ts';
import { PgStore } from '../../../server/store/postgres/pg-store.ts';
import { NOW, NO_RULES, bytes, claimReq, consensus, makeJob, makeProject, makeVolunteer } from './contract.ts';
import { storeContract } from './contract.ts';
import { creditContract } from './credit-contract.ts';
import { spotContract } from './spot-contract.ts';
import { submissionContract } from './submission-contract.ts';
import { reviewContract } from './review-contract.ts';
import { pgHarness, pgUrl, testSchemaName, type StoreHarness } from './harness.ts';

storeContract('postgres', pgHarness);
creditContract('postgres', pgHarness);
spotContract('postgres', pgHarness);
submissionContract('postgres', pgHarness);
reviewContract('postgres', pgHarness);

describe('PgStore on PostgreSQL', () => {
  let h: StoreHarness | undefined;
  afterEach(async () => {
    await h?.dispose();
    h = undefined;
  });

  it('two coordinators starting together on an empty schema migrate it once', async () => {
    h = await pgHarness();
    const [a, b, c] = await Promise.all([h.open(), h.open(), h.open()]);
    const rows = await h.sql('SELECT version FROM schema_migrations ORDER BY version');
    expect(rows.map((r) => r.version)).toEqual(MIGRATIONS.map((_, i) => i + 1));
    expect([a!.kind, b!.kind, c!.kind]).toEqual(['postgres', 'postgres', 'postgres']);
    await h.open();
    expect(await h.sql('SELECT version FROM schema_migrations')).toHaveLength(MIGRATIONS.length);
  });

  it('a token revoked through one coordinator is refused at once by another sharing the database', async () => {
    h = await pgHarness();
    const [a, b] = await Promise.all([h.open(), h.open()]);
    const p = makeProject();
    await a!.createProject(p);
    await a!.addToken({ id: 'tok-shared', projectId: p.id, hash: 'hash-shared', label: 'x', createdAt: NOW });
    expect((await b!.projectByTokenHash('hash-shared'))?.id).toBe(p.id);
    expect(await a!.revokeTokens(p.id, ['tok-shared'], NOW + 1)).toEqual(['tok-shared']);
    expect(await b!.projectByTokenHash('hash-shared')).toBeNull();
  });

  it('refuses a schema newer than itself, and a schema name that would need quoting', async () => {
    h = await pgHarness();
    await h.open();
    await h.sql('INSERT INTO schema_migrations (version, applied_at) VALUES (999, 0)');
    await expect(h.open()).rejects.toThrow(/newer than this tabgrid/);
    await expect(PgStore.open(await pgUrl(), { schema: 'Bad-Name' })).rejects.toThrow(/schema name/);
  });

  it('fails to open, saying why, when the server is not there', async () => {
    await expect(PgStore.open('postgres://postgres@127.0.0.1:1/test', { schema: testSchemaName() })).rejects.toThrow(/ECONNREFUSED|connect/);
  });

  it('the ledger refuses TRUNCATE too; timestamps and amounts come back as numbers', async () => {
    h = await pgHarness();
    const store = await h.open();
    const p = makeProject();
    await store.createProject(p);
    const { job, shards } = makeJob(p.id, { replicas: 1 });
    await store.createJob(job, shards);
    const c = (await store.claimCopy(claimReq(makeVolunteer(1))))!.copy;
    await store.saveResult(c.id, c.volunteerId, bytes(1), 1, NOW, NO_RULES);
    await store.applyValidation(consensus(shards[0]!, job, [c], 0.1));
    await expect(h.sql('TRUNCATE ledger')).rejects.toThrow(/append-only/);
    await expect(h.sql(`INSERT INTO ledger (copy_id, account, amount, job_id, project_id, at) SELECT id, 'x', 'NaN', 'j', 'p', 0 FROM copies`)).rejects.toThrow();
    const [e] = await store.ledger({ limit: 1 });
    expect(typeof e!.at).toBe('number');
    expect(e!.amount).toBe(0.1);
    expect(typeof (await store.getCopy(c.id))!.deadline).toBe('number');
  });

  it('a stale validation never reopens a validated shard, shrinks wanted, or credits a copy judged invalid', async () => {
    h = await pgHarness();
    const store = await h.open();
    const p = makeProject();
    await store.createProject(p);
    const { job, shards } = makeJob(p.id, { replicas: 2 });
    await store.createJob(job, shards);
    const a = (await store.claimCopy(claimReq(makeVolunteer(1))))!.copy;
    const b = (await store.claimCopy(claimReq(makeVolunteer(2))))!.copy;
    await store.saveResult(a.id, a.volunteerId, bytes(1), 1, NOW, NO_RULES);
    await store.saveResult(b.id, b.volunteerId, bytes(2), 1, NOW, NO_RULES);
    // Coordinator A judged b invalid and asked for a third copy ...
    await store.applyValidation({ shardId: shards[0]!.id, shard: { state: 'open', wanted: 3, canonicalCopyId: null }, judgements: [{ copyId: b.id, outcome: 'invalid', reason: 'outvoted', credit: 0 }], credits: [] });
    // ... then coordinator B, from an older snapshot, writes "both agree".
    await store.applyValidation(consensus(shards[0]!, job, [a, b]));
    expect(await store.countCreditsForCopy(a.id)).toBe(1);
    expect(await store.countCreditsForCopy(b.id)).toBe(0);
    expect(await store.getCopy(b.id)).toMatchObject({ outcome: 'invalid' });
    expect(await store.getShard(shards[0]!.id)).toMatchObject({ state: 'validated', wanted: 3, canonicalCopyId: a.id });
    // A stale "no consensus" write arriving after validation changes nothing.
    await store.applyValidation({ shardId: shards[0]!.id, shard: { state: 'open', wanted: 2, canonicalCopyId: null }, judgements: [], credits: [] });
    expect(await store.getShard(shards[0]!.id)).toMatchObject({ state: 'validated', wanted: 3, canonicalCopyId: a.id });
  });
});
