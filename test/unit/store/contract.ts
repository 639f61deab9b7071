/**
 * The Store contract: one behavioural suite that every store must pass, run
 * against SQLite and PostgreSQL by the test files next to this one. It talks
 * to the store only through the Store interface, except where the contract
 * is about the database itself (counters, the append-only ledger): there it
 * reads and writes raw SQL through a connection of its own.
 */
import { describe, expect, it } from 'vitest';
import type { Job, Shard, TrainProgress, TrainSpec } from '../../../server/core/jobs/types.ts';
import type { DistinctRule } from '../../../server/core/scheduler/eligibility.ts';
import { DEFAULT_TRUST } from '../../../server/core/trust/policy.ts';
import { newId } from '../../../server/store/ids.ts';
import type { ClaimRequest, Claimed, Project, Store, ValidationWrite } from '../../../server/store/types.ts';
import { freshStoreEachTest, type StoreHarness } from './harness.ts';

export const NOW = 1_700_000_000_000;
export const ALL_RULES: ReadonlySet<DistinctRule> = new Set(['wallet', 'address']);
export const NO_RULES: ReadonlySet<DistinctRule> = new Set();

export function makeProject(createdAt = NOW, id = newId()): Project {
  return {
    id, name: `project ${id}`, createdAt, embed: { allowedOrigins: ['https://example.org'], defaultIntensity: 0.5, creditTo: 'site' },
    description: '', weight: 1, private: false, maxInFlight: 0,
  };
}

export interface JobOptions {
  shards?: number;
  replicas?: number;
  maxTotal?: number;
  homogeneous?: boolean;
  createdAt?: number;
  ackWithinMs?: number;
  leaseMs?: number;
}

export function makeJob(projectId: string, o: JobOptions = {}): { job: Job; shards: Shard[] } {
  const n = o.shards ?? 1;
  const replicas = o.replicas ?? 2;
  const job: Job = {
    id: newId(), projectId, kind: 'inference', state: 'running', progress: null,
    createdAt: o.createdAt ?? NOW, finishedAt: null, error: null, resultHash: null,
    spec: {
      kind: 'inference', modelHash: 'a'.repeat(64), modelBytes: 4096,
      inputs: [{ name: 'x', dtype: 'float32', dims: [n * 8, 4], hash: 'b'.repeat(64) }],
      batchedInputs: ['x'], runUnit: 1, records: n * 8, shardSize: 8,
      outputs: [{ name: 'y', dtype: 'float32', dims: [null, 2] }], stackOutputs: true,
      tolerance: { rtol: 1e-3, atol: 1e-5 },
      limits: { replicas, maxErrorCopies: 3, maxTotalCopies: o.maxTotal ?? 10, leaseMs: o.leaseMs ?? 120_000, ackWithinMs: o.ackWithinMs ?? 15_000 },
      homogeneous: o.homogeneous ?? false, flopsPerRecord: 1e6, creditPerRecord: 0.001,
    },
  };
  const shards: Shard[] = Array.from({ length: n }, (_, index) => ({
    id: newId(), jobId: job.id, index, start: index * 8, end: index * 8 + 8, state: 'open', wanted: replicas,
    canonicalCopyId: null, errors: 0, issued: 0,
  }));
  return { job, shards };
}

/** A training job: `shards` shards, `shardsPerRound` to a round, at most `cap` of a round per volunteer. */
export function makeTrainJob(projectId: string, o: { shards: number; shardsPerRound: number; cap: number; replicas?: number }): { job: Job; shards: Shard[] } {
  const base = makeJob(projectId, { shards: o.shards, replicas: o.replicas ?? 1 });
  const spec: TrainSpec = {
    kind: 'train', modelHash: 'a'.repeat(64), modelBytes: 4096, forwardHash: 'd'.repeat(64), params: [{ name: 'w', dims: [4, 2] }],
    dataInput: 'x', labelsInput: 'y', outputs: [{ name: 'loss', dtype: 'float32', dims: [] }], stackOutputs: false,
    trainSet: { dataHash: 'e'.repeat(64), labelsHash: 'f'.repeat(64), records: 64 }, evalSet: null, loss: 'cross-entropy',
    optimizer: { kind: 'sgd', lr: 0.1 }, aggregate: 'mean', trim: 0, batch: 8, epochs: 1, shardsPerRound: o.shardsPerRound, seed: 1,
    minFraction: 1, roundDeadlineMs: 60_000, maxShardsPerVolunteer: o.cap, targetAccuracy: null,
    gradTolerance: { maxRelL2: 1e-3, minCosine: 0.99 }, tolerance: { rtol: 1e-3, atol: 1e-5 }, limits: base.job.spec.limits,
    homogeneous: false, flopsPerRecord: 1e6, creditPerRecord: 0.001,
  };
  const progress: TrainProgress = { round: 0, totalRounds: o.shards / o.shardsPerRound, weightsHash: 'w0', optimizerHash: 'o0', optimizerStep: 0, roundStartedAt: NOW, history: [] };
  return { job: { ...base.job, kind: 'train', spec, progress }, shards: base.shards };
}

/** A job of `o` written to `store`, in `project`, or in a new project written first. */
export async function writeJob(store: Store, o: JobOptions = {}, project?: Project): Promise<{ project: Project; job: Job; shards: Shard[] }> {
  const p = project ?? makeProject();
  if (!project) await store.createProject(p);
  const { job, shards } = makeJob(p.id, o);
  await store.createJob(job, shards);
  return { project: p, job, shards };
}

export type Vol = ClaimRequest['volunteer'];

export function makeVolunteer(n: number, o: { wallet?: string | null; address?: string; cls?: string } = {}): Vol {
  const id = `v${n}-${newId()}`;
  return {
    id, wallet: o.wallet ?? null, address: o.address ?? `10.0.${n >> 8}.${n & 255}`, numericClass: o.cls ?? 'wasm/ort-1.30.0',
    account: o.wallet ?? `volunteer:${id}`,
  };
}

export const claimReq = (volunteer: Vol, o: { rules?: ReadonlySet<DistinctRule>; now?: number; projectId?: string } = {}): ClaimRequest => ({
  volunteer, rules: o.rules ?? ALL_RULES, now: o.now ?? NOW, ...(o.projectId ? { projectId: o.projectId } : {}),
});

export const bytes = (...v: number[]) => new Uint8Array(v);

/** A consensus write for a shard whose copies all agree. */
export function consensus(shard: Shard, job: Job, copies: Claimed['copy'][], credit = 5): ValidationWrite {
  return {
    shardId: shard.id,
    shard: { state: 'validated', wanted: shard.wanted, canonicalCopyId: copies[0]!.id },
    judgements: copies.map((c) => ({ copyId: c.id, outcome: 'valid' as const, reason: null, credit })),
    credits: copies.map((c) => ({ copyId: c.id, account: c.account, amount: credit, jobId: job.id, projectId: job.projectId })),
  };
}

export function storeContract(label: string, makeHarness: () => Promise<StoreHarness>) {
  describe(`Store contract: ${label}`, () => {
    let h: StoreHarness;
    let store: Store;

    freshStoreEachTest(makeHarness, (fresh, opened) => {
      h = fresh;
      store = opened;
    });

    const seedJob = (o: JobOptions = {}, project?: Project) => writeJob(store, o, project);

    async function claim(v: Vol, o: Parameters<typeof claimReq>[1] = {}) {
      return store.claimCopy(claimReq(v, o));
    }

    /** The shard's counters as the database holds them (alive is not part of the Shard type). */
    async function counters(shardId: string) {
      const [r] = await h.sql(`SELECT alive, issued, errors, wanted FROM shards WHERE id = '${shardId}'`);
      return { alive: Number(r!.alive), issued: Number(r!.issued), errors: Number(r!.errors), wanted: Number(r!.wanted) };
    }

    /** Claims with fresh volunteers until the store says no; returns how many it gave. */
    async function drain(from: number, o: Parameters<typeof claimReq>[1] = {}) {
      let n = 0;
      while ((await claim(makeVolunteer(from + n), o)) !== null) n++;
      return n;
    }

    it('projects and tokens round-trip; duplicates and dangling tokens are refused', async () => {
      const later = makeProject(NOW + 5);
      const earlier = makeProject(NOW);
      await store.createProject(later);
      await store.createProject(earlier);
      expect(await store.getProject(later.id)).toEqual(later);
      expect(await store.getProject('nope')).toBeNull();
      expect((await store.listProjects()).map((p) => p.id)).toEqual([earlier.id, later.id]);

      const embed = { allowedOrigins: [], defaultIntensity: 0.25, creditTo: 'visitor' as const };
      await store.setEmbedSettings(later.id, embed);
      expect((await store.getProject(later.id))!.embed).toEqual(embed);

      await store.addToken({ id: newId(), projectId: later.id, hash: 'tokenhash-1', label: 'ci', createdAt: NOW });
      expect(await store.projectByTokenHash('tokenhash-1')).toEqual({ ...later, embed });
      expect(await store.projectByTokenHash('tokenhash-2')).toBeNull();

      await expect(store.createProject(later)).rejects.toThrow();
      await expect(store.addToken({ id: newId(), projectId: earlier.id, hash: 'tokenhash-1', label: 'x', createdAt: NOW })).rejects.toThrow();
      await expect(store.addToken({ id: newId(), projectId: 'no-such-project', hash: 'tokenhash-3', label: 'x', createdAt: NOW })).rejects.toThrow();
    });

    it('projects: settings, names unique among live ones, delete refused while a job runs, then tokens revoked', async () => {
      const p = { ...makeProject(NOW), name: 'alpha', description: 'first', weight: 3, private: true, maxInFlight: 7 };
      await store.createProject(p);
      expect(await store.getProject(p.id)).toEqual(p);
      expect(await store.projectByName('alpha')).toEqual(p);
      expect(await store.projectByName('beta')).toBeNull();
      // Settings not given take their defaults.
      const q = { id: newId(), name: 'beta', createdAt: NOW + 1, embed: p.embed };
      await store.createProject(q);
      expect(await store.projectByName('beta')).toMatchObject({ description: '', weight: 1, private: false, maxInFlight: 0 });
      await expect(store.createProject({ ...makeProject(NOW + 2), name: 'alpha' })).rejects.toThrow();

      await store.updateProject(p.id, { weight: 0.5, private: false });
      expect(await store.getProject(p.id)).toMatchObject({ weight: 0.5, private: false, description: 'first', maxInFlight: 7 });

      await store.addToken({ id: 't-a1', projectId: p.id, hash: 'hash-a1', label: 'one', createdAt: NOW });
      await store.addToken({ id: 't-a2', projectId: p.id, hash: 'hash-a2', label: 'two', createdAt: NOW + 1 });
      const { job, shards } = makeJob(p.id);
      await store.createJob(job, shards);
      expect(await store.deleteProject(p.id, NOW + 10)).toBe('running');
      expect((await store.projectByTokenHash('hash-a1'))?.id).toBe(p.id);
      await store.finishJob(job.id, 'cancelled', { finishedAt: NOW + 11 });
      expect(await store.deleteProject(p.id, NOW + 12)).toBe('deleted');
      expect(await store.deleteProject(p.id, NOW + 13)).toBe('gone');
      expect(await store.projectByTokenHash('hash-a1')).toBeNull();
      expect(await store.projectByName('alpha')).toBeNull();
      expect((await store.listProjects()).map((x) => x.id)).toEqual([q.id]);
      // Its jobs stay readable (the ledger refers to them); its name is free again.
      expect((await store.getJob(job.id))?.projectId).toBe(p.id);
      expect((await store.tokensOf(p.id)).map((t) => t.revokedAt)).toEqual([NOW + 12, NOW + 12]);
      await store.createProject({ ...makeProject(NOW + 20), name: 'alpha' });
    });

    it('tokens: several per project, each revocable on its own, revoked ones refused at once', async () => {
      const p = makeProject();
      await store.createProject(p);
      for (const i of [1, 2, 3]) await store.addToken({ id: `tok-${i}`, projectId: p.id, hash: `h-${i}`, label: `l${i}`, createdAt: NOW + i });
      expect(await store.revokeTokens(p.id, ['tok-2', 'not-mine'], NOW + 9)).toEqual(['tok-2']);
      expect(await store.revokeTokens(p.id, ['tok-2'], NOW + 10)).toEqual([]);
      expect(await store.projectByTokenHash('h-2')).toBeNull();
      expect((await store.projectByTokenHash('h-1'))?.id).toBe(p.id);
      expect(await store.tokensOf(p.id)).toEqual([
        { id: 'tok-1', label: 'l1', createdAt: NOW + 1, revokedAt: null },
        { id: 'tok-2', label: 'l2', createdAt: NOW + 2, revokedAt: NOW + 9 },
        { id: 'tok-3', label: 'l3', createdAt: NOW + 3, revokedAt: null },
      ]);
      expect((await store.revokeTokens(p.id, null, NOW + 11)).sort()).toEqual(['tok-1', 'tok-3']);
      expect(await store.projectByTokenHash('h-3')).toBeNull();
      // Another project's token is not this project's to revoke.
      const other = makeProject();
      await store.createProject(other);
      await store.addToken({ id: 'tok-o', projectId: other.id, hash: 'h-o', label: 'o', createdAt: NOW });
      expect(await store.revokeTokens(p.id, ['tok-o'], NOW + 12)).toEqual([]);
      expect((await store.projectByTokenHash('h-o'))?.id).toBe(other.id);
    });

    it('the operator credential is recorded once; a second one is not', async () => {
      expect(await store.isOperatorTokenHash('op-1')).toBe(false);
      expect(await store.addOperatorToken({ hash: 'op-1', createdAt: NOW })).toBe(true);
      expect(await store.addOperatorToken({ hash: 'op-2', createdAt: NOW })).toBe(false);
      expect(await store.isOperatorTokenHash('op-1')).toBe(true);
      expect(await store.isOperatorTokenHash('op-2')).toBe(false);
      // A lost token is replaced (tabgrid operator token reset): the old one is refused at once.
      await store.replaceOperatorToken({ hash: 'op-3', createdAt: NOW + 1 });
      expect(await store.isOperatorTokenHash('op-1')).toBe(false);
      expect(await store.isOperatorTokenHash('op-3')).toBe(true);
    });

    it('jobs keep their name, tags and priority', async () => {
      const p = makeProject();
      await store.createProject(p);
      const { job, shards } = makeJob(p.id);
      await store.createJob({ ...job, name: 'nightly', tags: { team: 'vision', run: '7' }, priority: 2 }, shards);
      expect(await store.getJob(job.id)).toMatchObject({ name: 'nightly', tags: { team: 'vision', run: '7' }, priority: 2 });
      const plain = makeJob(p.id);
      await store.createJob(plain.job, plain.shards);
      const back = await store.getJob(plain.job.id);
      expect(back?.name).toBeUndefined();
      expect(back?.tags).toBeUndefined();
    });

    it('fair share: the next copy goes to the project furthest below its weight; caps and priorities hold', async () => {
      const light = { ...makeProject(NOW), name: 'light', weight: 1 };
      const heavy = { ...makeProject(NOW + 1), name: 'heavy', weight: 3 };
      await store.createProject(light);
      await store.createProject(heavy);
      // Equal shards (8 records, creditPerRecord 0.001: 0.008 GFLOP a copy); light's job is older.
      await seedJob({ shards: 30, replicas: 1 }, light);
      await seedJob({ shards: 60, replicas: 1 }, heavy);
      const got: Record<string, number> = { [light.id]: 0, [heavy.id]: 0 };
      for (let i = 0; i < 40; i++) {
        const c = await claim(makeVolunteer(i));
        got[c!.job.projectId]!++;
      }
      // Charged as issued: exactly 1 in 4 to the light project, whatever came first.
      expect(got).toEqual({ [light.id]: 10, [heavy.id]: 30 });

      // A cap on copies in flight: the heavy project holds 30, so at a cap of 30 everything goes to the light one.
      await store.updateProject(heavy.id, { maxInFlight: 30 });
      for (let i = 40; i < 44; i++) expect((await claim(makeVolunteer(i)))!.job.projectId).toBe(light.id);
      // An embed of the capped project gets nothing from it.
      expect(await claim(makeVolunteer(50), { projectId: heavy.id })).toBeNull();
      await store.updateProject(heavy.id, { maxInFlight: 0 });

      // Within a project, a job of higher priority goes first, however new.
      const { job: urgent, shards } = makeJob(light.id, { shards: 2, replicas: 1, createdAt: NOW + 100 });
      await store.createJob({ ...urgent, priority: 5 }, shards);
      const next = await claim(makeVolunteer(60), { projectId: light.id });
      expect(next!.job.id).toBe(urgent.id);
    });

    it('blobs: a private blob becomes public once used as a model or weights, never the reverse', async () => {
      expect(await store.blobKind('h1')).toBeNull();
      await store.recordBlob({ hash: 'h1', bytes: 10, kind: 'input', createdAt: NOW });
      expect(await store.blobKind('h1')).toBe('input');
      await store.recordBlob({ hash: 'h1', bytes: 10, kind: 'model', createdAt: NOW });
      expect(await store.blobKind('h1')).toBe('model');
      await store.recordBlob({ hash: 'h1', bytes: 10, kind: 'output', createdAt: NOW });
      expect(await store.blobKind('h1')).toBe('model');
      await store.recordBlob({ hash: 'h2', bytes: 5_000_000_000, kind: 'output', createdAt: NOW });
      await store.recordBlob({ hash: 'h2', bytes: 5_000_000_000, kind: 'weights', createdAt: NOW });
      expect(await store.blobKind('h2')).toBe('weights');
    });

    it('blobs belong to the projects that uploaded them, the bytes recorded once', async () => {
      const a = makeProject();
      const b = makeProject();
      await store.createProject(a);
      await store.createProject(b);
      await store.recordBlob({ hash: 'h3', bytes: 10, kind: 'upload', createdAt: NOW });
      await store.grantBlob(a.id, 'h3', NOW);
      await store.grantBlob(a.id, 'h3', NOW + 1);
      expect(await store.projectHasBlob(a.id, 'h3')).toBe(true);
      expect(await store.projectHasBlob(b.id, 'h3')).toBe(false);
      expect(await store.projectHasBlob(a.id, 'h4')).toBe(false);
      await store.grantBlob(b.id, 'h3', NOW + 2);
      expect(await store.projectHasBlob(b.id, 'h3')).toBe(true);
    });

    it('private swarms: a private project\'s copies go only to its group; leaving, removal and a revoked invite end that', async () => {
      const lab = { ...makeProject(NOW), name: 'lab', private: true };
      const pub = { ...makeProject(NOW + 1), name: 'pub' };
      await store.createProject(lab);
      await store.createProject(pub);
      const { job: labJob, shards: labShards } = await seedJob({ shards: 6, replicas: 1 }, lab);
      const registered = async (n: number) => {
        const v = makeVolunteer(n);
        await store.createVolunteer({ ...v, secretHash: 'f'.repeat(64), capabilities: {}, createdAt: NOW, lastSeen: NOW });
        return v;
      };
      const [member, stranger, removed, viaRevoked] = [await registered(1), await registered(2), await registered(3), await registered(4)];
      // Nothing else has work: a stranger gets nothing, even asking for the lab by id (an embed's hello).
      expect(await claim(stranger)).toBeNull();
      expect(await claim(stranger, { projectId: lab.id })).toBeNull();

      const invite = { id: newId(), projectId: lab.id, label: 'team', createdAt: NOW, revokedAt: null };
      await store.addInvite({ ...invite, hash: 'c'.repeat(64) });
      const other = { id: newId(), projectId: lab.id, label: 'leaked', createdAt: NOW + 1, revokedAt: null };
      await store.addInvite({ ...other, hash: 'd'.repeat(64) });
      expect(await store.inviteByHash('c'.repeat(64))).toEqual(invite);
      expect(await store.inviteByHash('e'.repeat(64))).toBeNull();
      for (const v of [member, removed]) expect(await store.joinGroup({ projectId: lab.id, volunteerId: v.id, inviteId: invite.id, inviteCreatedAt: invite.createdAt, at: NOW + 5 })).toBe(true);
      expect(await store.joinGroup({ projectId: lab.id, volunteerId: viaRevoked.id, inviteId: other.id, inviteCreatedAt: other.createdAt, at: NOW + 5 })).toBe(true);
      expect(await store.groupsOf(member.id)).toEqual([lab.id]);
      expect(await store.groupsOf(stranger.id)).toEqual([]);

      // Members get the lab's copies; the stranger still none, while the public project's work goes to anyone.
      expect((await claim(member))!.job.id).toBe(labJob.id);
      const { job: pubJob } = await seedJob({ shards: 6, replicas: 1 }, pub);
      for (let i = 0; i < 3; i++) expect((await claim(stranger))!.job.id).toBe(pubJob.id);
      expect(await claim(stranger, { projectId: lab.id })).toBeNull();

      // The project removes one; revokes the invite another joined by: neither gets the lab's work any more.
      expect(await store.endMembership(lab.id, removed.id, 'removed', NOW + 10)).toBe(true);
      expect(await store.endMembership(lab.id, removed.id, 'removed', NOW + 11)).toBe(false);
      expect(await store.revokeInvite(lab.id, other.id, NOW + 10)).toBe(true);
      expect(await store.revokeInvite(lab.id, other.id, NOW + 11)).toBe(false);
      expect(await store.revokeInvite(pub.id, invite.id, NOW + 11)).toBe(false);
      expect(await claim(removed, { projectId: lab.id })).toBeNull();
      expect(await claim(viaRevoked, { projectId: lab.id })).toBeNull();
      expect((await claim(member, { projectId: lab.id }))!.job.id).toBe(labJob.id);
      // Removed: an invite made before the removal does not bring it back (the store refuses the write).
      expect(await store.joinGroup({ projectId: lab.id, volunteerId: removed.id, inviteId: invite.id, inviteCreatedAt: invite.createdAt, at: NOW + 12 })).toBe(false);
      expect(await store.membership(lab.id, removed.id)).toMatchObject({ endedBy: 'removed', endedAt: NOW + 10, inviteRevoked: false });
      expect(await store.membership(lab.id, viaRevoked.id)).toMatchObject({ endedBy: null, inviteRevoked: true });
      // Leaving is the volunteer's own: it may come back by any live invite, keeping none of its old join time.
      expect(await store.endMembership(lab.id, member.id, 'left', NOW + 13)).toBe(true);
      expect(await claim(member, { projectId: lab.id })).toBeNull();
      expect(await store.joinGroup({ projectId: lab.id, volunteerId: member.id, inviteId: invite.id, inviteCreatedAt: invite.createdAt, at: NOW + 14 })).toBe(true);
      expect(await store.membership(lab.id, member.id)).toMatchObject({ joinedAt: NOW + 14, endedAt: null, endedBy: null });

      // A spot check's copy, issued beside the claim path, keeps to the group as well.
      expect(await store.issueSpotCopy(labShards[5]!.id, stranger, NOW + 15)).toBeNull();
      expect((await store.issueSpotCopy(labShards[5]!.id, member, NOW + 15))!.job.id).toBe(labJob.id);

      const members = await store.membersOf(lab.id);
      expect(members.map((m) => [m.volunteerId, m.endedBy, m.inviteRevoked]).sort()).toEqual([
        [member.id, null, false], [removed.id, 'removed', false], [viaRevoked.id, null, true],
      ].sort());
      expect((await store.invitesOf(lab.id)).map((i) => [i.id, i.members, i.revokedAt])).toEqual([[invite.id, 1, null], [other.id, 1, NOW + 10]]);

      // A project made public again serves everyone.
      await store.updateProject(lab.id, { private: false });
      expect((await claim(stranger, { projectId: lab.id }))!.job.id).toBe(labJob.id);
    });

    it('a blob is private while only private projects hold it', async () => {
      const lab = { ...makeProject(NOW), name: 'lab', private: true };
      const pub = { ...makeProject(NOW + 1), name: 'pub' };
      await store.createProject(lab);
      await store.createProject(pub);
      await store.recordBlob({ hash: 'p1', bytes: 10, kind: 'model', createdAt: NOW });
      expect(await store.blobIsPrivate('p1')).toBe(false);
      await store.grantBlob(lab.id, 'p1', NOW);
      expect(await store.blobIsPrivate('p1')).toBe(true);
      // The same bytes uploaded by a public project: it published them.
      await store.grantBlob(pub.id, 'p1', NOW);
      expect(await store.blobIsPrivate('p1')).toBe(false);
      expect(await store.deleteProject(pub.id, NOW + 1)).toBe('deleted');
      expect(await store.blobIsPrivate('p1')).toBe(true);
      await store.updateProject(lab.id, { private: false });
      expect(await store.blobIsPrivate('p1')).toBe(false);
    });

    it('volunteers round-trip with numbers as numbers and capabilities as data', async () => {
      const v = {
        id: newId(), secretHash: 'f'.repeat(64), wallet: null, account: 'volunteer:x', address: '192.0.2.1',
        numericClass: 'webgpu/nvidia/ampere/ort-1.30.0', capabilities: { backends: ['wasm', 'webgpu'], gpu: { vendor: 'nvidia', note: 'ünï \u0000 ok' }, cores: 8 },
        createdAt: NOW, lastSeen: NOW + 1,
      };
      await store.createVolunteer(v);
      expect(await store.getVolunteer(v.id)).toEqual(v);
      expect(await store.getVolunteer('nope')).toBeNull();
      await store.updateVolunteer(v.id, { wallet: '0x52908400098527886E0F7030069857D2E4169EE7', account: '0x52908400098527886E0F7030069857D2E4169EE7', lastSeen: NOW + 99 });
      await store.updateVolunteer(v.id, {});
      const got = (await store.getVolunteer(v.id))!;
      expect(got).toEqual({ ...v, wallet: '0x52908400098527886E0F7030069857D2E4169EE7', account: '0x52908400098527886E0F7030069857D2E4169EE7', lastSeen: NOW + 99 });
      expect(typeof got.lastSeen).toBe('number');
      await store.updateVolunteer(v.id, { wallet: null, capabilities: { backends: ['wasm'] } });
      expect(await store.getVolunteer(v.id)).toMatchObject({ wallet: null, capabilities: { backends: ['wasm'] } });
    });

    it('createJob stores the job and its shards; listJobs filters and orders newest first', async () => {
      const p = makeProject();
      const other = makeProject();
      await store.createProject(p);
      await store.createProject(other);
      const a = makeJob(p.id, { shards: 3, createdAt: NOW });
      const b = makeJob(p.id, { shards: 1, createdAt: NOW + 10 });
      const c = makeJob(other.id, { shards: 2, createdAt: NOW + 20 });
      for (const j of [a, b, c]) await store.createJob(j.job, j.shards);

      expect(await store.getJob(a.job.id)).toEqual(a.job);
      expect(await store.getJob('nope')).toBeNull();
      expect(await store.shardsOf(a.job.id)).toEqual(a.shards);
      expect(await store.shardsOf(a.job.id, { from: 1, to: 3 })).toEqual(a.shards.slice(1));
      expect(await store.getShard(a.shards[2]!.id)).toEqual(a.shards[2]);
      expect(await store.getShard('nope')).toBeNull();
      expect(await counters(a.shards[0]!.id)).toEqual({ alive: 0, issued: 0, errors: 0, wanted: 2 });

      expect((await store.listJobs({})).map((j) => j.id)).toEqual([c.job.id, b.job.id, a.job.id]);
      expect((await store.listJobs({ projectId: p.id })).map((j) => j.id)).toEqual([b.job.id, a.job.id]);
      expect((await store.listJobs({ limit: 1 })).map((j) => j.id)).toEqual([c.job.id]);
      expect(await store.finishJob(b.job.id, 'cancelled', { finishedAt: NOW + 30 })).toBe(true);
      expect((await store.listJobs({ states: ['running'] })).map((j) => j.id)).toEqual([c.job.id, a.job.id]);
      expect((await store.listJobs({ states: ['cancelled', 'failed'], projectId: p.id })).map((j) => j.id)).toEqual([b.job.id]);

      expect(await store.jobCounts(a.job.id)).toEqual({
        shards: { total: 3, open: 3, validated: 0, failed: 0 },
        copies: { valid: 0, invalid: 0, pending: 0, expired: 0, error: 0 },
        credit: 0,
      });
      await expect(store.createJob(a.job, [])).rejects.toThrow();
    });

    it('gridCounts: every job by state, running jobs\' shards by state, and the copies still to hand out', async () => {
      const zero = { jobs: { running: 0, completed: 0, failed: 0, cancelled: 0 }, shards: { open: 0, validated: 0, failed: 0, cancelled: 0 }, queue: 0 };
      expect(await store.gridCounts()).toEqual(zero);
      const p = makeProject();
      await store.createProject(p);
      // Three finished jobs, one of each final state: counted as jobs, their shards not (they are not running).
      const finished = { completed: makeJob(p.id, { shards: 2 }), failed: makeJob(p.id, { shards: 1 }), cancelled: makeJob(p.id, { shards: 3 }) };
      for (const [state, j] of Object.entries(finished)) {
        await store.createJob(j.job, j.shards);
        expect(await store.finishJob(j.job.id, state as keyof typeof finished, { finishedAt: NOW + 1 })).toBe(true);
      }
      // A running job of three shards, two copies each: one shard validated, one copy of another in hand.
      const { job, shards } = makeJob(p.id, { shards: 3, replicas: 2 });
      await store.createJob(job, shards);
      const first = (await claim(makeVolunteer(1)))!.copy;
      expect(await store.saveResult(first.id, first.volunteerId, bytes(1), 1, NOW + 2, NO_RULES)).toBe('accepted');
      await store.applyValidation(consensus(shards.find((s) => s.id === first.shardId)!, job, [first]));
      const held = (await claim(makeVolunteer(2)))!.copy;
      expect(held.shardId).not.toBe(first.shardId);
      expect(await store.gridCounts()).toEqual({
        jobs: { running: 1, completed: 1, failed: 1, cancelled: 1 },
        shards: { open: 2, validated: 1, failed: 0, cancelled: 0 },
        // Two open shards want two copies each; one is held.
        queue: 3,
      });
      expect(await store.finishJob(job.id, 'completed', { finishedAt: NOW + 3 })).toBe(true);
      expect(await store.gridCounts()).toEqual({ ...zero, jobs: { running: 0, completed: 2, failed: 1, cancelled: 1 } });
    });

    it('claimCopy issues copies until alive == wanted and never two to one volunteer', async () => {
      const { job, shards } = await seedJob({ replicas: 2, ackWithinMs: 1000 });
      const v1 = makeVolunteer(1);
      const a = (await claim(v1))!;
      expect(a).not.toBeNull();
      expect(a.job).toEqual(job);
      expect(a.shard).toEqual({ ...shards[0], issued: 1 });
      expect(a.copy).toMatchObject({
        shardId: shards[0]!.id, jobId: job.id, volunteerId: v1.id, account: v1.account, wallet: null, address: v1.address,
        numericClass: v1.numericClass, state: 'assigned', outcome: 'pending', assignedAt: NOW, deadline: NOW + 1000,
        returnedAt: null, reason: null, credit: 0,
      });
      expect(await store.getCopy(a.copy.id)).toEqual(a.copy);
      expect(await store.getCopy('nope')).toBeNull();

      expect(await claim(v1)).toBeNull();
      const b = (await claim(makeVolunteer(2)))!;
      expect(b.shard.issued).toBe(2);
      expect(await claim(makeVolunteer(3))).toBeNull();
      expect(await counters(shards[0]!.id)).toEqual({ alive: 2, issued: 2, errors: 0, wanted: 2 });
      expect((await store.getShard(shards[0]!.id))!.issued).toBe(2);
      expect(await store.copiesInFlight(v1.id)).toEqual([a.copy]);
      expect(await store.jobCounts(job.id)).toMatchObject({ copies: { pending: 2 } });
    });

    it('claimCopy stops at max_total copies even while alive < wanted', async () => {
      const { shards } = await seedJob({ replicas: 2, maxTotal: 3, ackWithinMs: 1000 });
      expect(await drain(1)).toBe(2);
      expect(await store.expireCopies(NOW + 2000, NO_RULES)).toHaveLength(2);
      expect(await drain(10)).toBe(1);
      expect(await counters(shards[0]!.id)).toEqual({ alive: 1, issued: 3, errors: 2, wanted: 2 });
    });

    it('claimCopy applies the wallet and address rules through mayTakeCopy', async () => {
      await seedJob({ replicas: 3 });
      const W = '0x52908400098527886E0F7030069857D2E4169EE7';
      const v1 = makeVolunteer(1, { wallet: W, address: '198.51.100.1' });
      const sameWallet = makeVolunteer(2, { wallet: W, address: '198.51.100.2' });
      const sameAddress = makeVolunteer(3, { address: '198.51.100.1' });
      const noWallet = makeVolunteer(4, { address: '198.51.100.4' });
      expect(await claim(v1)).not.toBeNull();
      expect(await claim(sameWallet, { rules: new Set(['wallet']) })).toBeNull();
      expect(await claim(sameAddress, { rules: new Set(['address']) })).toBeNull();
      // The address rule is off here, and a missing wallet never matches another missing one.
      expect(await claim(sameAddress, { rules: new Set(['wallet']) })).not.toBeNull();
      expect(await claim(noWallet, { rules: ALL_RULES })).not.toBeNull();
      expect(await claim(makeVolunteer(5))).toBeNull();
    });

    it('claimCopy reads past a head of the queue the volunteer may take none of, in queue order, ties and priorities included', async () => {
      const p = makeProject();
      await store.createProject(p);
      // Two jobs of one millisecond interleave in the queue (equal age and index), and an older job of a lower
      // priority comes after both: 301 wanting shards, more than a store reads at once for the head.
      const a = makeJob(p.id, { shards: 150 });
      const b = makeJob(p.id, { shards: 150 });
      const low = makeJob(p.id, { shards: 1, createdAt: NOW - 1 });
      await store.createJob(a.job, a.shards);
      await store.createJob(b.job, b.shards);
      await store.createJob({ ...low.job, priority: -1 }, low.shards);
      const v = makeVolunteer(1);
      const order: number[] = [];
      for (let i = 0; i < 280; i++) order.push((await claim(v))?.shard.index ?? -1);
      // Without a draw, queue order: index by index, one copy of each job's shard (in either order within a tie).
      expect(order).toEqual(Array.from({ length: 280 }, (_, i) => i >> 1));
      // It holds copies of the first 280: the next claim (drawn, as the coordinator claims) is one of the rest.
      const next = await store.claimCopy({ ...claimReq(v), draw: () => 0.5 });
      expect(next?.shard.index).toBeGreaterThanOrEqual(140);
      expect(next?.job.id).not.toBe(low.job.id);
      // Every shard once, the lower priority's last, then nothing.
      const rest: string[] = [next!.shard.id];
      for (let c = await claim(v); c; c = await claim(v)) rest.push(c.shard.id);
      expect(rest).toHaveLength(21);
      expect(new Set(rest).size).toBe(21);
      expect(rest.at(-1)).toBe(low.shards[0]!.id);
      expect((await store.copiesInFlight(v.id)).map((c) => c.shardId).sort()).toEqual([...a.shards, ...b.shards, ...low.shards].map((s) => s.id).sort());
      // Another volunteer still starts at the head.
      expect((await claim(makeVolunteer(2)))?.shard.index).toBe(0);
    });

    it('claimCopy under one copy at a time reads past a head of shards whose first copy is in flight, more than a claim reads at once', async () => {
      const p = makeProject();
      await store.createProject(p);
      // A fresh swarm: every shard replicated, and the head's first copies all out (more than either store's
      // bound on one claim's read: PostgreSQL 1,024 shards, SQLite 5 x 1,024); free shards after them.
      const HELD = 5 * 1024 + 16;
      const held = makeJob(p.id, { shards: HELD, replicas: 2 });
      const free = makeJob(p.id, { shards: 2, replicas: 2, createdAt: NOW + 1 });
      await store.createJob(held.job, held.shards);
      await store.createJob(free.job, free.shards);
      // One copy of each held shard, in flight with a holder of its own (written as a claim would leave it, without
      // 5,000 claims: nothing has read the queue yet, so no store holds it in memory).
      await h.sql(`INSERT INTO copies (id, shard_id, job_id, volunteer_id, account, wallet, address, numeric_class, state, outcome, assigned_at, deadline)
        SELECT 'c-' || id, id, job_id, 'holder-' || id, 'volunteer:holder-' || id, NULL, '192.0.2.7', 'wasm/ort-1.30.0', 'assigned', 'pending', ${NOW}, ${NOW + 120_000}
        FROM shards WHERE job_id = '${held.job.id}'`);
      await h.sql(`UPDATE shards SET alive = 1, issued = 1 WHERE job_id = '${held.job.id}'`);
      const trust = (oneCopyAtATime: boolean) => ({
        policy: { ...DEFAULT_TRUST, oneCopyAtATime }, asker: null, trustedClasses: [], census: new Map(), draw: 0.5,
      });
      // Each held shard's next copy waits for its first: the new volunteer gets a free shard, not nothing.
      const got = await store.claimCopy({ ...claimReq(makeVolunteer(1)), trust: trust(true) });
      expect(got?.job.id).toBe(free.job.id);
      expect(got?.shard.index).toBe(0);
      // Copies together: the head's second copy, as before.
      const together = await store.claimCopy({ ...claimReq(makeVolunteer(2)), trust: trust(false) });
      expect(together?.shard.id).toBe(held.shards[0]!.id);
    });

    it('claimCopy with no rules still refuses the same volunteer twice', async () => {
      await seedJob({ replicas: 2 });
      const W = '0x52908400098527886E0F7030069857D2E4169EE7';
      const v1 = makeVolunteer(1, { wallet: W, address: '198.51.100.1' });
      expect(await claim(v1, { rules: NO_RULES })).not.toBeNull();
      expect(await claim(v1, { rules: NO_RULES })).toBeNull();
      expect(await claim(makeVolunteer(2, { wallet: W, address: '198.51.100.1' }), { rules: NO_RULES })).not.toBeNull();
    });

    it('homogeneous shards take one numeric class; expired copies no longer bind it', async () => {
      const { shards } = await seedJob({ replicas: 2, homogeneous: true, ackWithinMs: 1000 });
      const x1 = makeVolunteer(1, { cls: 'webgpu/nvidia/ampere/ort-1.30.0' });
      const y = makeVolunteer(2, { cls: 'wasm/ort-1.30.0' });
      expect((await claim(x1))!.shard.id).toBe(shards[0]!.id);
      expect(await claim(y)).toBeNull();
      expect(await store.expireCopies(NOW + 1001, NO_RULES)).toHaveLength(1);
      expect(await claim(y)).not.toBeNull();
      expect(await claim(makeVolunteer(3, { cls: 'wasm/ort-1.30.0' }))).not.toBeNull();
    });

    it('within a project the queue serves the oldest job first, in shard order; across projects fair share decides; it filters by project', async () => {
      const p1 = makeProject();
      const p2 = makeProject();
      await store.createProject(p1);
      await store.createProject(p2);
      const young = makeJob(p1.id, { shards: 2, replicas: 1, createdAt: NOW + 10 });
      const old = makeJob(p2.id, { shards: 2, replicas: 1, createdAt: NOW });
      await store.createJob(young.job, young.shards);
      await store.createJob(old.job, old.shards);
      expect((await claim(makeVolunteer(1), { projectId: p1.id }))!.shard.id).toBe(young.shards[0]!.id);
      const order: string[] = [];
      for (let i = 2; i < 10; i++) {
        const c = await claim(makeVolunteer(i));
        if (!c) break;
        order.push(c.shard.id);
      }
      // p1 already holds a copy, so p2 (equal weight, nothing charged) comes first; then each project in shard order.
      expect(order[0]).toBe(old.shards[0]!.id);
      expect([...order].sort()).toEqual([old.shards[0]!.id, old.shards[1]!.id, young.shards[1]!.id].sort());
      expect(order.indexOf(old.shards[0]!.id)).toBeLessThan(order.indexOf(old.shards[1]!.id));
      expect(await claim(makeVolunteer(20), { projectId: p1.id })).toBeNull();
    });

    it('ack, heartbeat and expiry: leases, reasons and counters', async () => {
      const { shards } = await seedJob({ shards: 2, replicas: 1, ackWithinMs: 1000, leaseMs: 5000 });
      const v1 = makeVolunteer(1);
      const v2 = makeVolunteer(2);
      const c1 = (await claim(v1))!.copy;
      const c2 = (await claim(v2))!.copy;
      expect(c1.shardId).toBe(shards[0]!.id);

      expect(await store.ackCopy(c1.id, v2.id, NOW + 5000)).toBeNull();
      expect(await store.ackCopy(c1.id, v1.id, NOW + 5000)).toMatchObject({ id: c1.id, state: 'running', deadline: NOW + 5000 });
      expect(await store.ackCopy(c1.id, v1.id, NOW + 5001)).toMatchObject({ state: 'running', deadline: NOW + 5001 });

      const hb = await store.extendLeases(v1.id, [c1.id, 'nope', c2.id], NOW + 100);
      expect(hb.extended).toEqual([c1.id]);
      expect(hb.lost).toEqual([{ copyId: 'nope', reason: 'not your copy' }, { copyId: c2.id, reason: 'not your copy' }]);
      expect((await store.getCopy(c1.id))!.deadline).toBe(NOW + 100 + 5000);
      expect(await store.extendLeases(v2.id, [c2.id], NOW + 100)).toEqual({ extended: [], lost: [{ copyId: c2.id, reason: 'copy is assigned' }] });
      expect(await store.extendLeases(v2.id, [], NOW + 100)).toEqual({ extended: [], lost: [] });
      // Past its deadline, before the reconciler expires it, a copy is no longer held: a heartbeat does not revive it
      // (as a hello's claim does not, resume.ts), and leaves it exactly as it was.
      expect(await store.extendLeases(v1.id, [c1.id], NOW + 5100 + 3000)).toEqual({
        extended: [], lost: [{ copyId: c1.id, reason: 'copy is overdue, its lease ran out 3 s ago: lease expired without heartbeat or result' }],
      });
      expect(await store.getCopy(c1.id)).toMatchObject({ state: 'running', deadline: NOW + 5100 });

      // Nothing is due at the deadline itself, only after it.
      expect(await store.expireCopies(NOW + 1000, NO_RULES)).toEqual([]);
      const first = await store.expireCopies(NOW + 1001, NO_RULES);
      expect(first).toEqual([{ ...c2, state: 'expired', reason: 'not acknowledged in time' }]);
      expect(await counters(shards[1]!.id)).toEqual({ alive: 0, issued: 1, errors: 1, wanted: 1 });
      const second = await store.expireCopies(NOW + 5101, NO_RULES);
      expect(second).toEqual([{ ...c1, state: 'expired', reason: 'lease expired without heartbeat or result', deadline: NOW + 5100 }]);
      expect(await store.expireCopies(NOW + 99_999, NO_RULES)).toEqual([]);
      expect(await counters(shards[0]!.id)).toEqual({ alive: 0, issued: 1, errors: 1, wanted: 1 });
      expect((await store.getShard(shards[0]!.id))!.errors).toBe(1);

      expect(await store.ackCopy(c1.id, v1.id, NOW + 9000)).toBeNull();
      expect(await store.extendLeases(v1.id, [c1.id], NOW + 6000)).toEqual({
        extended: [], lost: [{ copyId: c1.id, reason: 'copy is expired: lease expired without heartbeat or result' }],
      });
      expect(await store.copiesInFlight(v1.id)).toEqual([]);
      // Expired copies free their places: both shards are handed out again.
      expect(await drain(10, { now: NOW + 6000 })).toBe(2);
      expect(await counters(shards[0]!.id)).toEqual({ alive: 1, issued: 2, errors: 1, wanted: 1 });
      expect(await store.jobCounts(c1.jobId)).toMatchObject({ copies: { expired: 2, pending: 2 } });
    });

    it('saveResult: accepted, then duplicate; never for another volunteer', async () => {
      const { job, shards } = await seedJob({ replicas: 2 });
      const v1 = makeVolunteer(1);
      const c1 = (await claim(v1))!.copy;
      const c2 = (await claim(makeVolunteer(2)))!.copy;
      expect(await store.saveResult(c1.id, c2.volunteerId, bytes(9), 1, NOW + 1, NO_RULES)).toBe('not_assigned');
      expect(await store.saveResult('nope', v1.id, bytes(9), 1, NOW + 1, NO_RULES)).toBe('not_assigned');
      expect(await store.saveResult(c1.id, v1.id, bytes(1, 2, 3, 0, 255), 12.5, NOW + 10, NO_RULES)).toBe('accepted');
      expect(await store.saveResult(c1.id, v1.id, bytes(7, 7, 7), 1, NOW + 20, NO_RULES)).toBe('duplicate');
      expect(await store.getCopy(c1.id)).toEqual({ ...c1, state: 'returned', returnedAt: NOW + 10 });
      const sr = (await store.shardResults(shards[0]!.id))!;
      expect(sr.shard).toEqual({ ...shards[0], issued: 2, maxTotal: job.spec.limits.maxTotalCopies });
      expect(sr.copies.map((c) => c.id)).toEqual([c1.id, c2.id]);
      const kept = await sr.results([c1.id, c2.id]);
      expect([...kept.keys()]).toEqual([c1.id]);
      expect(Array.from(kept.get(c1.id)!)).toEqual([1, 2, 3, 0, 255]);
      expect((await sr.results([])).size).toBe(0);
      expect(await counters(shards[0]!.id)).toMatchObject({ alive: 2, issued: 2 });
      expect(await store.shardResults('nope')).toBeNull();
      expect(await store.copiesInFlight(v1.id)).toEqual([]);
    });

    it('a job kept to some backends is claimed only by volunteers on those; the next job goes to the others', async () => {
      const p = makeProject();
      await store.createProject(p);
      const wasmOnly = makeJob(p.id, { replicas: 1, createdAt: NOW });
      await store.createJob({ ...wasmOnly.job, spec: { ...wasmOnly.job.spec, backends: ['wasm'] } as Job['spec'] }, wasmOnly.shards);
      const any = makeJob(p.id, { replicas: 1, createdAt: NOW + 1 });
      await store.createJob(any.job, any.shards);
      const gpu = (await claim(makeVolunteer(1, { cls: 'webgpu/nvidia/hopper/ort-1.30.0' })))!;
      expect(gpu.job.id).toBe(any.job.id);
      expect((await claim(makeVolunteer(2, { cls: 'webgpu/nvidia/hopper/ort-1.30.0' })))).toBeNull();
      expect((await claim(makeVolunteer(3, { cls: 'wasm/ort-1.30.0' })))!.job.id).toBe(wasmOnly.job.id);
    });

    it('large results (hundreds of KiB) are kept byte for byte; a duplicate upload changes nothing', async () => {
      const { job, shards } = await seedJob({ replicas: 1 });
      const v1 = makeVolunteer(1);
      const c1 = (await claim(v1))!.copy;
      const big = new Uint8Array(300 * 1024).map((_, i) => (i * 7 + 3) & 0xff);
      expect(await store.saveResult(c1.id, v1.id, big, 1, NOW + 1, NO_RULES)).toBe('accepted');
      expect(await store.saveResult(c1.id, v1.id, new Uint8Array(300 * 1024), 1, NOW + 2, NO_RULES)).toBe('duplicate');
      const sr = (await store.shardResults(shards[0]!.id))!;
      expect(Buffer.compare((await sr.results([c1.id])).get(c1.id)!, big)).toBe(0);
      await store.applyValidation({
        shardId: shards[0]!.id, shard: { state: 'validated', wanted: 1, canonicalCopyId: c1.id },
        judgements: [{ copyId: c1.id, outcome: 'valid', reason: null, credit: 1 }],
        credits: [{ copyId: c1.id, account: v1.account, amount: 1, jobId: job.id, projectId: job.projectId }],
      });
      expect(Buffer.compare((await store.canonicalResultsOf([shards[0]!.id])).get(shards[0]!.id)!, big)).toBe(0);
      expect(Buffer.compare((await store.canonicalResults(job.id))[0]!, big)).toBe(0);
    });

    it('a late result on an expired or errored copy is accepted and revives its place', async () => {
      const { shards } = await seedJob({ replicas: 2, ackWithinMs: 1000 });
      const v1 = makeVolunteer(1);
      const v2 = makeVolunteer(2);
      const c1 = (await claim(v1))!.copy;
      const c2 = (await claim(v2))!.copy;
      await store.ackCopy(c2.id, v2.id, NOW + 60_000);
      expect((await store.expireCopies(NOW + 1001, NO_RULES)).map((c) => c.id)).toEqual([c1.id]);
      expect(await counters(shards[0]!.id)).toEqual({ alive: 1, issued: 2, errors: 1, wanted: 2 });
      expect(await store.saveResult(c1.id, v1.id, bytes(1), 5, NOW + 2000, NO_RULES)).toBe('accepted');
      expect(await counters(shards[0]!.id)).toEqual({ alive: 2, issued: 2, errors: 1, wanted: 2 });
      expect(await claim(makeVolunteer(3))).toBeNull();

      expect(await store.failCopy(c2.id, v2.id, 'volunteer reported: out of memory', NOW + 2100, NO_RULES)).toBe(true);
      expect(await counters(shards[0]!.id)).toEqual({ alive: 1, issued: 2, errors: 2, wanted: 2 });
      expect(await store.saveResult(c2.id, v2.id, bytes(2), 5, NOW + 2200, NO_RULES)).toBe('accepted');
      expect(await counters(shards[0]!.id)).toEqual({ alive: 2, issued: 2, errors: 2, wanted: 2 });
      expect(await store.getCopy(c2.id)).toMatchObject({ state: 'returned', returnedAt: NOW + 2200, reason: 'volunteer reported: out of memory' });
      expect(await claim(makeVolunteer(4))).toBeNull();
    });

    it('gives a shard again to a volunteer that handed its copy back or let it expire, a bounded number of times, never after an error; the old copy\'s late result is then superseded', async () => {
      const { shards } = await seedJob({ replicas: 2, ackWithinMs: 1000 });
      const id = shards[0]!.id;
      const [v1, v2] = [makeVolunteer(1), makeVolunteer(2, { address: '10.0.9.1' })];
      const c1 = (await claim(v1))!.copy;
      expect(await store.releaseCopy(c1.id, v1.id, ALL_RULES)).toBe(true);
      const c2 = (await claim(v1, { rules: ALL_RULES }))!.copy;
      expect(c2.shardId).toBe(id);
      expect((await store.expireCopies(NOW + 1001, ALL_RULES)).map((c) => c.id)).toEqual([c2.id]);
      const c3 = (await claim(v1, { rules: ALL_RULES }))!.copy;
      expect(c3.shardId).toBe(id);
      // c2's result comes late while v1 holds c3: one volunteer, one vote; nothing changes.
      expect(await store.saveResult(c2.id, v1.id, bytes(2), 5, NOW + 1002, NO_RULES)).toBe('superseded');
      expect(await store.getCopy(c2.id)).toMatchObject({ state: 'expired' });
      expect(await counters(id)).toEqual({ alive: 1, issued: 2, errors: 1, wanted: 2 });
      // A third copy lost: LOST_COPIES_FORGIVEN (2) spent, v1 is done with this shard.
      expect(await store.releaseCopy(c3.id, v1.id, ALL_RULES)).toBe(true);
      expect(await claim(v1, { rules: ALL_RULES })).toBeNull();
      // v2's copy errors: it is not given the shard again, and a third volunteer is.
      const c4 = (await claim(v2, { rules: ALL_RULES }))!.copy;
      expect(await store.failCopy(c4.id, v2.id, 'volunteer reported: out of memory', NOW + 1003, ALL_RULES)).toBe(true);
      expect(await claim(v2, { rules: ALL_RULES })).toBeNull();
      expect((await claim(makeVolunteer(3, { address: '10.0.8.1' }), { rules: ALL_RULES }))!.copy.shardId).toBe(id);
    });

    describe.each(['address', 'wallet'] as const)('a late result beside a sibling on the same %s (one person, one vote)', (rule) => {
      const rules: ReadonlySet<DistinctRule> = new Set([rule]);
      // Two volunteers of one person: behind one NAT (same address), or paid to one wallet.
      const sibling = (n: number) => makeVolunteer(n, rule === 'address' ? { address: '10.0.7.7' } : { wallet: '0xsame' });
      /** A shard at replicas 2 whose first copy, v1's, has expired (so it bars no sibling), and v1's sibling v2. */
      async function expiredBesideSibling(r: ReadonlySet<DistinctRule>) {
        const { shards } = await seedJob({ replicas: 2, ackWithinMs: 1000 });
        const [v1, v2] = [sibling(1), sibling(2)];
        const a = (await claim(v1, { rules: r }))!.copy;
        expect((await store.expireCopies(NOW + 1001, r)).map((c) => c.id)).toEqual([a.id]);
        return { id: shards[0]!.id, v1, v2, a };
      }
      /** Copies of the shard that can still count (in flight or returned, not judged invalid), from this person. */
      async function live(shardId: string, ids: string[]) {
        const rows = await h.sql(`SELECT id FROM copies WHERE shard_id = '${shardId}' AND state IN ('assigned','running','returned') AND outcome <> 'invalid'`);
        return rows.filter((r) => ids.includes(r.id as string)).length;
      }

      it('the sibling claims the shard first: the late result is refused under the shard\'s lock and changes nothing', async () => {
        const { id, v1, v2, a } = await expiredBesideSibling(rules);
        // A's copy is dead, so it bars no sibling: v2 is given the shard.
        const b = (await claim(v2, { rules, now: NOW + 1002 }))!.copy;
        expect(b.shardId).toBe(id);
        const before = await counters(id);
        expect(await store.saveResult(a.id, v1.id, bytes(1), 5, NOW + 1003, rules)).toBe(`shares_${rule}`);
        expect(await store.getCopy(a.id)).toMatchObject({ state: 'expired' });
        expect(await counters(id)).toEqual(before);
        expect(await live(id, [a.id, b.id])).toBe(1);
      });

      it('the late result comes first: it revives its copy, and the sibling is then not given the shard', async () => {
        const { id, v1, v2, a } = await expiredBesideSibling(rules);
        expect(await store.saveResult(a.id, v1.id, bytes(1), 5, NOW + 1002, rules)).toBe('accepted');
        expect(await claim(v2, { rules, now: NOW + 1003 })).toBeNull();
        expect(await live(id, [a.id])).toBe(1);
      });

      it('without the rule the two are independent votes and both count', async () => {
        const { id, v1, v2, a } = await expiredBesideSibling(NO_RULES);
        const b = (await claim(v2, { rules: NO_RULES, now: NOW + 1002 }))!.copy;
        expect(await store.saveResult(a.id, v1.id, bytes(1), 5, NOW + 1003, NO_RULES)).toBe('accepted');
        expect(await live(id, [a.id, b.id])).toBe(2);
      });
    });

    it('failCopy: once, only by its holder, only in flight; the place is reissued', async () => {
      const { shards } = await seedJob({ replicas: 1 });
      const v1 = makeVolunteer(1);
      const c1 = (await claim(v1))!.copy;
      expect(await store.failCopy(c1.id, 'someone-else', 'x', NOW, NO_RULES)).toBe(false);
      expect(await store.failCopy('nope', v1.id, 'x', NOW, NO_RULES)).toBe(false);
      // PostgreSQL text cannot hold U+0000; a volunteer's message may still carry one.
      expect(await store.failCopy(c1.id, v1.id, 'volunteer reported: bad\u0000byte', NOW + 5, NO_RULES)).toBe(true);
      expect(await store.failCopy(c1.id, v1.id, 'again', NOW + 6, NO_RULES)).toBe(false);
      const got = (await store.getCopy(c1.id))!;
      expect(got).toMatchObject({ state: 'error', returnedAt: NOW + 5 });
      expect(got.reason).toMatch(/^volunteer reported: bad.byte$/);
      expect(await counters(shards[0]!.id)).toEqual({ alive: 0, issued: 1, errors: 1, wanted: 1 });
      expect(await store.jobCounts(c1.jobId)).toMatchObject({ copies: { error: 1, pending: 0 } });
      expect(await claim(makeVolunteer(2))).not.toBeNull();
      expect(await store.getJob('a\u0000b')).toBeNull();
    });

    it('releaseCopy hands back an unstarted copy without counting an error; not once acknowledged, not by others', async () => {
      const { shards } = await seedJob({ replicas: 1 });
      const v1 = makeVolunteer(1);
      const c1 = (await claim(v1))!.copy;
      expect(await store.releaseCopy(c1.id, 'someone-else', NO_RULES)).toBe(false);
      expect(await store.releaseCopy(c1.id, v1.id, NO_RULES)).toBe(true);
      expect(await store.releaseCopy(c1.id, v1.id, NO_RULES)).toBe(false);
      expect((await store.getCopy(c1.id))!.state).toBe('cancelled');
      expect(await counters(shards[0]!.id)).toEqual({ alive: 0, issued: 1, errors: 0, wanted: 1 });
      const c2 = (await claim(makeVolunteer(2)))!.copy;
      expect(await store.ackCopy(c2.id, c2.volunteerId, NOW + 60_000)).not.toBeNull();
      expect(await store.releaseCopy(c2.id, c2.volunteerId, NO_RULES)).toBe(false);
    });

    it('gives the copy budget back the copies a source loses after its first: failed, handed back or expired', async () => {
      const { shards } = await seedJob({ replicas: 1, ackWithinMs: 1000 });
      const id = shards[0]!.id;
      // Volunteers 1-3 share the network 10.0.0.0/24; volunteer 4 is elsewhere.
      const [v1, v2, v3] = [makeVolunteer(1), makeVolunteer(2), makeVolunteer(3)];
      const c1 = (await claim(v1))!.copy;
      expect(await store.failCopy(c1.id, v1.id, 'volunteer reported: no', NOW + 1, ALL_RULES)).toBe(true);
      expect(await counters(id)).toEqual({ alive: 0, issued: 1, errors: 1, wanted: 1 });
      const c2 = (await claim(v2))!.copy;
      expect(await store.releaseCopy(c2.id, v2.id, ALL_RULES)).toBe(true);
      expect(await counters(id)).toEqual({ alive: 0, issued: 1, errors: 1, wanted: 1 });
      (await claim(v3))!.copy;
      expect(await store.expireCopies(NOW + 1001, ALL_RULES)).toHaveLength(1);
      expect(await counters(id)).toEqual({ alive: 0, issued: 1, errors: 2, wanted: 1 });
      const v4 = makeVolunteer(4, { address: '10.0.9.1' });
      const c4 = (await claim(v4))!.copy;
      expect(await store.failCopy(c4.id, v4.id, 'volunteer reported: no', NOW + 1002, ALL_RULES)).toBe(true);
      expect(await counters(id)).toEqual({ alive: 0, issued: 2, errors: 3, wanted: 1 });
      // Without the rules every volunteer is its own source: each copy is charged.
      const v5 = makeVolunteer(5);
      const c5 = (await claim(v5))!.copy;
      expect(await store.failCopy(c5.id, v5.id, 'volunteer reported: no', NOW + 1003, NO_RULES)).toBe(true);
      expect(await counters(id)).toEqual({ alive: 0, issued: 3, errors: 4, wanted: 1 });
    });

    it('applyValidation credits each copy at most once, however often it runs; balances come from the ledger', async () => {
      const { job, shards } = await seedJob({ replicas: 2 });
      const W = '0x52908400098527886E0F7030069857D2E4169EE7';
      const a = (await claim(makeVolunteer(1, { wallet: W })))!.copy;
      const b = (await claim(makeVolunteer(2)))!.copy;
      await store.saveResult(a.id, a.volunteerId, bytes(1), 1, NOW + 1, NO_RULES);
      await store.saveResult(b.id, b.volunteerId, bytes(1), 1, NOW + 2, NO_RULES);
      const w = consensus(shards[0]!, job, [a, b], 2.5);
      await store.applyValidation(w);
      await store.applyValidation(w);
      await store.applyValidation({ ...w, judgements: [] });

      expect(await store.countCreditsForCopy(a.id)).toBe(1);
      expect(await store.countCreditsForCopy(b.id)).toBe(1);
      expect(await store.countCreditsForCopy('nope')).toBe(0);
      expect(await store.balance(W)).toBe(2.5);
      expect(await store.balance(b.account)).toBe(2.5);
      expect(await store.balance('nobody')).toBe(0);
      expect(await store.getShard(shards[0]!.id)).toMatchObject({ state: 'validated', canonicalCopyId: a.id });
      expect(await store.getCopy(a.id)).toMatchObject({ outcome: 'valid', credit: 2.5, state: 'returned' });

      const all = await store.ledger({ limit: 10 });
      expect(all.map((e) => e.copyId)).toEqual([b.id, a.id]);
      expect(all[1]).toMatchObject({ account: W, amount: 2.5, jobId: job.id, projectId: job.projectId });
      expect(typeof all[1]!.at).toBe('number');
      expect((await store.ledger({ account: W, limit: 10 })).map((e) => e.copyId)).toEqual([a.id]);
      expect(await store.ledger({ jobId: job.id, limit: 1 })).toHaveLength(1);
      expect(await store.ledger({ jobId: 'nope', limit: 10 })).toEqual([]);
      const top = await store.topAccounts(10);
      expect(top).toHaveLength(2);
      expect(top).toContainEqual({ account: W, balance: 2.5, copies: 1 });
      expect(await store.jobCounts(job.id)).toEqual({
        shards: { total: 1, open: 0, validated: 1, failed: 0 },
        copies: { valid: 2, invalid: 0, pending: 0, expired: 0, error: 0 },
        credit: 5,
      });
    });

    it('projectBoard sums the project\'s ledger by account, reversals taken off, other projects left out', async () => {
      const { project, job, shards } = await seedJob({ shards: 3, replicas: 2 });
      const other = await seedJob({ shards: 1, replicas: 1 });
      const W = '0x52908400098527886E0F7030069857D2E4169EE7';
      const vw = makeVolunteer(1, { wallet: W });
      const v2 = makeVolunteer(2);
      const credited: Claimed['copy'][] = [];
      // Shards 0 and 1 validated by both; shard 2 stays open (one copy in flight).
      for (const [i, credit] of [[0, 3], [1, 2]] as const) {
        const a = (await claim(vw, { projectId: project.id }))!.copy;
        const b = (await claim(v2, { projectId: project.id }))!.copy;
        expect([a.shardId, b.shardId]).toEqual([shards[i]!.id, shards[i]!.id]);
        await store.saveResult(a.id, a.volunteerId, bytes(1), 1, NOW + 1, NO_RULES);
        await store.saveResult(b.id, b.volunteerId, bytes(1), 1, NOW + 1, NO_RULES);
        await store.applyValidation(consensus(shards[i]!, job, [a, b], credit));
        credited.push(a, b);
      }
      await claim(vw, { projectId: project.id });
      // The other project's credit goes to the same wallet: not this project's.
      const o = (await claim(vw, { projectId: other.project.id }))!.copy;
      await store.saveResult(o.id, o.volunteerId, bytes(1), 1, NOW + 1, NO_RULES);
      await store.applyValidation(consensus(other.shards[0]!, other.job, [o], 100));
      // v2's credit for shard 1 is taken back.
      await store.reverseCredits({ copyIds: [credited[3]!.id], reason: 'spot check failed', now: NOW + 5 });

      const board = await store.projectBoard(project.id, 10);
      expect(board.jobs).toEqual({ running: 1, completed: 0, failed: 0, cancelled: 0 });
      expect(board.shards).toEqual([{ jobId: job.id, total: 3, validated: 2, validatedRecords: 16 }]);
      expect(board.leaderboard).toEqual([
        { account: W, credit: 5, copies: 2 },
        { account: v2.account, credit: 3, copies: 1 },
      ]);
      expect(board.credit).toBe(8);
      expect((await store.projectBoard(project.id, 1)).leaderboard).toHaveLength(1);
      expect(await store.projectBoard('nope', 10)).toEqual({ jobs: { running: 0, completed: 0, failed: 0, cancelled: 0 }, shards: [], leaderboard: [], credit: 0 });
    });

    it('an invalid judgement takes the shard\'s alive count down once, even when repeated', async () => {
      const { shards } = await seedJob({ replicas: 2 });
      const a = (await claim(makeVolunteer(1)))!.copy;
      const b = (await claim(makeVolunteer(2)))!.copy;
      await store.saveResult(a.id, a.volunteerId, bytes(1), 1, NOW, NO_RULES);
      await store.saveResult(b.id, b.volunteerId, bytes(2), 1, NOW, NO_RULES);
      const w: ValidationWrite = {
        shardId: shards[0]!.id, shard: { state: 'open', wanted: 3, canonicalCopyId: null },
        judgements: [{ copyId: b.id, outcome: 'invalid', reason: 'disagrees', credit: 0 }], credits: [],
      };
      await store.applyValidation(w);
      await store.applyValidation(w);
      expect(await counters(shards[0]!.id)).toEqual({ alive: 1, issued: 2, errors: 0, wanted: 3 });
      expect(await store.getCopy(b.id)).toMatchObject({ outcome: 'invalid', reason: 'disagrees', credit: 0 });
      expect(await drain(10)).toBe(2);
      expect(await store.jobCounts(a.jobId)).toMatchObject({ copies: { invalid: 1, pending: 3 } });
    });

    it('the ledger refuses UPDATE and DELETE in the database itself', async () => {
      const { job, shards } = await seedJob({ replicas: 1 });
      const a = (await claim(makeVolunteer(1)))!.copy;
      await store.saveResult(a.id, a.volunteerId, bytes(1), 1, NOW, NO_RULES);
      await store.applyValidation(consensus(shards[0]!, job, [a], 3));
      await expect(h.sql(`UPDATE ledger SET amount = 1000 WHERE copy_id = '${a.id}'`)).rejects.toThrow(/append-only/);
      await expect(h.sql('DELETE FROM ledger')).rejects.toThrow(/append-only/);
      await expect(h.sql(`INSERT INTO ledger (copy_id, account, amount, job_id, project_id, at) VALUES ('${a.id}', 'x', 1, 'j', 'p', 0)`)).rejects.toThrow();
      await expect(h.sql(`INSERT INTO ledger (copy_id, account, amount, job_id, project_id, at) VALUES ('no-such-copy', 'x', 1, 'j', 'p', 0)`)).rejects.toThrow();
      expect(await store.balance(a.account)).toBe(3);
      expect(await store.countCreditsForCopy(a.id)).toBe(1);
    });

    it('finishJob closes open shards, cancels copies in flight, and happens once', async () => {
      const { job, shards } = await seedJob({ shards: 2, replicas: 1, ackWithinMs: 1000 });
      const done = (await claim(makeVolunteer(1)))!.copy;
      const inFlight = (await claim(makeVolunteer(2)))!.copy;
      await store.ackCopy(inFlight.id, inFlight.volunteerId, NOW + 60_000);
      // Shard 0 is reissued after its copy expires, then validated on the late
      // result: the reissued copy is still in flight on a validated shard.
      expect(await store.expireCopies(NOW + 1001, NO_RULES)).toHaveLength(1);
      const late = (await claim(makeVolunteer(3), { now: NOW + 1001 }))!.copy;
      expect(late.shardId).toBe(shards[0]!.id);
      expect(await store.saveResult(done.id, done.volunteerId, bytes(1), 1, NOW + 1002, NO_RULES)).toBe('accepted');
      await store.applyValidation(consensus(shards[0]!, job, [done]));

      expect(await store.finishJob(job.id, 'cancelled', { error: 'cancelled by the project', finishedAt: NOW + 50 })).toBe(true);
      expect(await store.finishJob(job.id, 'failed', { error: 'again', finishedAt: NOW + 60 })).toBe(false);
      expect(await store.getJob(job.id)).toMatchObject({ state: 'cancelled', error: 'cancelled by the project', finishedAt: NOW + 50, resultHash: null });
      expect((await store.shardsOf(job.id)).map((s) => s.state)).toEqual(['validated', 'cancelled']);
      expect(await store.getCopy(inFlight.id)).toMatchObject({ state: 'cancelled', reason: 'job cancelled' });
      expect(await store.getCopy(late.id)).toMatchObject({ state: 'cancelled', reason: 'job cancelled' });
      expect(await store.getCopy(done.id)).toMatchObject({ state: 'returned', outcome: 'valid' });
      expect(await store.saveResult(inFlight.id, inFlight.volunteerId, bytes(1), 1, NOW + 70, NO_RULES)).toBe('gone');
      expect(await store.failCopy(inFlight.id, inFlight.volunteerId, 'x', NOW + 70, NO_RULES)).toBe(false);
      expect(await claim(makeVolunteer(4))).toBeNull();
      expect(await store.jobCounts(job.id)).toMatchObject({ shards: { total: 2, open: 0, validated: 1 }, copies: { valid: 1, pending: 0 } });

      const failed = await seedJob({ shards: 2 });
      expect(await store.finishJob(failed.job.id, 'failed', { error: 'shard 0 failed', finishedAt: NOW })).toBe(true);
      expect((await store.shardsOf(failed.job.id)).map((s) => s.state)).toEqual(['failed', 'failed']);
      expect(await store.jobCounts(failed.job.id)).toMatchObject({ shards: { failed: 2 } });
      const completed = await seedJob({ shards: 1 });
      expect(await store.finishJob(completed.job.id, 'completed', { resultHash: 'c'.repeat(64), finishedAt: NOW + 1 })).toBe(true);
      expect(await store.getJob(completed.job.id)).toMatchObject({ state: 'completed', resultHash: 'c'.repeat(64), error: null, finishedAt: NOW + 1 });
    });

    it('a copy on a failed shard is gone; setShardFailed only fails open shards', async () => {
      const { job, shards } = await seedJob({ shards: 2, replicas: 1 });
      const a = (await claim(makeVolunteer(1)))!.copy;
      const b = (await claim(makeVolunteer(2)))!.copy;
      await store.saveResult(a.id, a.volunteerId, bytes(1), 1, NOW, NO_RULES);
      await store.applyValidation(consensus(shards[0]!, job, [a]));
      await store.setShardFailed(shards[0]!.id, 'too many errors');
      await store.setShardFailed(shards[1]!.id, 'too many errors');
      expect((await store.shardsOf(job.id)).map((s) => s.state)).toEqual(['validated', 'failed']);
      expect(await store.saveResult(b.id, b.volunteerId, bytes(1), 1, NOW, NO_RULES)).toBe('gone');
      expect(await store.getCopy(b.id)).toMatchObject({ state: 'assigned' });
    });

    it('canonicalResults come back in shard order whatever the validation order', async () => {
      const { job, shards } = await seedJob({ shards: 3, replicas: 1 });
      const copies = [];
      for (let i = 0; i < 3; i++) {
        const c = (await claim(makeVolunteer(i)))!.copy;
        expect(c.shardId).toBe(shards[i]!.id);
        await store.saveResult(c.id, c.volunteerId, bytes(10 + i, i), 1, NOW, NO_RULES);
        copies.push(c);
      }
      for (const i of [2, 0]) await store.applyValidation(consensus(shards[i]!, job, [copies[i]!]));
      expect((await store.canonicalResults(job.id)).map((r) => Array.from(r))).toEqual([[10, 0], [12, 2]]);
      await store.applyValidation(consensus(shards[1]!, job, [copies[1]!]));
      expect((await store.canonicalResults(job.id)).map((r) => Array.from(r))).toEqual([[10, 0], [11, 1], [12, 2]]);
      const some = await store.canonicalResultsOf([shards[2]!.id, 'nope', shards[0]!.id]);
      expect([...some.keys()].sort()).toEqual([shards[0]!.id, shards[2]!.id].sort());
      expect(Array.from(some.get(shards[2]!.id)!)).toEqual([12, 2]);
      expect(await store.canonicalResultsOf([])).toEqual(new Map());
      expect(await store.jobCounts(job.id)).toMatchObject({ shards: { validated: 3 }, credit: 15 });
    });

    it('shortenLeases only ever brings deadlines forward, for copies in flight', async () => {
      await seedJob({ shards: 3, replicas: 1, ackWithinMs: 1000 });
      const v = makeVolunteer(1);
      const c1 = (await claim(v))!.copy;
      const c2 = (await claim(v))!.copy;
      const c3 = (await claim(v))!.copy;
      await store.ackCopy(c2.id, v.id, NOW + 60_000);
      await store.saveResult(c3.id, v.id, bytes(1), 1, NOW, NO_RULES);
      expect(await store.shortenLeases(v.id, NOW + 500)).toBe(2);
      expect((await store.getCopy(c1.id))!.deadline).toBe(NOW + 500);
      expect((await store.getCopy(c2.id))!.deadline).toBe(NOW + 500);
      expect(await store.shortenLeases(v.id, NOW + 9_000)).toBe(2);
      expect((await store.getCopy(c1.id))!.deadline).toBe(NOW + 500);
      expect((await store.getCopy(c3.id))!.deadline).toBe(NOW + 1000);
      expect((await store.copiesInFlight(v.id)).map((c) => c.id).sort()).toEqual([c1.id, c2.id].sort());
      expect(await store.shortenLeases('nobody', NOW)).toBe(0);
    });

    it('a training round caps the shards one volunteer holds; failed copies do not count', async () => {
      const p = makeProject();
      await store.createProject(p);
      const { job, shards } = makeTrainJob(p.id, { shards: 4, shardsPerRound: 2, cap: 1 });
      await store.createJob(job, shards);
      expect(await store.getJob(job.id)).toEqual(job);
      const v = makeVolunteer(1);
      const first = (await claim(v))!.copy;
      expect(first.shardId).toBe(shards[0]!.id);
      // Shard 1 is in the same round: refused; shard 2 opens the next round.
      expect((await claim(v))!.copy.shardId).toBe(shards[2]!.id);
      expect(await claim(v)).toBeNull();
      expect(await store.failCopy(first.id, v.id, 'volunteer reported: lost the GPU', NOW, NO_RULES)).toBe(true);
      const again = (await claim(v))!.copy;
      expect(again.shardId).toBe(shards[1]!.id);
      expect((await claim(makeVolunteer(2)))!.shard.id).toBe(shards[0]!.id);
    });

    it('advanceRound checkpoints once, cancels the open round and opens the next', async () => {
      const p = makeProject();
      await store.createProject(p);
      const { job, shards } = makeJob(p.id, { shards: 2, replicas: 1 });
      const progress0: TrainProgress = { round: 0, totalRounds: 3, weightsHash: 'w0', optimizerHash: 'o0', optimizerStep: 0, roundStartedAt: NOW, history: [] };
      job.progress = progress0;
      await store.createJob(job, shards);
      expect((await store.getJob(job.id))!.progress).toEqual(progress0);
      const held = (await claim(makeVolunteer(1)))!.copy;
      const done = (await claim(makeVolunteer(2)))!.copy;
      await store.saveResult(done.id, done.volunteerId, bytes(1), 1, NOW, NO_RULES);
      await store.applyValidation(consensus(shards[1]!, job, [done]));

      const progress1: TrainProgress = { ...progress0, round: 1, weightsHash: 'w1', optimizerStep: 1, history: [{ round: 0, epoch: 0, loss: 0.5, accuracy: null, evalLoss: null, shards: 1, aggregateMs: 3, at: NOW }] };
      const next = makeJob(p.id, { shards: 4 }).shards.slice(2).map((s) => ({ ...s, jobId: job.id }));
      expect(await store.advanceRound(job.id, 0, progress1, next)).toBe(true);
      expect(await store.advanceRound(job.id, 0, { ...progress1, weightsHash: 'other' }, [])).toBe(false);
      expect(await store.advanceRound('nope', 0, progress1, [])).toBe(false);
      expect((await store.getJob(job.id))!.progress).toEqual(progress1);
      expect((await store.shardsOf(job.id)).map((s) => [s.index, s.state])).toEqual([[0, 'cancelled'], [1, 'validated'], [2, 'open'], [3, 'open']]);
      expect(await store.shardsOf(job.id, { from: 2, to: 4 })).toEqual(next);
      expect(await store.getCopy(held.id)).toMatchObject({ state: 'cancelled', reason: 'round closed without it' });
      // The closed round's results are folded into the checkpoint and dropped.
      expect((await (await store.shardResults(shards[1]!.id))!.results([done.id])).get(done.id) ?? null).toBeNull();
      expect((await claim(makeVolunteer(3)))!.shard.index).toBe(2);
    });
  });
}
