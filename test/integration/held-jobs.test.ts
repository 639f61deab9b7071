/**
 * The coordinator's side of volunteers dropping an ended job's weights
 * (server/gateway/held-jobs.ts), with raw socket.io clients against a real
 * coordinator: `jobs:held` is checked at the edge (a precise refusal, nothing
 * followed), names the jobs that ended or are unknown, and the connections
 * that may keep a local-steps job's weights (given a copy of it, or having
 * named it) hear `jobs:ended` when it ends; others do not. A connection that
 * names a job of a project it may not compute for (a private project whose
 * group it is not in, another project than its embed's) is answered as for an
 * unknown id and never told when that job ends: it learns nothing of it.
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningCoordinator, startCoordinator } from '../../server/app.ts';
import { TabgridClient } from '../../shared/http/client.ts';
import type { HeldJobs } from '../../shared/protocol/events.ts';
import { MAX_HELD_JOBS } from '../../shared/protocol/schemas.ts';
import { encodeTensors } from '../../shared/tensor/codec.ts';
import { tensorFromTyped } from '../../shared/tensor/tensor.ts';
import { mnistTrainJob, uploadMnist } from '../helpers/mnist-job.ts';
import { mlpModel, randomInput } from '../helpers/onnx-builder.ts';
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

  it('answers a job of a project the connection may not serve as an unknown id, and never tells it when that job ends', async () => {
    const operator = new TabgridClient(c.url, readFileSync(join(c.config.dataDir, 'operator-token'), 'utf8').trim());
    /** A project with one running inference job that no one computes here (nobody asks for work). */
    const projectWithJob = async (name: string, isPrivate: boolean) => {
      const made = await operator.createProject({ name, private: isPrivate });
      const own = new TabgridClient(c.url, made.token);
      const model = await own.uploadBlob(mlpModel({ width: 8, layers: 1, seed: 5 }));
      const input = await own.uploadBlob(encodeTensors([{ name: 'x', ...tensorFromTyped('float32', [8, 8], randomInput(8, 8, 5)) }]));
      const job = await own.createJob({ model, inputs: [{ name: 'x', blob: input, format: 'tensors' }], shardSize: 8, replicas: 1 });
      return { id: made.project.id, api: own, job: job.id };
    };
    const lab = await projectWithJob('held-lab', true);
    const pub = await projectWithJob('held-pub', false);
    const { code } = await lab.api.createInvite(lab.id);

    const [member, stranger, embed, anyone] = [await open(), await open(), await open(), await open()];
    const heard = { member: endedHeard(member), stranger: endedHeard(stranger), embed: endedHeard(embed), anyone: endedHeard(anyone) };
    for (const s of [member, stranger, anyone]) await hello(s);
    // An embed of the local project computes for it alone.
    await hello(embed, { projectId: c.projectId });
    await ok(call(member, 'group:join', { code }));

    const held = async (s: RawSocket, jobIds: string[]) => (await ok(call<{ ended: string[] }>(s, 'jobs:held', { jobIds }))).ended;
    // Those who may compute the jobs follow them: running, so none ended.
    expect(await held(member, [lab.job])).toEqual([]);
    expect(await held(anyone, [pub.job])).toEqual([]);
    // The stranger hears of the private job exactly what it hears of an id never made; so does the embed of both jobs.
    expect(await held(stranger, [lab.job, 'never-a-job-here'])).toEqual([lab.job, 'never-a-job-here']);
    expect(await held(embed, [pub.job, lab.job, 'never-a-job-here'])).toEqual([pub.job, lab.job, 'never-a-job-here']);

    await lab.api.cancel(lab.job);
    await pub.api.cancel(pub.job);
    for (const [name, list, job] of [['member', heard.member, lab.job], ['anyone', heard.anyone, pub.job]] as const) {
      while (list.length === 0) await new Promise((r) => setTimeout(r, 50));
      expect({ name, heard: list }).toEqual({ name, heard: [[job]] });
    }
    // Each job's push to all its keepers went out in one go, before these replies: had the others been told, they would know now.
    for (const s of [stranger, embed]) await ok(call(s, 'group:list', {}));
    expect({ stranger: heard.stranger, embed: heard.embed }).toEqual({ stranger: [], embed: [] });
  }, 120_000);
});
