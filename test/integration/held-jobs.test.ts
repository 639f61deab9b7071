/**
 * The coordinator's side of volunteers dropping an ended job's weights
 * (server/gateway/held-jobs.ts), with raw socket.io clients against a real
 * coordinator: `jobs:held` is checked at the edge (a precise refusal, nothing
 * followed), names the jobs that ended or are unknown, and the connections
 * that may keep a local-steps job's weights (given a copy of it, or having
 * named it) hear `jobs:ended` when it ends; others do not.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningCoordinator, startCoordinator } from '../../server/app.ts';
import { TabgridClient } from '../../shared/http/client.ts';
import type { HeldJobs } from '../../shared/protocol/events.ts';
import { MAX_HELD_JOBS } from '../../shared/protocol/schemas.ts';
import { mnistTrainJob, uploadMnist } from '../helpers/mnist-job.ts';
import { call, connect, hello, nextCopy, ok, type RawSocket } from '../helpers/raw-client.ts';

describe('volunteers told of ended jobs', () => {
  let c: RunningCoordinator;
  let api: TabgridClient;
  const sockets: RawSocket[] = [];
  const open = async () => {
    const s = await connect(c.url);
    sockets.push(s);
    return s;
  };
  /** Everything `jobs:ended` brought this socket, from now on. */
  const endedHeard = (s: RawSocket) => {
    const heard: string[][] = [];
    s.on('jobs:ended', (e: HeldJobs) => { heard.push(e.jobIds); });
    return heard;
  };

  beforeAll(async () => {
    c = await startCoordinator({ dataDir: mkdtempSync(join(tmpdir(), 'tabgrid-held-')), port: 0, host: '127.0.0.1', distinctCopies: new Set(), logLevel: 'warn' });
    api = new TabgridClient(c.url, c.token!);
  });
  afterAll(async () => {
    for (const s of sockets) s.close();
    await c?.close();
  });

  it('refuses a malformed jobs:held precisely', async () => {
    const s = await open();
    expect(await call(s, 'jobs:held', { jobIds: [] })).toEqual({ ok: false, code: 'bad_request', error: 'say hello before jobs:held' });
    await hello(s);
    const refusals: [unknown, string][] = [
      [{ jobIds: 'V0000000000000000000000' }, 'invalid jobs:held payload: jobIds: Invalid type: Expected Array but received "V0000000000000000000000"'],
      [{ jobIds: ['../etc'] }, 'invalid jobs:held payload: jobIds.0: jobIds is not a valid id'],
      [{ jobIds: Array.from({ length: MAX_HELD_JOBS + 1 }, (_, i) => `job-${String(i).padStart(4, '0')}`) }, `invalid jobs:held payload: jobIds: at most ${MAX_HELD_JOBS} jobs`],
      [{ jobIds: [], more: 1 }, 'invalid jobs:held payload: more: Invalid key: Expected never but received "more"'],
    ];
    for (const [payload, error] of refusals) expect(await call(s, 'jobs:held', payload)).toEqual({ ok: false, code: 'bad_request', error });
    // A job this coordinator never had: its weights are of no use either.
    expect((await ok(call<{ ended: string[] }>(s, 'jobs:held', { jobIds: ['never-a-job-here'] }))).ended).toEqual(['never-a-job-here']);
  });

  it('tells the connections keeping a local-steps job\'s weights when it ends, and only them', async () => {
    const up = await uploadMnist(api, { count: 64 * 2 * 2, seed: 2 });
    // Two shards in its one round, one per volunteer: the job runs until cancelled.
    const job = await api.createJob(mnistTrainJob(up, {
      optimizer: 'adam', lr: 1e-3, batch: 64, epochs: 1, shardsPerRound: 2, localSteps: 2, updateFormat: 'int8', replicas: 1,
      maxShardsPerVolunteer: 1, minFraction: 1, roundDeadlineSeconds: 3600, evalFraction: 0, seed: 2,
    }));
    const [named, given, stranger] = [await open(), await open(), await open()];
    const heard = { named: endedHeard(named), given: endedHeard(given), stranger: endedHeard(stranger) };
    for (const s of [named, given, stranger]) await hello(s);
    // `named` says it keeps the job's weights (a tab back from a reload); the job runs, so none has ended.
    expect((await ok(call<{ ended: string[] }>(named, 'jobs:held', { jobIds: [job.id] }))).ended).toEqual([]);
    // `given` takes a copy, whose weights it would keep.
    const copy = await nextCopy(given);
    expect(copy.jobId).toBe(job.id);
    expect(copy.weights).toBeDefined();
    // `stranger` neither named the job nor took a copy of it.
    expect((await ok(call<{ ended: string[] }>(stranger, 'jobs:held', { jobIds: [] }))).ended).toEqual([]);

    await api.cancel(job.id);
    for (const [name, list] of [['named', heard.named], ['given', heard.given]] as const) {
      while (list.length === 0) await new Promise((r) => setTimeout(r, 50));
      expect({ name, heard: list }).toEqual({ name, heard: [[job.id]] });
    }
    // The push to every keeper went out in one go, before this reply: had the stranger been told, it would know now.
    await ok(call(stranger, 'group:list', {}));
    expect(heard.stranger).toEqual([]);
    // Named again later (a tab that missed the push): ended.
    expect((await ok(call<{ ended: string[] }>(named, 'jobs:held', { jobIds: [job.id, job.id] }))).ended).toEqual([job.id]);
  }, 120_000);
});
