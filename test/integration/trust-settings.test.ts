/**
 * The trust policy as an operator sets it (`tabgrid serve --trust-after`,
 * `--min-replicate-probability`, `--class-quorum`, `--copies`, or their environment
 * variables), against a real coordinator and real volunteers: a bad value
 * is refused at start, naming the flag and its range, and creates nothing;
 * a good one is what the coordinator trusts by.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { encodeTensors } from '../../shared/tensor/codec.ts';
import { tensorFromTyped } from '../../shared/tensor/tensor.ts';
import { CLI, REPO, spawnCoordinator, type SpawnedCoordinator } from '../helpers/coordinator.ts';
import { scrape } from '../helpers/metrics.ts';
import { mlpModel, randomInput } from '../helpers/onnx-builder.ts';
import { startVolunteer, type TestVolunteer } from '../helpers/volunteers.ts';
import { waitForJob } from '../helpers/wait.ts';

const run = promisify(execFile);

describe('trust policy settings', () => {
  const cleanup: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const f of cleanup.splice(0).reverse()) await f().catch(() => {});
  });

  it('refuses a bad value at start, naming the flag (or its variable) and the accepted range, and creates nothing', async () => {
    const cases: { args: string[]; env?: Record<string, string>; says: string }[] = [
      { args: ['--trust-after', '0'], says: '--trust-after takes an integer from 1 to 1000000 (consecutive valid results in a numeric class before a host is trusted; 10: BOINC\'s default); got "0"' },
      { args: ['--trust-after', '2.5'], says: '--trust-after takes an integer from 1 to 1000000' },
      { args: [], env: { TABGRID_TRUST_AFTER: 'ten' }, says: 'from env \'TABGRID_TRUST_AFTER\' is invalid. --trust-after takes an integer from 1 to 1000000' },
      { args: ['--min-replicate-probability', '0'], says: '--min-replicate-probability takes a probability above 0 and at most 1 (a trusted host\'s copy is still replicated at least this often; 1: always); got "0"' },
      { args: ['--min-replicate-probability', '1.5'], says: '--min-replicate-probability takes a probability above 0 and at most 1' },
      { args: [], env: { TABGRID_MIN_REPLICATE_PROBABILITY: '-1' }, says: 'from env \'TABGRID_MIN_REPLICATE_PROBABILITY\' is invalid. --min-replicate-probability takes a probability above 0 and at most 1' },
      { args: ['--class-quorum', '0'], says: '--class-quorum takes an integer from 1 to 1000 (distinct hosts that must share a numeric class before it is honoured); got "0"' },
      { args: [], env: { TABGRID_CLASS_QUORUM: '3x' }, says: 'from env \'TABGRID_CLASS_QUORUM\' is invalid. --class-quorum takes an integer from 1 to 1000' },
      { args: ['--own-reviews', 'maybe'], says: '--own-reviews takes on or off (whether the coordinator\'s own computation settles the reviews no operator host is working on); got "maybe"' },
      { args: [], env: { TABGRID_OWN_REVIEWS: 'yes' }, says: 'from env \'TABGRID_OWN_REVIEWS\' is invalid. --own-reviews takes on or off' },
      { args: ['--copies', 'both'], says: '--copies takes one-at-a-time or together (whether a replicated inference shard\'s next copy waits for its copy in flight to come back); got "both"' },
      { args: [], env: { TABGRID_COPIES: 'true' }, says: 'from env \'TABGRID_COPIES\' is invalid. --copies takes one-at-a-time or together' },
      { args: ['--pace', 'yes'], says: '--pace takes on or off (whether a trusted host\'s inference result far faster than its checked pace is judged as an untrusted host\'s); got "yes"' },
    ];
    for (const c of cases) {
      const data = join(mkdtempSync(join(tmpdir(), 'tabgrid-trust-flags-')), 'never');
      const r = await run(process.execPath, [CLI, 'serve', '--port', '0', '--host', '127.0.0.1', '--data', data, ...c.args], { cwd: REPO, env: { ...process.env, ...c.env } })
        .then(() => ({ code: 0, stderr: '' }), (e: { code: number; stderr: string }) => e);
      expect(r.code, c.says).toBe(1);
      expect(r.stderr).toContain(c.says);
      expect(existsSync(data)).toBe(false);
    }
  }, 120_000);

  it('--trust-after 3: an honest --node volunteer is trusted after its third valid result, not its tenth', async () => {
    const c: SpawnedCoordinator = await spawnCoordinator({ args: ['--trust-after', '3'] });
    cleanup.push(() => c.stop());
    const listening = await c.waitForLog((l) => l.msg === 'coordinator listening');
    expect(listening.trust).toEqual({ trustAfter: 3, minReplicateProbability: 0.05, spotCheckFraction: 0, classQuorum: 3, oneCopyAtATime: true, pace: true });
    const operatorToken = readFileSync(join(c.dataDir, 'operator-token'), 'utf8').trim();
    const volunteer = (o: Parameters<typeof startVolunteer>[1] = {}): TestVolunteer => {
      const v = startVolunteer(c.url, o);
      cleanup.push(() => v.stop());
      return v;
    };
    // Replicas 3 never stand alone, and copies of a shard go to three different volunteers: every shard's three
    // copies are the two operator hosts' and the honest volunteer's, so it computes each shard beside two trusted results.
    volunteer({ operatorToken });
    volunteer({ operatorToken });
    const honest = volunteer();
    await expect.poll(() => c.logs.filter((l) => l.msg === 'volunteer joined').length, { timeout: 60_000 }).toBe(3);
    const honestId = String(c.logs.find((l) => l.msg === 'volunteer joined' && l.operator === false)!.volunteer);

    const records = 20;
    const model = mlpModel({ width: 8, layers: 2, seed: 21 });
    const x = tensorFromTyped('float32', [records, 8], randomInput(records, 8, 21));
    const job = await c.api.createJob({
      model: await c.api.uploadBlob(model), inputs: [{ blob: await c.api.uploadBlob(encodeTensors([{ name: 'x', ...x }])), format: 'tensors' }],
      shardSize: 4, replicas: 3,
    });
    expect((await waitForJob(c.api, job.id, 180_000)).state).toBe('completed');
    // Five shards, five valid results: the default (10) would never have trusted it.
    const trusted = c.logs.filter((l) => l.msg === 'host trusted: its streak of valid results reached trustAfter in this numeric class; its copies may now stand alone');
    expect(trusted).toHaveLength(1);
    expect(trusted[0]).toMatchObject({ volunteer: honestId, streak: 3, trustAfter: 3, class: expect.stringMatching(/^wasm\//) });
    // Each outcome reaches the volunteer after its judgement, perhaps after the job completed.
    await expect.poll(() => honest.outcomes.filter((o) => o.outcome === 'valid').length, { timeout: 30_000 }).toBe(5);

    const m = await scrape(c.url);
    expect(m('tabgrid_hosts_trusted_total')).toBe(1);
    // Replicas 3: nothing stood alone, every copy was replicated.
    expect(m('tabgrid_copies_issued_total', { replication: 'solo' })).toBe(0);
    expect(m('tabgrid_copies_issued_total', { replication: 'replicated' })).toBeGreaterThanOrEqual(15);
    expect(m('tabgrid_hosts_lost_trust_total', { reason: 'invalid' })).toBe(0);
    expect(m('tabgrid_spot_checks_total', { event: 'issued' })).toBe(0);
  }, 240_000);
});
