/**
 * The two attacks on training that both modes (synchronous rounds and local
 * steps) are tested against, with the volunteers, data and job shape that
 * make each one decisive by construction; the mode's own learning rate,
 * epochs and update format come from the test.
 */
import { expect } from 'vitest';
import type { TrainJobRequest } from '../../shared/http/client.ts';
import { mnistTrainJob, uploadMnist } from './mnist-job.ts';
import type { PerTest } from './per-test.ts';
import type { Tamper } from './volunteers.ts';
import { waitForJob } from './wait.ts';

type Mode = Pick<TrainJobRequest, 'lr' | 'epochs' | 'localSteps' | 'updateFormat'>;
type Fixture = Pick<PerTest, 'coordinator' | 'volunteers' | 'attackerFirst'>;

/** The aggregation rules, and whether training survives one attacker in five under each: the plain mean must not. */
export const AGGREGATE_RULES = [['median', true], ['trimmed-mean', true], ['mean', false]] as const;

/**
 * A liar beside three honest volunteers at replicas 2: every result it sends is judged invalid (`reason`, from its
 * first) and earns nothing, and the job still trains.
 */
export async function liarCaughtByReplication(t: Fixture, o: { tamper: Tamper; mode: Mode; reason: RegExp }): Promise<void> {
  const c = await t.coordinator();
  const up = await uploadMnist(c.api, { count: 1200 });
  t.volunteers(c, 3);
  const [liar] = t.volunteers(c, 1, o.tamper);
  const job = await c.api.createJob(mnistTrainJob(up, {
    optimizer: 'adam', batch: 64, shardsPerRound: 4, replicas: 2, evalFraction: 0.1, seed: 1, ...o.mode,
  }));
  const done = await waitForJob(c.api, job.id, 300_000);
  expect(done.state).toBe('completed');
  expect(liar!.outcomes.length).toBeGreaterThan(0);
  expect(liar!.outcomes.every((x) => x.outcome === 'invalid' && x.credit === 0)).toBe(true);
  expect(liar!.outcomes[0]!.reason).toMatch(o.reason);
  expect(done.train!.accuracy!).toBeGreaterThan(0.75);
}

/**
 * One of five volunteers lying with `tamper`, without replication, under `rule`. It claims first in every round
 * (leaderFirst) and each volunteer takes one of the round's five shards, so it computes the same shard of every
 * round in every run: what the aggregator is given, and so the accuracy, does not depend on scheduling luck.
 * `shards` and `attackerShards` are what that makes of the mode's rounds.
 */
export async function oneAttackerInFive(t: Fixture, o: {
  rule: (typeof AGGREGATE_RULES)[number][0]; converges: boolean; tamper: Tamper; mode: Mode; shards: number; attackerShards: number;
}): Promise<void> {
  const c = await t.coordinator();
  const up = await uploadMnist(c.api, { count: 2200 });
  const { attacker } = t.attackerFirst(c, o.tamper, 4);
  const job = await c.api.createJob(mnistTrainJob(up, {
    optimizer: 'adam', batch: 100, shardsPerRound: 5, replicas: 1, aggregate: o.rule, maxShardsPerVolunteer: 1, evalFraction: 0.1, seed: 2, ...o.mode,
  }));
  const done = await waitForJob(c.api, job.id, 300_000);
  expect(done.state).toBe('completed');
  expect(done.shards.total).toBe(o.shards);
  // Its last result can complete the job before the reply to its upload (what `uploaded` counts) reaches it:
  // stopping it waits for that delivery.
  await attacker.stop();
  expect(attacker.uploaded.length).toBe(o.attackerShards);
  console.info(`${o.mode.localSteps ? 'local steps, ' : ''}${o.rule}: held-out accuracy ${done.train!.accuracy} with an attacker that computed ${attacker.uploaded.length} of ${done.shards.total} shards`);
  if (o.converges) expect(done.train!.accuracy!).toBeGreaterThan(0.8);
  else expect(done.train!.accuracy!).toBeLessThan(0.5);
}
