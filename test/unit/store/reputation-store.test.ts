/**
 * Reputations persisted, in both stores: per volunteer host and numeric
 * class, events applied in order and atomically, the operator's hosts
 * trusted from the start, and which trusted classes are connected lately.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { isTrusted } from '../../../server/core/trust/reputation.ts';
import { DEFAULT_TRUST, type TrustPolicy } from '../../../server/core/trust/policy.ts';
import type { Store } from '../../../server/store/types.ts';
import { claimReq, makeTrainJob, makeVolunteer, NO_RULES, NOW, writeJob } from './contract.ts';
import { pgHarness, sqliteHarness, type StoreHarness } from './harness.ts';

const WASM = 'wasm/ort-1.30.0';
const GPU = 'webgpu/nvidia/ampere/ort-1.30.0';

async function addVolunteer(store: Store, id: string, cls: string, lastSeen: number, address = '10.0.0.1'): Promise<void> {
  await store.createVolunteer({
    id, secretHash: 'x'.repeat(64), wallet: null, account: `volunteer:${id}`, address, numericClass: cls,
    capabilities: {}, createdAt: NOW, lastSeen,
  });
}

for (const [label, harness] of [['sqlite', sqliteHarness], ['postgres', pgHarness]] as const) {
  // These cases read holders' trust with a shard's copies in flight at once: copies issued together, not one at a time.
const TOGETHER = { ...DEFAULT_TRUST, oneCopyAtATime: false };

describe(`reputations: ${label}`, () => {
    let h: StoreHarness | undefined;
    afterEach(async () => {
      await h?.dispose();
      h = undefined;
    });

    it('a new host has none; events apply in order per host and class; an invalid result resets the streak', async () => {
      h = await harness();
      const store = await h.open();
      expect(await store.reputations([{ volunteerId: 'a', numericClass: WASM }])).toEqual([]);
      await store.recordReputation(Array.from({ length: 10 }, () => ({ volunteerId: 'a', numericClass: WASM, event: 'valid' as const })), NOW);
      await store.recordReputation([{ volunteerId: 'a', numericClass: GPU, event: 'valid' }, { volunteerId: 'a', numericClass: WASM, event: 'error' }], NOW + 1);
      const [wasm, gpu] = await store.reputations([{ volunteerId: 'a', numericClass: WASM }, { volunteerId: 'a', numericClass: GPU }]);
      expect(wasm).toMatchObject({ volunteerId: 'a', numericClass: WASM, streak: 10, streakSince: NOW, valid: 10, errors: 1, invalid: 0, updatedAt: NOW + 1 });
      expect(wasm!.operator).toBeUndefined();
      expect(isTrusted(wasm, DEFAULT_TRUST)).toBe(true);
      // Per class: the GPU class has its own streak.
      expect(gpu).toMatchObject({ streak: 1, valid: 1 });
      await store.recordReputation([{ volunteerId: 'a', numericClass: WASM, event: 'invalid' }, { volunteerId: 'a', numericClass: WASM, event: 'valid' }], NOW + 2);
      const [after] = await store.reputations([{ volunteerId: 'a', numericClass: WASM }]);
      expect(after).toMatchObject({ streak: 1, streakSince: NOW + 2, valid: 11, invalid: 1, lastInvalidAt: NOW + 2 });
      expect(isTrusted(after, DEFAULT_TRUST)).toBe(false);
    });

    it('concurrent events on one host are all counted (PostgreSQL: from two coordinators)', async () => {
      h = await harness();
      // SQLite is one coordinator's file: its concurrent writers are calls on one store.
      const s1 = await h.open();
      const s2 = label === 'postgres' ? await h.open() : s1;
      const moves = await Promise.all(Array.from({ length: 20 }, (_, i) => (i % 2 ? s1 : s2).recordReputation([{ volunteerId: 'b', numericClass: WASM, event: 'valid' }], NOW + i)));
      const [r] = await s1.reputations([{ volunteerId: 'b', numericClass: WASM }]);
      expect(r).toMatchObject({ streak: 20, valid: 20 });
      // Each write says what it changed, read under its lock: every streak from 1 to 20 once, each one past the one before it
      // (what the coordinator logs as a host earning or losing trust is never reported twice, nor missed).
      expect(moves.map((m) => m.length)).toEqual(Array(20).fill(1));
      expect(moves.map((m) => m[0]!.after.streak).sort((x, y) => x - y)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
      for (const [m] of moves) expect(m!.before?.streak ?? 0).toBe(m!.after.streak - 1);
    });

    it('the operator\'s host is trusted from the start, keeps its counts, and counts as connected only while seen', async () => {
      h = await harness();
      const store = await h.open();
      await addVolunteer(store, 'op', WASM, NOW);
      await addVolunteer(store, 'gone', GPU, NOW - 600_000);
      await addVolunteer(store, 'newbie', WASM, NOW);
      await store.recordReputation([{ volunteerId: 'op', numericClass: WASM, event: 'valid' }], NOW);
      await store.markOperator({ volunteerId: 'op', numericClass: WASM }, NOW + 5);
      await store.markOperator({ volunteerId: 'op', numericClass: WASM }, NOW + 6);
      const [op] = await store.reputations([{ volunteerId: 'op', numericClass: WASM }]);
      expect(op).toMatchObject({ operator: true, streak: 1, valid: 1 });
      expect(isTrusted(op, DEFAULT_TRUST)).toBe(true);
      await store.recordReputation(Array.from({ length: 12 }, () => ({ volunteerId: 'gone', numericClass: GPU, event: 'valid' as const })), NOW);
      await store.recordReputation([{ volunteerId: 'newbie', numericClass: WASM, event: 'valid' }], NOW);
      expect(await store.trustedClassesSeen(DEFAULT_TRUST.trustAfter, NOW - 60_000)).toEqual([WASM]);
      expect(await store.trustedClassesSeen(DEFAULT_TRUST.trustAfter, NOW - 3_600_000)).toEqual([GPU, WASM].sort());
    });

    it('the class census counts distinct address groups per numeric class, as each volunteer last announced, and outlives a reopen', async () => {
      h = await harness();
      const store = await h.open();
      expect(await store.classCensus()).toEqual(new Map());
      const FORGED = 'webgpu/forged/x/ort-1.30.0';
      // Three forgers behind one address group count once; WASM is announced from three groups.
      for (const [id, cls, group] of [['f1', FORGED, '203.0.113.0/24'], ['f2', FORGED, '203.0.113.0/24'], ['f3', FORGED, '203.0.113.0/24'],
        ['w1', WASM, '10.0.1.0/24'], ['w2', WASM, '10.0.2.0/24'], ['w3', WASM, '10.0.3.0/24'], ['g1', GPU, '10.0.1.0/24']] as const) {
        await addVolunteer(store, id, cls, NOW, group);
      }
      expect(await store.classCensus()).toEqual(new Map([[FORGED, 1], [WASM, 3], [GPU, 1]]));
      // A volunteer that comes back announcing another class counts for that one only.
      await store.updateVolunteer('g1', { numericClass: WASM });
      await store.updateVolunteer('w3', { address: '10.0.1.0/24' });
      const again = await h.open();
      expect(await again.classCensus()).toEqual(new Map([[FORGED, 1], [WASM, 2]]));
    });

    it('a homogeneous claim reads holders\' trust from their rows: a forged-class copy does not bind the shard, an honoured trusted one does', async () => {
      h = await harness();
      const store = await h.open();
      const FORGED = 'webgpu/forged/x/ort-1.30.0';
      const { project: p } = await writeJob(store, { shards: 1, replicas: 2, homogeneous: true });
      const [forger, op, gpuOp, gpu] = [makeVolunteer(1, { cls: FORGED }), makeVolunteer(2), makeVolunteer(3, { cls: GPU }), makeVolunteer(4, { cls: GPU })];
      for (const v of [op, gpuOp]) await store.markOperator({ volunteerId: v.id, numericClass: v.numericClass }, NOW);
      const census = new Map([[WASM, 3], [GPU, 3], [FORGED, 1]]);
      const trust = async (v: typeof op, trustedClasses = [WASM]) => ({
        policy: TOGETHER, draw: 0, trustedClasses, census,
        asker: (await store.reputations([{ volunteerId: v.id, numericClass: v.numericClass }]))[0] ?? null,
      });
      // The forger is refused by the rule ...
      expect(await store.claimCopy({ ...claimReq(forger), trust: await trust(forger) })).toBeNull();
      // ... but a copy it got before (a claim without the rule) leaves the shard open to the operator's WASM host.
      expect((await store.claimCopy(claimReq(forger)))?.copy.volunteerId).toBe(forger.id);
      expect((await store.claimCopy({ ...claimReq(op), trust: await trust(op) }))?.copy.volunteerId).toBe(op.id);

      const two = await writeJob(store, { shards: 1, replicas: 2, homogeneous: true, createdAt: NOW + 1 }, p);
      // A trusted GPU host's copy binds the shard to GPU: the WASM operator host may not take the other copy; an untrusted GPU host may.
      expect((await store.claimCopy({ ...claimReq(gpuOp), trust: await trust(gpuOp, [WASM, GPU]) }))?.shard.id).toBe(two.shards[0]!.id);
      expect(await store.claimCopy({ ...claimReq(op), trust: await trust(op, [WASM, GPU]) })).toBeNull();
      expect((await store.claimCopy({ ...claimReq(gpu), trust: await trust(gpu, [WASM, GPU]) }))?.shard.id).toBe(two.shards[0]!.id);
    });

    it('a caught operator host loses its trust for good: a later hello with the token does not restore it', async () => {
      h = await harness();
      const store = await h.open();
      for (const id of ['op', 'op2', 'op3']) await addVolunteer(store, id, WASM, NOW);
      expect(await store.markOperator({ volunteerId: 'op', numericClass: WASM }, NOW)).toBe(true);
      expect(await store.markOperator({ volunteerId: 'op', numericClass: WASM }, NOW + 1)).toBe(true);
      expect(await store.markOperator({ volunteerId: 'op2', numericClass: WASM }, NOW)).toBe(true);
      expect(await store.markOperator({ volunteerId: 'op3', numericClass: WASM }, NOW)).toBe(true);
      await store.recordReputation([
        { volunteerId: 'op', numericClass: WASM, event: 'valid' },
        { volunteerId: 'op', numericClass: WASM, event: 'spot-fail' },
        { volunteerId: 'op2', numericClass: WASM, event: 'invalid' },
        { volunteerId: 'op3', numericClass: WASM, event: 'error' },
      ], NOW + 2);
      for (const id of ['op', 'op2']) {
        expect(await store.markOperator({ volunteerId: id, numericClass: WASM }, NOW + 3)).toBe(false);
        await store.recordReputation([{ volunteerId: id, numericClass: WASM, event: 'valid' }], NOW + 4);
        const [r] = await store.reputations([{ volunteerId: id, numericClass: WASM }]);
        expect(r!.operator).toBeUndefined();
        expect(r).toMatchObject({ operatorRevoked: true, streak: 1 });
        expect(isTrusted(r, DEFAULT_TRUST)).toBe(false);
      }
      // An error is not a lie: op3 stays the operator's. Only op3 makes the class trusted.
      const [op3] = await store.reputations([{ volunteerId: 'op3', numericClass: WASM }]);
      expect(op3).toMatchObject({ operator: true, errors: 1 });
      expect(await store.trustedClassesSeen(DEFAULT_TRUST.trustAfter, NOW - 60_000)).toEqual([WASM]);
      await store.recordReputation([{ volunteerId: 'op3', numericClass: WASM, event: 'invalid' }], NOW + 5);
      expect(await store.trustedClassesSeen(DEFAULT_TRUST.trustAfter, NOW - 60_000)).toEqual([]);
      // Revoked in its class, the host is the operator's in no other: announcing another version (a class it has no row in) does not help.
      expect(await store.markOperator({ volunteerId: 'op', numericClass: GPU }, NOW + 5)).toBe(false);
      expect(await store.reputations([{ volunteerId: 'op', numericClass: GPU }])).toEqual([]);
      // The revocation is in the database: a store reopened on it still refuses the token.
      const again = await h.open();
      expect(await again.markOperator({ volunteerId: 'op', numericClass: WASM }, NOW + 6)).toBe(false);
      const [op] = await again.reputations([{ volunteerId: 'op', numericClass: WASM }]);
      expect(op).toMatchObject({ operatorRevoked: true });
    });

    it('the claim keeps a shard\'s other copy for a trusted host, reading holders\' trust from their rows; a solo copy ends the shard\'s wanting', async () => {
      h = await harness();
      const store = await h.open();
      const { project: p } = await writeJob(store, { shards: 1, replicas: 2 });
      const [liar1, liar2, op] = [makeVolunteer(1), makeVolunteer(2), makeVolunteer(3)];
      await store.markOperator({ volunteerId: op.id, numericClass: op.numericClass }, NOW);
      const trust = async (v: typeof op, draw = 0) => ({
        policy: TOGETHER, draw, trustedClasses: [WASM], census: new Map([[WASM, 3]]),
        asker: (await store.reputations([{ volunteerId: v.id, numericClass: v.numericClass }]))[0] ?? null,
      });
      const first = await store.claimCopy({ ...claimReq(liar1), trust: await trust(liar1) });
      expect(first?.copy.volunteerId).toBe(liar1.id);
      // The second untrusted asker is refused: the shard's other copy waits for a trusted host.
      expect(await store.claimCopy({ ...claimReq(liar2), trust: await trust(liar2) })).toBeNull();
      const second = await store.claimCopy({ ...claimReq(op), trust: await trust(op, 0.99) });
      // Not alone: the shard had a holder already.
      expect(second?.copy).toMatchObject({ volunteerId: op.id });
      expect(second?.copy.solo).toBeUndefined();

      const two = await writeJob(store, { shards: 1, replicas: 2, createdAt: NOW + 1 }, p);
      const solo = await store.claimCopy({ ...claimReq(op), trust: await trust(op, 0.99) });
      expect(solo).toMatchObject({ shard: { id: two.shards[0]!.id, wanted: 1 }, copy: { solo: true } });
      expect(await store.getCopy(solo!.copy.id)).toMatchObject({ solo: true });
      expect(await store.getShard(two.shards[0]!.id)).toMatchObject({ wanted: 1 });
      // Nobody else gets a copy of a shard a trusted host computes alone.
      expect(await store.claimCopy({ ...claimReq(liar2), trust: await trust(liar2) })).toBeNull();
    });

    it('one copy at a time: an inference shard\'s copy out holds its next copy back from everyone until it returns; a training round\'s copies go out together', async () => {
      h = await harness();
      const store = await h.open();
      const { project: p, shards } = await writeJob(store, { shards: 1, replicas: 2 });
      const [a, b, op] = [makeVolunteer(1), makeVolunteer(2), makeVolunteer(3)];
      await store.markOperator({ volunteerId: op.id, numericClass: op.numericClass }, NOW);
      // No trusted host can be had (untrusted hosts check each other), so only the copy out holds the shard back.
      const trust = async (v: typeof op, policy: TrustPolicy = DEFAULT_TRUST) => ({
        policy, draw: 0, trustedClasses: [], census: new Map([[WASM, 3]]),
        asker: (await store.reputations([{ volunteerId: v.id, numericClass: v.numericClass }]))[0] ?? null,
      });
      const first = (await store.claimCopy({ ...claimReq(a), trust: await trust(a) }))!;
      expect(first.copy.volunteerId).toBe(a.id);
      expect(first.shard.wanted).toBe(2);
      // Assigned, then acknowledged (running): neither an untrusted host nor the operator's trusted one gets the other copy.
      for (const v of [b, op]) expect(await store.claimCopy({ ...claimReq(v), trust: await trust(v) })).toBeNull();
      expect(await store.ackCopy(first.copy.id, a.id, NOW + 120_000)).not.toBeNull();
      for (const v of [b, op]) expect(await store.claimCopy({ ...claimReq(v), trust: await trust(v) })).toBeNull();
      // Returned: the next copy goes out.
      await store.saveResult(first.copy.id, a.id, new Uint8Array([1]), 1, NOW, NO_RULES);
      expect((await store.claimCopy({ ...claimReq(b), trust: await trust(b) }))?.shard.id).toBe(shards[0]!.id);

      // --copies together: the second copy goes out at once.
      const together = await writeJob(store, { shards: 1, replicas: 2, createdAt: NOW + 1 }, p);
      const off = { ...DEFAULT_TRUST, oneCopyAtATime: false };
      expect((await store.claimCopy({ ...claimReq(a), trust: await trust(a, off) }))?.shard.id).toBe(together.shards[0]!.id);
      expect((await store.claimCopy({ ...claimReq(b), trust: await trust(b, off) }))?.shard.id).toBe(together.shards[0]!.id);

      // A training round's updates are aggregated, not compared against one answer: its copies go out together under the rule.
      const train = makeTrainJob(p.id, { shards: 1, shardsPerRound: 1, cap: 1, replicas: 2 });
      await store.createJob({ ...train.job, createdAt: NOW + 2 }, train.shards);
      expect((await store.claimCopy({ ...claimReq(a), trust: await trust(a) }))?.shard.id).toBe(train.shards[0]!.id);
      expect((await store.claimCopy({ ...claimReq(op), trust: await trust(op) }))?.shard.id).toBe(train.shards[0]!.id);
    });

    it('a judgement marks unchecked results and moves reputations with it, once however often it is applied', async () => {
      h = await harness();
      const store = await h.open();
      const { shards } = await writeJob(store, { shards: 1, replicas: 2 });
      const [a, b] = [makeVolunteer(1), makeVolunteer(2)];
      const ca = (await store.claimCopy(claimReq(a)))!.copy;
      const cb = (await store.claimCopy(claimReq(b)))!.copy;
      for (const c of [ca, cb]) await store.saveResult(c.id, c.volunteerId, new Uint8Array([1]), 1, NOW, NO_RULES);
      const w = {
        shardId: shards[0]!.id, shard: { state: 'validated' as const, wanted: 2, canonicalCopyId: ca.id },
        judgements: [
          { copyId: ca.id, outcome: 'valid' as const, reason: null, credit: 0, unchecked: true },
          { copyId: cb.id, outcome: 'invalid' as const, reason: 'disagrees', credit: 0, reputation: 'invalid' as const },
        ],
        credits: [],
      };
      await store.applyValidation(w);
      await store.applyValidation(w);
      expect(await store.getCopy(ca.id)).toMatchObject({ outcome: 'valid', unchecked: true, credit: 0 });
      expect((await store.getCopy(cb.id))?.unchecked).toBeUndefined();
      expect(await store.reputations([{ volunteerId: a.id, numericClass: a.numericClass }])).toEqual([]);
      expect(await store.reputations([{ volunteerId: b.id, numericClass: b.numericClass }])).toMatchObject([{ invalid: 1, streak: 0 }]);
    });

    it('pace: per host, class and job, the fastest checked result, kept through a reopen; unchecked results and other events leave it', async () => {
      h = await harness();
      const store = await h.open();
      const key = { volunteerId: 'p', numericClass: WASM };
      const gpu = { volunteerId: 'p', numericClass: GPU };
      const paceIn = async (s: Store, jobId: string, k: typeof key) => (await s.paces(jobId, [k])).get(`${k.volunteerId}\u0000${k.numericClass}`) ?? null;
      await store.recordReputation([{ ...key, event: 'valid', seen: 800, jobId: 'j1' }], NOW);
      expect(await paceIn(store, 'j1', key)).toBe(800);
      await store.recordReputation([{ ...key, event: 'valid', seen: 300, jobId: 'j1' }, { ...key, event: 'valid', seen: 5000, jobId: 'j1' }], NOW + 1);
      // Not checked results: an error, an invalid one, a failed spot check, a valid one whose pace or job is unknown.
      await store.recordReputation([
        { ...key, event: 'error', seen: 1, jobId: 'j1' }, { ...key, event: 'invalid', seen: 1, jobId: 'j1' }, { ...key, event: 'spot-fail', seen: 1, jobId: 'j1' },
        { ...key, event: 'valid', jobId: 'j1' }, { ...key, event: 'valid', seen: 1 },
      ], NOW + 2);
      expect(await paceIn(store, 'j1', key)).toBe(300);
      expect(await store.reputations([key])).toMatchObject([{ valid: 5 }]);
      await store.recordReputation([{ ...key, event: 'spot-pass', seen: 250.5, jobId: 'j1' }], NOW + 3);
      // Per job and per class: another job, and another class, have their own pace, and none until a result there is checked.
      await store.recordReputation([{ ...key, event: 'valid', seen: 9000, jobId: 'j2' }, { ...gpu, event: 'error' }], NOW + 3);
      expect(await paceIn(store, 'j2', key)).toBe(9000);
      expect(await paceIn(store, 'j1', gpu)).toBeNull();
      await store.recordReputation([{ ...gpu, event: 'valid', seen: 40, jobId: 'j1' }], NOW + 4);
      const again = await h.open();
      expect(await again.paces('j1', [key, gpu, { volunteerId: 'q', numericClass: WASM }]))
        .toEqual(new Map([[`p\u0000${WASM}`, 250.5], [`p\u0000${GPU}`, 40]]));
      expect(await again.paces('j3', [key])).toEqual(new Map());
      // An operator's mark leaves the paces as they are.
      await again.markOperator(key, NOW + 5);
      expect(await paceIn(again, 'j1', key)).toBe(250.5);
    });

    it('a judgement carries its copy\'s pace to its host\'s pace in the copy\'s job with a valid event, once; an unchecked or solo valid result teaches nothing', async () => {
      h = await harness();
      const store = await h.open();
      const { job, shards } = await writeJob(store, { shards: 1, replicas: 3 });
      const [a, b, c] = [makeVolunteer(1), makeVolunteer(2), makeVolunteer(3)];
      const copies = [];
      for (const v of [a, b, c]) copies.push((await store.claimCopy(claimReq(v)))!.copy);
      for (const x of copies) await store.saveResult(x.id, x.volunteerId, new Uint8Array([1]), 1, NOW, NO_RULES);
      const [ca, cb, cc] = copies as [typeof copies[0], typeof copies[0], typeof copies[0]];
      const w = {
        shardId: shards[0]!.id, shard: { state: 'validated' as const, wanted: 3, canonicalCopyId: ca.id },
        judgements: [
          { copyId: ca.id, outcome: 'valid' as const, reason: null, credit: 1, reputation: 'valid' as const, seen: 700 },
          { copyId: cb.id, outcome: 'valid' as const, reason: null, credit: 1, seen: 5 },
          { copyId: cc.id, outcome: 'invalid' as const, reason: 'disagrees', credit: 0, reputation: 'invalid' as const, seen: 5 },
        ],
        credits: [],
      };
      await store.applyValidation(w);
      await store.applyValidation({ ...w, judgements: w.judgements.map((j) => ({ ...j, seen: 1 })) });
      expect(await store.reputations([a, c].map((v) => ({ volunteerId: v.id, numericClass: v.numericClass })))).toMatchObject([{ valid: 1 }, { invalid: 1 }]);
      expect(await store.paces(job.id, [a, b, c].map((v) => ({ volunteerId: v.id, numericClass: v.numericClass }))))
        .toEqual(new Map([[`${a.id}\u0000${a.numericClass}`, 700]]));
    });

    it('a claim reads a returned copy\'s pace in its job: an untrusted host may check a trusted host\'s copy at its pace, or its first in a job, never one returned far faster (kept for a trusted host)', async () => {
      h = await harness();
      const store = await h.open();
      const policy = { ...DEFAULT_TRUST, trustAfter: 2, pace: true };
      const [t, op, u] = [makeVolunteer(1), makeVolunteer(2), makeVolunteer(3)];
      await store.markOperator({ volunteerId: op.id, numericClass: op.numericClass }, NOW);
      const trust = async (v: typeof op) => ({
        policy, draw: 0.5, trustedClasses: [WASM], census: new Map([[WASM, 3]]),
        asker: (await store.reputations([{ volunteerId: v.id, numericClass: v.numericClass }]))[0] ?? null,
      });
      const { project: p, job, shards } = await writeJob(store, { shards: 2, replicas: 1 });
      const records = shards[0]!.end - shards[0]!.start;
      // Its checked copies of this job took 8 s a shard.
      const pace = 8000 / records;
      await store.recordReputation([1, 2].map(() => ({ volunteerId: t.id, numericClass: t.numericClass, event: 'valid' as const, seen: pace, jobId: job.id })), NOW);
      // Solo copies of both shards: one returned at its pace, one far faster (10 ms); each wants a second result (as
      // the judge asks of a result it does not accept alone).
      const slow = (await store.claimCopy({ ...claimReq(t), trust: await trust(t) }))!;
      expect(slow).toMatchObject({ shard: { id: shards[0]!.id }, copy: { volunteerId: t.id, solo: true } });
      expect(await store.saveResult(slow.copy.id, t.id, new Uint8Array([1]), 1, NOW + 8000, NO_RULES)).toBe('accepted');
      const fast = (await store.claimCopy({ ...claimReq(t, { now: NOW + 8001 }), trust: await trust(t) }))!;
      expect(fast).toMatchObject({ shard: { id: shards[1]!.id }, copy: { solo: true } });
      expect(await store.saveResult(fast.copy.id, t.id, new Uint8Array([1]), 1, NOW + 8011, NO_RULES)).toBe('accepted');
      for (const x of [slow, fast]) await store.applyValidation({ shardId: x.shard.id, shard: { state: 'open', wanted: 2, canonicalCopyId: null }, judgements: [], credits: [] });
      // An untrusted host checks the copy at pace; the fast one's next copy is kept for a trusted host, and the operator's host gets it.
      expect(await store.claimCopy({ ...claimReq(u, { now: NOW + 9000 }), trust: await trust(u) })).toMatchObject({ shard: { id: shards[0]!.id }, copy: { volunteerId: u.id } });
      expect(await store.claimCopy({ ...claimReq(u, { now: NOW + 9001 }), trust: await trust(u) })).toBeNull();
      expect(await store.claimCopy({ ...claimReq(op, { now: NOW + 9002 }), trust: await trust(op) })).toMatchObject({ shard: { id: shards[1]!.id }, copy: { volunteerId: op.id } });

      // Another job, where the host has no checked result yet: its copy, however fast, counts as a trusted host's
      // for the claim (its result is checked by the judge, not kept from untrusted checkers).
      const two = await writeJob(store, { shards: 1, replicas: 1, createdAt: NOW + 1 }, p);
      const first = (await store.claimCopy({ ...claimReq(t, { now: NOW + 10_000 }), trust: await trust(t) }))!;
      expect(first).toMatchObject({ shard: { id: two.shards[0]!.id }, copy: { solo: true } });
      expect(await store.saveResult(first.copy.id, t.id, new Uint8Array([1]), 1, NOW + 10_010, NO_RULES)).toBe('accepted');
      await store.applyValidation({ shardId: first.shard.id, shard: { state: 'open', wanted: 2, canonicalCopyId: null }, judgements: [], credits: [] });
      const u2 = makeVolunteer(4);
      expect(await store.claimCopy({ ...claimReq(u2, { now: NOW + 10_020 }), trust: await trust(u2) })).toMatchObject({ shard: { id: two.shards[0]!.id }, copy: { volunteerId: u2.id } });
    });
  });
}
