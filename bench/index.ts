/**
 * `npm run bench`: runs every benchmark section in turn, prints each one's
 * readable report, and as the very last line one JSON object merging the
 * figures of all sections (for scripts and CI graphs to parse).
 *
 * Flags: --quick (short run), --only coordinator,claim,browser,training,transformer,startup,uploads (a subset,
 * in this order), plus each section's own; see bench/coordinator.ts
 * (--clients, --rounds, --window SECONDS, --idle, --job-shards, --profile),
 * bench/browser.ts (--browser-rounds, --browser-window SECONDS,
 * --first-shard-trials, --profile: the tab page's main thread), bench/training.ts (--train-batch, --train-rounds,
 * --train-repeats), bench/training-modes.ts (--modes-records, --modes-epochs, --modes-h, --modes-target,
 * --link-mbit, --link-rtt-ms; --train-modes-only skips bench/training.ts; the transformer task, also alone as
 * --only transformer: --transformer-records, --transformer-epochs, --transformer-digits, --transformer-width,
 * --transformer-target, --transformer-modes local for the local-steps half alone), bench/startup.ts (--startup-trials) and
 * bench/uploads.ts (--uploads-sockets, --uploads-mib, --uploads-against DIR, --uploads-hello), bench/claim.ts
 * (--claim-shards, --claim-requests, --claim-windows, --claim-against DIR). `--only local-runs`
 * (never run by default) replays local-steps transformer runs in-process, suspect by suspect (bench/local-steps-runs.ts).
 * Benchmarks print figures; they never pass or fail on them. A section whose
 * own integrity check fails sets a non-zero exit code.
 */
import { BROWSER_FLAGS, browserBench } from './browser.ts';
import { CLAIM_FLAGS, claimBench } from './claim.ts';
import { COORDINATOR_FLAGS, coordinatorBench } from './coordinator.ts';
import { Flags } from './lib/flags.ts';
import { STARTUP_FLAGS, startupBench } from './startup.ts';
import { TRAINING_FLAGS, trainingBench } from './training.ts';
import { TRAINING_MODES_FLAGS, TRANSFORMER_FLAGS, trainingModesBench, transformerModesBench } from './training-modes.ts';
import { UPLOADS_FLAGS, uploadsBench } from './uploads.ts';
import { LOCAL_RUNS_FLAGS, localRunsBench } from './local-steps-runs.ts';

type Figures = Record<string, number | boolean | string | null>;

interface Section {
  name: string;
  /** Flags the section reads, besides --quick and --only. */
  flags: readonly string[];
  /** Runs only when --only names it. */
  optIn?: boolean;
  run(flags: Flags, log: (line: string) => void): Promise<Figures>;
}

/** Add sections here; their figure names must not collide (the merge below refuses duplicates). */
const SECTIONS: Section[] = [
  { name: 'coordinator', flags: COORDINATOR_FLAGS, run: async (f, log) => ({ ...await coordinatorBench(f, log) }) },
  { name: 'claim', flags: CLAIM_FLAGS, run: async (f, log) => ({ ...await claimBench(f, log) }) },
  { name: 'browser', flags: BROWSER_FLAGS, run: async (f, log) => ({ ...await browserBench(f, log) }) },
  // --train-modes-only skips the data-parallel scaling runs (bench/training.ts) and runs only sync vs local steps,
  // on MNIST and on the transformer task (which --only transformer runs alone).
  { name: 'training', flags: [...TRAINING_FLAGS, ...TRAINING_MODES_FLAGS, ...TRANSFORMER_FLAGS, 'train-modes-only'], run: async (f, log) => ({
    ...(f.has('train-modes-only') ? {} : await trainingBench(f, log)),
    ...await trainingModesBench(f, log),
    ...(f.list('only')?.includes('transformer') ? {} : await transformerModesBench(f, log)),
  }) },
  { name: 'transformer', flags: [...TRANSFORMER_FLAGS, 'modes-h', 'link-mbit', 'link-rtt-ms'], run: async (f, log) => ({ ...await transformerModesBench(f, log) }) },
  // Not run by default: local-steps transformer runs replayed in-process, suspect by suspect (bench/local-steps-runs.ts).
  { name: 'local-runs', optIn: true, flags: [...LOCAL_RUNS_FLAGS, 'transformer-digits', 'transformer-width', 'modes-h'], run: async (f, log) => ({ ...await localRunsBench(f, log) }) },
  { name: 'startup', flags: STARTUP_FLAGS, run: async (f, log) => ({ ...await startupBench(f, log) }) },
  { name: 'uploads', flags: UPLOADS_FLAGS, run: async (f, log) => ({ ...await uploadsBench(f, log) }) },
];

const flags = new Flags(process.argv.slice(2));
const unknown = flags.unknown(['quick', 'only', ...SECTIONS.flatMap((s) => s.flags)]);
if (unknown.length) {
  process.stderr.write(`bench: unknown flag${unknown.length > 1 ? 's' : ''} ${unknown.map((f) => `--${f}`).join(', ')}\n`);
  process.exit(2);
}
const only = flags.list('only');
const unknownSections = only?.filter((n) => !SECTIONS.some((s) => s.name === n)) ?? [];
if (unknownSections.length) {
  process.stderr.write(`bench: --only names no section ${unknownSections.join(', ')}; sections are ${SECTIONS.map((s) => s.name).join(', ')}\n`);
  process.exit(2);
}
const log = (line: string) => process.stdout.write(`${line}\n`);
const merged: Figures = {};
for (const s of SECTIONS) {
  if (only ? !only.includes(s.name) : s.optIn) continue;
  log(`== ${s.name} ==`);
  const t0 = performance.now();
  const figures = await s.run(flags, log);
  log(`(${s.name}: ${Math.round((performance.now() - t0) / 1000)} s)`);
  log('');
  for (const [k, v] of Object.entries(figures)) {
    if (k in merged) throw new Error(`figure ${k} reported by two sections`);
    merged[k] = v;
  }
}
log(JSON.stringify(merged));
