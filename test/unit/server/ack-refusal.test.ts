/**
 * Why an acknowledgement is refused, as the copy is when it is refused: the
 * work service reads the copy, then asks the store to acknowledge it, and
 * the copy may move in between (a result that overtook the ack returns it,
 * the reconciler expires it). The service runs against a real SQLite store;
 * the move is put between the read and the write by construction (the
 * store's ackCopy makes it first), never by timing.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { BlobStore } from '../../../server/blobs/blob-store.ts';
import { DEFAULT_CONFIG } from '../../../server/config.ts';
import { CoordinatorEvents } from '../../../server/services/events.ts';
import type { JobService } from '../../../server/services/job-service.ts';
import type { KindWorks } from '../../../server/services/kinds.ts';
import { WorkError, WorkService } from '../../../server/services/work-service.ts';
import { SqliteStore } from '../../../server/store/sqlite/sqlite-store.ts';
import type { Store, Volunteer } from '../../../server/store/types.ts';
import { bytes, claimReq, makeJob, makeProject, makeVolunteer, NO_RULES } from '../store/contract.ts';

describe('a refused acknowledgement', () => {
  let dir: string;
  let store: SqliteStore;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'tabgrid-ack-'));
    store = new SqliteStore(join(dir, 'tabgrid.sqlite'));
  });
  afterEach(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** A work service on the store, whose ackCopy first runs `between` (what happens after the service read the copy). */
  function serviceWith(between: () => Promise<unknown>): WorkService {
    const racing = new Proxy(store, {
      get(target, prop) {
        if (prop === 'ackCopy') return async (...a: Parameters<Store['ackCopy']>) => { await between(); return target.ackCopy(...a); };
        const v = Reflect.get(target, prop, target) as unknown;
        return typeof v === 'function' ? (v as (...x: unknown[]) => unknown).bind(target) : v;
      },
    });
    // ack uses the store alone: the job service, kinds and blobs are never reached.
    return new WorkService(racing, null as unknown as JobService, {} as KindWorks, new CoordinatorEvents(),
      { ...DEFAULT_CONFIG, dataDir: dir, clientDir: dir }, pino({ level: 'silent' }), { blobs: null as unknown as BlobStore, runner: null });
  }

  async function heldCopy() {
    const p = makeProject();
    await store.createProject(p);
    const { job, shards } = makeJob(p.id, { shards: 1, replicas: 2 });
    await store.createJob(job, shards);
    const v = makeVolunteer(1);
    const { copy } = (await store.claimCopy(claimReq(v, { rules: NO_RULES, now: Date.now() })))!;
    return { v, copy, session: { volunteer: v as unknown as Volunteer } };
  }

  async function refusal(work: WorkService, session: { volunteer: Volunteer }, copyId: string): Promise<WorkError> {
    const err = await work.ack(session, copyId).then(() => null, (e: unknown) => e);
    expect(err).toBeInstanceOf(WorkError);
    return err as WorkError;
  }

  it('says the copy was returned when its result overtook the ack, not that it is assigned', async () => {
    const { v, copy, session } = await heldCopy();
    const work = serviceWith(() => store.saveResult(copy.id, v.id, bytes(1, 2, 3), 1, Date.now(), NO_RULES));
    const err = await refusal(work, session, copy.id);
    expect(err.code).toBe('conflict');
    expect(err.message).toBe(`copy ${copy.id} can no longer be acknowledged: it is returned`);
    // The refusal changed nothing: the result stands.
    expect(await store.getCopy(copy.id)).toMatchObject({ state: 'returned', outcome: 'pending' });
  });

  it('says the copy expired, and why, when the reconciler took it back in between', async () => {
    const { copy, session } = await heldCopy();
    const work = serviceWith(() => store.expireCopies(copy.deadline + 1, NO_RULES));
    const err = await refusal(work, session, copy.id);
    const now = (await store.getCopy(copy.id))!;
    expect(now.state).toBe('expired');
    expect(now.reason).toEqual(expect.any(String));
    expect(err.message).toBe(`copy ${copy.id} can no longer be acknowledged: it is expired (${now.reason})`);
  });
});
