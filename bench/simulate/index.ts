/**
 * `npm run simulate`: thousands of simulated volunteers, honest and cheating,
 * against the coordinator's real decision code (see coordinator.ts), one
 * run per cheater strategy and share f in {1, 10, 35} % plus an honest
 * swarm. Prints a table per strategy and share, and as the very last line
 * one JSON object with every figure. Fixed seed: the same flags print the
 * same figures.
 *
 * Flags: --quick (300 volunteers, 3,000 counted shards), --volunteers N,
 * --shards N (counted per run), --warmup N, --seed N, --strategies a,b,
 * --shares 1,10,35 (percent), --hold 15m (simulated credit hold),
 * --replicas R, --spot-fraction Q, --trust-after N; to compare with a rule
 * off: --copies-together, --no-voiding, --no-reviews, --no-pace; --no-honest
 * leaves out the honest swarm's run.
 */
import cliProgress from 'cli-progress';
import { parseHold } from '../../server/core/credit/hold.ts';
import { parseDistinctRules } from '../../server/core/scheduler/eligibility.ts';
import { DEFAULT_TRUST, trustPolicy } from '../../server/core/trust/policy.ts';
import { Flags } from '../lib/flags.ts';
import { table } from '../lib/stats.ts';
import { STRATEGIES, STRATEGY_NOTES, type Strategy } from './strategies.ts';
import { type CellFigures, type Progress, simulate } from './world.ts';

const FLAGS = ['quick', 'volunteers', 'shards', 'warmup', 'seed', 'strategies', 'shares', 'hold', 'replicas', 'spot-fraction', 'trust-after', 'no-reviews', 'no-voiding', 'no-pace', 'copies-together', 'pair-wait', 'no-honest'];

const flags = new Flags(process.argv.slice(2));
const unknown = flags.unknown(FLAGS);
if (unknown.length) {
  process.stderr.write(`simulate: unknown flag${unknown.length > 1 ? 's' : ''} ${unknown.map((f) => `--${f}`).join(', ')}\n`);
  process.exit(2);
}
const quick = flags.has('quick');
const volunteers = flags.int('volunteers', quick ? 300 : 2000);
const shards = flags.int('shards', quick ? 3000 : 100_000);
const warmup = flags.int('warmup', 10 * volunteers);
const seed = flags.int('seed', 13);
const strategies = (flags.list('strategies') ?? [...STRATEGIES]) as Strategy[];
const bad = strategies.filter((s) => !STRATEGIES.includes(s));
if (bad.length) {
  process.stderr.write(`simulate: --strategies names no strategy ${bad.join(', ')}; strategies are ${STRATEGIES.join(', ')}\n`);
  process.exit(2);
}
const shares = (flags.list('shares') ?? ['1', '10', '35']).map(Number);
if (shares.some((s) => !(s > 0 && s < 100))) {
  process.stderr.write('simulate: --shares takes percentages in (0, 100), e.g. 1,10,35\n');
  process.exit(2);
}
const holdMs = parseHold(flags.string('hold') ?? '15m');
const policy = trustPolicy({
  ...(flags.has('spot-fraction') ? { spotCheckFraction: flags.number('spot-fraction', DEFAULT_TRUST.spotCheckFraction) } : {}),
  ...(flags.has('trust-after') ? { trustAfter: flags.int('trust-after', DEFAULT_TRUST.trustAfter) } : {}),
  // --copies-together: a replicated shard's copies issued at once (before one copy at a time), to compare.
  ...(flags.has('copies-together') ? { oneCopyAtATime: false } : {}),
  // --no-pace: the pace rule off (pace.ts; on by default, as in the coordinator: TrustPolicy.pace), to compare.
  ...(flags.has('no-pace') ? { pace: false } : {}),
});
const replicas = flags.int('replicas', 2);

const base = {
  seed, volunteers, operators: Math.max(2, Math.round(volunteers / 100)), shards, warmup, policy, replicas,
  rules: parseDistinctRules('wallet,address'), holdMs, computeMs: 20_000, fastMs: 1_000, idleMs: 5_000,
  backlog: 2 * volunteers, stallMs: 600_000,
  // --no-reviews: without backtracking that follows agreement (review.ts), to compare.
  reviews: !flags.has('no-reviews'),
  voiding: !flags.has('no-voiding'),
  ...(flags.has('pair-wait') ? { pairWaitMs: flags.number('pair-wait', 60) * 1000 } : {}),
};

// --no-honest: only the cheaters' runs (a long run split per strategy need not repeat the honest swarm each time).
const cells: { strategy: Strategy | 'honest'; share: number }[] = flags.has('no-honest') ? [] : [{ strategy: 'honest', share: 0 }];
for (const s of strategies) for (const f of shares) cells.push({ strategy: s, share: f / 100 });

const log = (line: string) => process.stdout.write(`${line}\n`);
log(`simulate: ${volunteers} volunteers (${base.operators} run by the operator), ${shards.toLocaleString('en')} counted shards per run after ${warmup.toLocaleString('en')} warm-up shards, seed ${seed}`);
log(`  replicas ${replicas}, trust after ${policy.trustAfter} valid in a row, replicate trusted copies with p = max(${policy.minReplicateProbability}, 1/streak), spot checks ${policy.spotCheckFraction * 100} % of requests, credit hold ${holdMs / 60_000} min simulated`);
log(`  honest copy ${base.computeMs / 1000} s (each host 0.5-1.5x), fast cheater ${base.fastMs / 1000} s; ${cells.length} runs`);

const bar = process.stderr.isTTY
  ? new cliProgress.SingleBar({ format: 'simulate [{bar}] {percentage}% | {cell} | {phase} | ETA {eta_formatted}', hideCursor: true }, cliProgress.Presets.shades_classic)
  : null;
bar?.start(cells.length * shards, 0, { cell: '', phase: '' });
const results: CellFigures[] = [];
const t0 = performance.now();
const n = (x: number) => Math.round(x).toLocaleString('en');
const clock = (ms: number) => `${Math.floor(ms / 3600_000)}:${String(Math.floor(ms / 60_000) % 60).padStart(2, '0')}:${String(Math.floor(ms / 1000) % 60).padStart(2, '0')}`;
/** What the run is doing, in words: which phase, how far, and how much simulated time has passed. */
const phaseText = (p: Progress) => `${p.phase === 'warm-up' ? `warm-up: ${n(p.done)}/${n(p.total)} shards validated`
  : p.phase === 'counted' ? `${n(p.done)}/${n(p.total)} counted shards final`
    : `credit hold of the last counted shard: ${clock(p.done)} of ${clock(p.total)}`}, ${clock(p.simulatedMs)} simulated`;
for (const [i, cell] of cells.entries()) {
  const name = `${cell.strategy} f=${Math.round(cell.share * 100)}% (run ${i + 1}/${cells.length})`;
  let lastLine = performance.now();
  bar?.update(i * shards, { cell: name, phase: 'starting' });
  const r = simulate({
    ...base, ...cell,
    onProgress: (p) => {
      bar?.update(i * shards + p.final, { cell: name, phase: phaseText(p) });
      // Without a terminal (CI, a pipe): a line every 30 s instead of the bar.
      if (!bar && performance.now() - lastLine > 30_000) {
        lastLine = performance.now();
        process.stderr.write(`simulate: ${name}: ${phaseText(p)}\n`);
      }
    },
  });
  results.push(r);
  bar?.update((i + 1) * shards, { cell: name, phase: 'done' });
  if (!bar) process.stderr.write(`simulate: ${name} done (${Math.round((performance.now() - t0) / 1000)} s since the start)\n`);
}
bar?.stop();

const fmt = (x: number, d = 2) => (Number.isInteger(x) ? String(x) : x.toFixed(d));
log('');
log(table(
  ['strategy', 'f', 'wrong /100k', 'ever wrong /100k', 'failed', 'stalled', 'copies/shard', 'lies paid %', 'cheater paid %', 'caught %', 'lies to catch', 's to catch', 'reviews', 'overturned', 'root backlog max/end', 'reopened at end', 'voided', 'framed'],
  results.map((r) => [
    r.strategy, `${Math.round(r.share * 100)}%`, fmt(r.wrongPer100k, 1), fmt(r.everWrongPer100k, 1), String(r.failed), String(r.stalled), fmt(r.copiesPerShard, 3),
    fmt(r.liesPaidPct), fmt(r.cheaterPaidPct), fmt(r.caughtPct, 1), fmt(r.liesBeforeCaught, 0), fmt(r.secondsToCatch, 0),
    String(r.reviews), String(r.overturned), `${r.rootBacklogMax}/${r.rootBacklogEnd}`, String(r.reopenedAtEnd), String(r.voided), String(r.framed),
  ]),
));
log('');
for (const s of strategies) log(`  ${s}: ${STRATEGY_NOTES[s]}`);
log(`(${Math.round((performance.now() - t0) / 1000)} s)`);
const honest = results.find((r) => r.strategy === 'honest');
log(JSON.stringify({
  seed, volunteers, shards, warmup, holdMs, policy, replicas,
  honestCopiesPerShard: honest?.copiesPerShard ?? null,
  runs: results,
}));
