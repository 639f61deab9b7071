/** The `tabgrid` command line: serve a coordinator, lend compute, submit jobs. */
import { Command, InvalidArgumentError, Option } from 'commander';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { TabgridClient, resolveToken } from './api-client.ts';
import { moveDashIds } from './dash-ids.ts';
import { DEFAULT_CREDIT_HOLD_MS, parseHold } from '../server/core/credit/hold.ts';
import { PACKAGE_ROOT } from '../server/package-root.ts';
import { parseAddressGroups, parseProxyTrust } from '../server/core/trust/address.ts';
import { DEFAULT_ANSWER_LIMITS } from '../server/models/answer-runner.ts';
import { DEFAULT_TRUST } from '../server/core/trust/policy.ts';
import { SPOT_PAIR_WAIT_MS } from '../server/core/trust/spot-check.ts';
import { SEQUENCE_TASKS } from '../server/training/sequence-task.ts';

const pkg = JSON.parse(readFileSync(join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { version: string };

const int = (name: string, min = 1) => (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) throw new InvalidArgumentError(`${name} must be an integer >= ${min}`);
  return n;
};
const num = (name: string) => (v: string) => {
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0) throw new InvalidArgumentError(`${name} must be a number >= 0`);
  return n;
};
const collect = (v: string, prev: string[]) => [...prev, v];
const backendList = (v: string) => {
  const list = v.split(',').map((s) => s.trim()).filter(Boolean);
  const bad = list.find((b) => b !== 'webgpu' && b !== 'wasm');
  if (bad !== undefined || list.length === 0) throw new InvalidArgumentError(`--backends takes webgpu, wasm or both (comma-separated), got ${JSON.stringify(v)}`);
  return list as ('webgpu' | 'wasm')[];
};
/** A parser from server/core whose error becomes commander's InvalidArgumentError, so commander names the option. */
const asOption = <V, T>(parse: (v: V) => T) => (v: V): T => {
  try { return parse(v); } catch (e) { throw new InvalidArgumentError((e as Error).message); }
};
const holdOption = asOption(parseHold);
// The bare flag is commander's preset `true`, which goes through the parser too.
const proxyTrustOption = asOption(parseProxyTrust);
const spotFractionOption = (v: string) => {
  const n = Number(v);
  if (!(n >= 0 && n <= 0.5)) throw new InvalidArgumentError(`--spot-checks takes a fraction from 0 to 0.5 (0.05: one request in twenty); got ${JSON.stringify(v)}`);
  return n;
};
const spotPairOption = (v: string) => {
  const n = Number(v);
  if (v.trim() === '' || !(n >= 0 && n <= 86_400)) throw new InvalidArgumentError(`--spot-pair-seconds takes seconds from 0 to 86400 (how long a known answer's first copy waits for a second host; 0: known answers go out singly); got ${JSON.stringify(v)}`);
  return n;
};
// The trust policy's knobs (server/core/trust/policy.ts): each refused with the flag's name and range.
const trustAfterOption = (v: string) => {
  const n = Number(v);
  if (!/^\s*\d+\s*$/.test(v) || !(n >= 1 && n <= 1_000_000)) throw new InvalidArgumentError(`--trust-after takes an integer from 1 to 1000000 (consecutive valid results in a numeric class before a host is trusted; 10: BOINC's default); got ${JSON.stringify(v)}`);
  return n;
};
const minReplicateOption = (v: string) => {
  const n = Number(v);
  if (v.trim() === '' || !(n > 0 && n <= 1)) throw new InvalidArgumentError(`--min-replicate-probability takes a probability above 0 and at most 1 (a trusted host's copy is still replicated at least this often; 1: always); got ${JSON.stringify(v)}`);
  return n;
};
const classQuorumOption = (v: string) => {
  const n = Number(v);
  if (!/^\s*\d+\s*$/.test(v) || !(n >= 1 && n <= 1000)) throw new InvalidArgumentError(`--class-quorum takes an integer from 1 to 1000 (distinct hosts that must share a numeric class before it is honoured); got ${JSON.stringify(v)}`);
  return n;
};
const addressGroupsOption = asOption(parseAddressGroups);
// Words, not a boolean: the operator reads which way copies go out (server/core/trust/policy.ts oneCopyAtATime).
const COPIES = { 'one-at-a-time': true, together: false } as const;
const copiesOption = (v: string): boolean => {
  if (!Object.hasOwn(COPIES, v)) throw new InvalidArgumentError(`--copies takes one-at-a-time or together (whether a replicated inference shard's next copy waits for its copy in flight to come back); got ${JSON.stringify(v)}`);
  return COPIES[v as keyof typeof COPIES];
};
const paceOption = (v: string) => {
  if (v !== 'on' && v !== 'off') throw new InvalidArgumentError(`--pace takes on or off (whether a trusted host's inference result far faster than its checked pace is judged as an untrusted host's); got ${JSON.stringify(v)}`);
  return v === 'on';
};
const ownReviewsOption = (v: string) => {
  if (v !== 'on' && v !== 'off') throw new InvalidArgumentError(`--own-reviews takes on or off (whether the coordinator's own computation settles the reviews no operator host is working on); got ${JSON.stringify(v)}`);
  return v === 'on';
};
/** A duration: seconds, or a number with s, m, h or d. */
const duration = (name: string) => (v: string) => {
  const m = /^(\d+(?:\.\d+)?)([smhd]?)$/.exec(v.trim());
  const n = m ? Number(m[1]) * { '': 1, s: 1, m: 60, h: 3600, d: 86_400 }[m[2] as '' | 's' | 'm' | 'h' | 'd'] : NaN;
  if (!Number.isFinite(n) || n < 1) throw new InvalidArgumentError(`${name} takes a duration of at least 1 s, like 90, 90s, 30m, 2h or 1d; got ${JSON.stringify(v)}`);
  return Math.round(n);
};
/** --tag key=value, repeatable: a job's labels. */
const tagOption = (v: string, prev: Record<string, string> = {}) => {
  const m = /^([^=]+)=(.*)$/.exec(v);
  if (!m) throw new InvalidArgumentError(`--tag takes key=value, got ${JSON.stringify(v)}`);
  return { ...prev, [m[1]!]: m[2]! };
};
const priorityOption = (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < -1000 || n > 1000) throw new InvalidArgumentError('--priority must be an integer in -1000..1000');
  return n;
};
const out = (json: boolean, data: unknown, text: string) => process.stdout.write(json ? `${JSON.stringify(data)}\n` : text);
const DEFAULT_SERVER = process.env.TABGRID_SERVER ?? 'http://127.0.0.1:8080';

const program = new Command('tabgrid')
  .description('A volunteer compute grid made of browser tabs: ONNX inference and training, cross-checked and credited.')
  .version(pkg.version);

// Every serve flag is also an environment variable (--max-result-mb: TABGRID_MAX_RESULT_MB), for
// systemd units and containers; a flag on the command line wins over the variable.
const SERVE_ENV_NAMES: Record<string, string> = { '--postgres': 'TABGRID_POSTGRES_URL' };
function serveOption(flags: string, description: string, parseOrDefault?: unknown, defaultValue?: unknown): Option {
  const o = new Option(flags, description);
  o.env(SERVE_ENV_NAMES[o.long!] ?? `TABGRID_${o.long!.slice(2).replaceAll('-', '_').toUpperCase()}`);
  if (typeof parseOrDefault === 'function') {
    o.argParser(parseOrDefault as (v: string) => unknown);
    if (defaultValue !== undefined) o.default(defaultValue);
  } else if (parseOrDefault !== undefined) {
    o.default(parseOrDefault);
  }
  return o;
}

program.command('serve')
  .description('run a coordinator (HTTP API, socket.io, contributor app) on an embedded SQLite database')
  .addOption(serveOption('--port <n>', 'port to listen on', int('--port', 0), 8080))
  .addOption(serveOption('--host <addr>', 'address to bind', '0.0.0.0'))
  .addOption(serveOption('--data <dir>', 'data directory (SQLite file, blobs, token)', 'data'))
  .addOption(serveOption('--postgres <url>', 'keep state in PostgreSQL instead of SQLite, shared by several coordinators; blobs stay in --data'))
  .addOption(serveOption('--distinct-copies <rules>', 'copies of one shard never share these: wallet,address or none', 'wallet,address'))
  .addOption(serveOption('--max-result-mb <n>', 'largest result upload, MiB', num('--max-result-mb'), 16))
  .addOption(serveOption('--max-upload-mb <n>', 'largest HTTP upload (model, input), MiB', num('--max-upload-mb'), 512))
  .addOption(serveOption('--upload-budget-mb <n>', 'socket uploads in flight on all connections together, MiB; a connection past it is dropped', num('--upload-budget-mb'), 256))
  .addOption(serveOption('--hello-upload-kb <n>', 'bytes a connection may send at once while it holds no copy (a stranger, or a volunteer that only said hello), KiB', num('--hello-upload-kb'), 64))
  .addOption(serveOption('--disconnect-grace <s>', 'seconds a disconnected volunteer has to come back before its copies are reissued', num('--disconnect-grace'), 20))
  .addOption(serveOption('--public-url <url>', 'URL users reach this coordinator at'))
  .addOption(serveOption('--trust-proxy [proxies]', 'behind reverse proxies: bare, one proxy directly in front (the client is the last X-Forwarded-For entry); with addresses/CIDRs (or loopback), the client is the first X-Forwarded-For hop from the right that is not one of them', proxyTrustOption).preset(true))
  .addOption(serveOption('--address-groups <v4/N,v6/M>', 'the distinct-copies address rule counts clients in one IPv4 /N or IPv6 /M network as one address', addressGroupsOption, 'v4/24,v6/64'))
  .addOption(serveOption('--log-level <level>', 'pino log level', 'info'))
  .addOption(serveOption('--consent-hours <h>', 'how long an embed remembers a visitor\'s consent (at most 720 = 30 days)', num('--consent-hours'), 24))
  .addOption(serveOption('--credit-hold <duration>', 'how long credit stays pending (spot checks may still reverse it) before it is payable: 24h, 30m, 90s, 0', holdOption, DEFAULT_CREDIT_HOLD_MS))
  .addOption(serveOption('--spot-checks <fraction>', 'fraction of work requests answered with a copy of a shard whose answer is known (0 to 0.5; 0: none); a host that fails one loses its trust and its unreplicated results are recomputed', spotFractionOption, 0.05))
  .addOption(serveOption('--spot-pair-seconds <s>', 'how long a known answer\'s first copy waits for another host\'s spot check, which then gets the same shard (a careful group holding both copies of a shard may be holding a trap); 0: known answers go out singly', spotPairOption, SPOT_PAIR_WAIT_MS / 1000))
  .addOption(serveOption('--trust-after <results>', 'consecutive valid results (per host and numeric class) before a host is trusted: its copies may then stand alone (1 to 1000000)', trustAfterOption, DEFAULT_TRUST.trustAfter))
  .addOption(serveOption('--min-replicate-probability <p>', 'a trusted host\'s copy is replicated with probability 1/streak, never below this (above 0, at most 1; 1: every copy replicated)', minReplicateOption, DEFAULT_TRUST.minReplicateProbability))
  .addOption(serveOption('--class-quorum <hosts>', 'a numeric class is honoured (kept apart for homogeneous jobs) only once this many distinct hosts share it (1 to 1000)', classQuorumOption, DEFAULT_TRUST.classQuorum))
  .addOption(serveOption('--copies <one-at-a-time|together>', 'how a replicated inference shard\'s copies go out: one-at-a-time, the next only once the last has come back (whoever holds one answers before anyone holds another, so friends comparing input bytes never know they hold every copy; a replicated shard takes two compute times end to end), or together (both at once)', copiesOption, 'one-at-a-time'))
  .addOption(serveOption('--pace <on|off>', 'the pace rule: a trusted host\'s inference result more than 4 times faster than its fastest checked result in the same job is judged as an untrusted host\'s, and its first result in a job does not stand alone', paceOption, 'on'))
  .addOption(serveOption('--known-answer-seconds <s>', 'longest the coordinator\'s own computation of a shard (known answers for spot checks, one worker thread) may take; 0: it computes none (only shards validated by agreement serve as known answers)', num('--known-answer-seconds'), 30))
  .addOption(serveOption('--own-reviews <on|off>', 'the coordinator\'s own computation (the --known-answer-seconds thread, while idle) settles reviews of a caught host\'s agreed results that no operator host is working on; off: only operator hosts (worker --operator-token) settle them', ownReviewsOption, 'on'))
  .addOption(serveOption('--model-check-seconds <s>', 'longest a submitted model\'s check (load, shapes, FLOPs) may take; it runs on a worker thread', num('--model-check-seconds'), 20))
  .addOption(serveOption('--model-check-mb <n>', 'most memory a submitted model\'s check may take, MiB', num('--model-check-mb'), 1024))
  .addOption(serveOption('--demo', 'on first start, create the MNIST training demo that visitors train by opening the page'))
  .addOption(serveOption('--demo-replicas <r>', 'replicas for the demo job (1 lets a single tab train it)', int('--demo-replicas'), 1))
  .action(async (o) => {
    const { parseDistinctRules } = await import('../server/core/scheduler/eligibility.ts');
    const { startCoordinator } = await import('../server/app.ts');
    const distinctCopies = parseDistinctRules(o.distinctCopies);
    if (o.consentHours > 720) throw new InvalidArgumentError('--consent-hours: consent is remembered at most 30 days (720 hours), never forever');
    if (distinctCopies.size === 0) {
      process.stderr.write('tabgrid: --distinct-copies none: copies of a shard may go to one wallet or one address (fine on one machine, not for an open grid)\n');
    }
    const c = await startCoordinator({
      port: o.port, host: o.host, dataDir: o.data, distinctCopies, logLevel: o.logLevel,
      ...(o.postgres ? { postgresUrl: o.postgres } : {}),
      maxResultBytes: Math.round(o.maxResultMb * 1024 * 1024), maxUploadBytes: Math.round(o.maxUploadMb * 1024 * 1024),
      uploadBudgetBytes: Math.round(o.uploadBudgetMb * 1024 * 1024), unhelloedUploadBytes: Math.round(o.helloUploadKb * 1024),
      demo: !!o.demo, demoReplicas: o.demoReplicas, consentMaxHours: o.consentHours, creditHoldMs: o.creditHold,
      modelCheck: { timeMs: Math.round(o.modelCheckSeconds * 1000), memoryMb: Math.round(o.modelCheckMb) },
      spotCheckFraction: o.spotChecks, spotPairWaitMs: Math.round(o.spotPairSeconds * 1000), trust: { trustAfter: o.trustAfter, minReplicateProbability: o.minReplicateProbability, classQuorum: o.classQuorum, oneCopyAtATime: o.copies === true || o.copies === 'one-at-a-time', pace: o.pace === true || o.pace === 'on' },
      knownAnswers: { ...DEFAULT_ANSWER_LIMITS, timeMs: Math.round(o.knownAnswerSeconds * 1000) }, ownReviews: o.ownReviews === true || o.ownReviews === 'on',
      trustProxy: o.trustProxy ?? false, addressGroups: typeof o.addressGroups === 'string' ? addressGroupsOption(o.addressGroups) : o.addressGroups, disconnectGraceMs: Math.round(o.disconnectGrace * 1000), ...(o.publicUrl ? { publicUrl: o.publicUrl } : {}),
    });
    process.stderr.write(`tabgrid: coordinator at ${c.url} (contributor app at ${c.url}/)\n`);
    const shutdown = async () => { await c.close(); process.exit(0); };
    process.on('SIGINT', shutdown);
    process.on('SIGTERM', shutdown);
  });

program.command('worker')
  .description('lend compute: volunteers in this process (--node) or in headless Chromium tabs (--tabs)')
  .option('--node <n>', 'volunteers running onnxruntime-web (WASM) in Node', int('--node'))
  .option('--tabs <n>', 'headless Chromium tabs of the contributor page', int('--tabs'))
  .option('--server <url>', 'coordinator URL', DEFAULT_SERVER)
  .addOption(new Option('--backend <b>', 'backend for --tabs').choices(['webgpu', 'wasm']))
  .option('--wallet <addr>', 'EVM address to credit')
  .option('--operator-token <t>', 'with --node: the coordinator\'s operator token (<data>/operator-token): these are the operator\'s own hosts, the root of trust, trusted from their first result')
  .option('--intensity <d>', 'fraction of time computing, 0.05..1', num('--intensity'), 1)
  .option('--join <code>', 'join a private project\'s group with its invite code (or link); repeat for several', collect, [])
  .action(async (o) => {
    if (!o.node && !o.tabs) throw new InvalidArgumentError('give --node N or --tabs N');
    const { inviteCodeOf } = await import('./commands/worker-node.ts');
    const join: string[] = (o.join as string[]).map((c) => {
      const code = inviteCodeOf(c);
      if (!code) throw new InvalidArgumentError(`--join: ${JSON.stringify(c)} is not an invite code (tgi_ and 32 letters, digits, - or _) nor a link with ?join=`);
      return code;
    });
    if (o.operatorToken && !o.node) throw new InvalidArgumentError('--operator-token goes with --node (the operator\'s own hosts)');
    if (o.wallet) {
      const { walletProblem } = await import('../shared/wallet.ts');
      const problem = walletProblem(o.wallet);
      if (problem) throw new InvalidArgumentError(`--wallet: ${problem}`);
    }
    if (o.node) {
      const { startNodeVolunteers } = await import('./commands/worker-node.ts');
      let done = 0;
      const w = startNodeVolunteers({
        server: o.server, count: o.node, wallet: o.wallet, intensity: o.intensity, join, operatorToken: o.operatorToken,
        joined: (i, r) => process.stderr.write(r.ok ? `volunteer ${i}: in project ${r.project}'s group${r.already ? '' : ' (joined now)'}\n` : `volunteer ${i}: cannot join: ${r.error}\n`),
        hooks: (i) => ({
          hello: (r) => process.stderr.write(`volunteer ${i}: ${r.volunteerId} crediting ${r.account}\n${r.notice ? `volunteer ${i}: ${r.notice}\n` : ''}`),
          uploaded: () => { done++; },
          outcome: (x) => { if (x.outcome !== 'valid') process.stderr.write(`volunteer ${i}: copy ${x.copyId} ${x.outcome}: ${x.reason ?? ''}\n`); },
          error: (m) => process.stderr.write(`volunteer ${i}: ${m}\n`),
        }),
      });
      const t = setInterval(() => process.stderr.write(`tabgrid worker: ${o.node} volunteers, ${done} results uploaded\n`), 30_000);
      t.unref();
      const shutdown = async () => { await w.stop(); process.exit(0); };
      process.on('SIGINT', shutdown);
      process.on('SIGTERM', shutdown);
    }
    if (o.tabs) {
      const { runTabWorkers } = await import('./commands/worker-tabs.ts');
      const ac = new AbortController();
      process.on('SIGINT', () => ac.abort());
      process.on('SIGTERM', () => ac.abort());
      await runTabWorkers({ tabs: o.tabs, server: o.server, backend: o.backend, wallet: o.wallet, join, signal: ac.signal });
    }
  });

/** What `infer` and `train` both take after their own options: the job's metadata, the token, and how to follow it. */
function submitOptions(cmd: Command): Command {
  return cmd
    .option('--deadline <duration>', 'fail the job if it has not finished this long after submission (90, 30m, 2h, 1d)', duration('--deadline'))
    .option('--name <name>', 'what to call the job (shown in tabgrid jobs, status and the dashboard)')
    .option('--tag <key=value>', 'a label for the job; repeat for several', tagOption)
    .option('--priority <p>', 'within the project, shards of higher-priority jobs go out first (-1000..1000, default 0)', priorityOption)
    .option('--token <t>', 'project API token (or TABGRID_TOKEN, or ./data/token)')
    .option('--quiet', 'no progress bar (the job id is still printed)')
    .option('--no-wait', 'submit, print the job id and return; follow it with `tabgrid status`')
    .option('--retry-for <s>', 'submitting and following, wait out a coordinator that is away this long (seconds)', num('--retry-for'), 300)
    .option('--idempotency-key <key>', 'the submission\'s Idempotency-Key (default: a new one): running the command again with the same key finds the same job, never a second one')
    .option('--json', 'print the result as one JSON object on stdout');
}

submitOptions(program.command('infer')
  .description('run an ONNX model over inputs on the grid; writes one file per graph output')
  .requiredOption('--model <file>', 'ONNX model')
  .option('--input <[name=]file>', '.npy or .pb input; repeat for several (unnamed bind in graph order)', collect, [])
  .requiredOption('--out <dir>', 'directory for output_0.pb, output_1.pb, ...')
  .option('--server <url>', 'coordinator URL', DEFAULT_SERVER)
  .option('--shard-size <k>', 'records per shard', int('--shard-size'))
  .option('--replicas <r>', 'copies that must agree per shard', int('--replicas'))
  .option('--rtol <x>', 'relative tolerance for float outputs', num('--rtol'))
  .option('--atol <y>', 'absolute tolerance for float outputs', num('--atol'))
  .option('--lease-seconds <s>', 'lease per copy before it is reissued', int('--lease-seconds'))
  .option('--backends <list>', 'backends that may compute it: webgpu,wasm (default: any that computes the model right)', backendList)
  .addOption(new Option('--format <f>', 'output file format').choices(['pb', 'npy']).default('pb')))
  .action(async (o) => {
    const { infer } = await import('./commands/infer.ts');
    process.exitCode = await infer({ ...o, token: resolveToken(o.token) });
  });

submitOptions(program.command('train')
  .description('train a model on the grid: generated ONNX gradient graphs, data-parallel rounds, a trained model out')
  .option('--model <file>', 'forward ONNX model; its float initializers are the parameters')
  .option('--data <file>', 'inputs, batch on axis 0 (.npy or .pb)')
  .option('--labels <file>', 'int64 class ids [N] (or [N, T] for a sequence, -100 where unscored) for cross-entropy, or float targets shaped like the output for mse')
  .addOption(new Option('--task <task>', 'instead of --model, --data and --labels: a built-in seeded task (reverse: a small causal transformer reverses digit sequences; held-out accuracy is exact match)').choices([...SEQUENCE_TASKS]))
  .option('--digits <n>', '--task: digits in a question (default 6)', int('--digits'))
  .option('--records <n>', '--task: distinct sequences to generate (default 5000; --eval-fraction of them held out)', int('--records'))
  .option('--width <n>', '--task: transformer width (default 64)', int('--width'))
  .option('--layers <n>', '--task: transformer layers (default 2)', int('--layers'))
  .option('--heads <n>', '--task: attention heads (default 4)', int('--heads'))
  .requiredOption('--out <dir>', 'directory for model.onnx and history.json')
  .addOption(new Option('--loss <l>', 'loss').choices(['cross-entropy', 'mse']).default('cross-entropy'))
  .addOption(new Option('--optimizer <o>', 'optimizer').choices(['sgd', 'adam']).default('adam'))
  .option('--lr <x>', 'learning rate', num('--lr'))
  .option('--batch <n>', 'global batch per round', int('--batch'))
  .option('--epochs <n>', 'epochs', int('--epochs'))
  .option('--shards-per-round <n>', 'shards each round\'s batch splits into', int('--shards-per-round'))
  .option('--replicas <r>', 'copies that must agree per shard', int('--replicas'))
  .addOption(new Option('--aggregate <rule>', 'gradient (or, with local steps, parameter change) aggregation').choices(['mean', 'trimmed-mean', 'median']))
  .option('--local-steps <h>', 'inner optimizer steps per shard, on the volunteer (1 = synchronous rounds); the coordinator then takes an outer Nesterov step', int('--local-steps'))
  .addOption(new Option('--update-format <f>', 'how volunteers send parameter changes (local steps): fp32, or fp16 / int8 with per-block scales and error feedback').choices(['fp32', 'fp16', 'int8']))
  .option('--outer-lr <x>', 'outer learning rate (local steps; default 0.7)', num('--outer-lr'))
  .option('--outer-momentum <x>', 'outer Nesterov momentum (local steps; default 0.9)', num('--outer-momentum'))
  .addOption(new Option('--lr-schedule <s>', 'the volunteers\' inner lr over the run (local steps): cosine (default; warm-up, then decay to 0) or constant').choices(['constant', 'cosine']))
  .option('--lr-warmup <f>', 'share of the run\'s inner steps the cosine schedule warms up over (local steps; default 0.05)', num('--lr-warmup'))
  .addOption(new Option('--weights-format <f>', 'full weights sent to a volunteer with no usable version (local steps; others get the round\'s change in the update format): fp32 or fp16').choices(['fp32', 'fp16']))
  .option('--weight-decay <x>', 'weight decay of the optimizer (AdamW\'s decoupled decay with adam)', num('--weight-decay'))
  .option('--min-fraction <f>', 'share of a round\'s shards that closes it once its deadline passed (stragglers dropped)', num('--min-fraction'))
  .option('--round-deadline <s>', 'seconds a round waits for stragglers before closing with --min-fraction', int('--round-deadline'))
  .option('--eval-fraction <f>', 'held out, never trained on', num('--eval-fraction'))
  .option('--seed <n>', 'shuffling and split seed', int('--seed', 0))
  .option('--target-accuracy <a>', 'stop once held-out accuracy reaches this', num('--target-accuracy'))
  .option('--server <url>', 'coordinator URL', DEFAULT_SERVER))
  .action(async (o) => {
    const { train } = await import('./commands/train.ts');
    process.exitCode = await train({ ...o, token: resolveToken(o.token) });
  });

/**
 * --server, then --token unless `token` is false, then --json where `json` says what it prints: the options
 * of the commands that read or change a project's jobs on a coordinator.
 */
function apiOptions(cmd: Command, o: { token?: string | false; json?: string }): Command {
  cmd.option('--server <url>', 'coordinator URL', DEFAULT_SERVER);
  if (o.token !== false) cmd.option('--token <t>', o.token ?? 'project API token');
  if (o.json) cmd.option('--json', `print ${o.json} as JSON`);
  return cmd;
}

apiOptions(program.command('status')
  .description('show a job\'s progress, and why it waits if it does')
  .argument('<job>', 'job id'), { json: 'the job\'s status' })
  .action(async (job, o) => {
    const s = await new TabgridClient(o.server, resolveToken(o.token)).job(job);
    const { statusText } = await import('./status-text.ts');
    out(!!o.json, s, statusText(s));
  });

apiOptions(program.command('jobs')
  .description('list the project\'s jobs, newest first'), { json: 'the list' })
  .action(async (o) => {
    const { jobs } = await new TabgridClient(o.server, resolveToken(o.token)).jobs();
    const { jobsTable } = await import('./status-text.ts');
    out(!!o.json, { jobs }, jobsTable(jobs));
  });

apiOptions(program.command('cancel')
  .description('cancel a running job (its copies in flight are dropped, nothing more is credited for it)')
  .argument('<job>', 'job id'), { json: 'the outcome' })
  .action(async (job, o) => {
    const api = new TabgridClient(o.server, resolveToken(o.token));
    await api.cancel(job);
    const s = await api.job(job);
    out(!!o.json, { job, state: s.state }, `job ${job} ${s.state}\n`);
  });

apiOptions(program.command('results')
  .description('download a completed job\'s outputs')
  .argument('<job>', 'job id')
  .requiredOption('--out <dir>', 'directory for the output files')
  .addOption(new Option('--format <f>', 'output file format').choices(['pb', 'npy']).default('pb')), { json: 'the files written' })
  .action(async (job, o) => {
    const api = new TabgridClient(o.server, resolveToken(o.token));
    const status = await api.job(job);
    let written: string[];
    if (status.kind === 'train') {
      const { downloadTrained } = await import('./commands/train.ts');
      written = await downloadTrained(api, job, o.out);
    } else {
      const { downloadOutputs } = await import('./commands/infer.ts');
      written = await downloadOutputs(api, job, o.out, o.format);
    }
    out(!!o.json, { job, files: written }, `${written.join('\n')}\n`);
  });

apiOptions(program.command('ledger')
  .description('credit balances (GFLOP of validated work) per account'), { token: false, json: 'the balances' })
  .action(async (o) => {
    const res = await fetch(new URL('/api/v1/ledger', o.server));
    const { accounts } = await res.json() as { accounts: { account: string; balance: number; copies: number }[] };
    out(!!o.json, { accounts }, accounts.length === 0 ? 'no credit granted yet\n'
      : accounts.map((a) => `${a.account.padEnd(52)} ${a.balance.toFixed(6).padStart(16)}  (${a.copies} valid copies)\n`).join(''));
  });

apiOptions(program.command('payout')
  .description('operator: close a payout epoch over every wallet\'s payable credit and write its Merkle root and proofs'),
  { token: 'the operator token (default: TABGRID_OPERATOR_TOKEN, then ./data/operator-token)' })
  .requiredOption('--out <dir>', 'where to write epoch.json, tree.json and proofs.json')
  .option('--epoch <id>', 'write an epoch already closed instead of closing a new one')
  .action(async (o) => {
    const { payout } = await import('./commands/payout.ts');
    const { resolveOperatorToken } = await import('./commands/project.ts');
    await payout({ server: o.server, token: resolveOperatorToken(o.token, 'data'), out: o.out, ...(o.epoch ? { epoch: o.epoch } : {}) });
  });

const weightOption = (v: string) => {
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0.01 || n > 10_000) throw new InvalidArgumentError('--weight must be a number in 0.01..10000');
  return n;
};
const project = program.command('project').description('operator: projects (names, descriptions, fair-share weights) and their API tokens');
const operatorCommand = (c: Command) => apiOptions(c, { token: false })
  .option('--operator-token <t>', 'the operator token (or TABGRID_OPERATOR_TOKEN, or <--data>/operator-token)')
  .option('--data <dir>', 'the coordinator\'s data directory, to read operator-token from', 'data')
  .option('--json', 'print the reply as JSON');
const operator = async (o: { server: string; operatorToken?: string; data: string }) => {
  const { OperatorClient, resolveOperatorToken } = await import('./commands/project.ts');
  return new OperatorClient(o.server, resolveOperatorToken(o.operatorToken, o.data));
};
const tokenLine = (r: { project: string; token: string; tokenId: string }) =>
  `project ${r.project}: API token ${r.token}\n(token id ${r.tokenId}; shown once, the coordinator keeps only its hash)\n`;

operatorCommand(project.command('create').description('create a project; prints its first API token (shown once)').argument('<name>', 'project name (letters, digits, . _ -)'))
  .option('--description <text>', 'what the project computes, shown on its public page')
  .option('--weight <w>', 'share of the swarm relative to other projects with work (default 1)', weightOption)
  .option('--max-in-flight <n>', 'most copies of its shards in flight at once (0: no cap)', int('--max-in-flight', 0))
  .option('--private', 'a private swarm: its jobs go only to volunteers who joined its group with an invite (tabgrid project invite create)')
  .action(async (name, o) => {
    const r = await (await operator(o)).create({
      name, ...(o.description !== undefined ? { description: o.description } : {}), ...(o.weight !== undefined ? { weight: o.weight } : {}),
      ...(o.maxInFlight !== undefined ? { maxInFlight: o.maxInFlight } : {}), ...(o.private ? { private: true } : {}),
    });
    out(!!o.json, r, tokenLine({ project: r.project.name, token: r.token, tokenId: r.tokenId })
      + (r.project.private ? `private swarm: invite volunteers with tabgrid project invite create ${r.project.name}\n` : ''));
  });
operatorCommand(project.command('list').description('the coordinator\'s projects, their weights and tokens'))
  .action(async (o) => {
    const { projectsTable } = await import('./commands/project.ts');
    const r = await (await operator(o)).list();
    out(!!o.json, r, projectsTable(r.projects));
  });
operatorCommand(project.command('show').description('a project\'s settings and tokens').argument('<name>'))
  .action(async (name, o) => {
    const { projectText } = await import('./commands/project.ts');
    const r = await (await operator(o)).show(name);
    out(!!o.json, r, projectText(r));
  });
operatorCommand(project.command('set').description('change a project\'s description, weight, cap or privacy').argument('<name>'))
  .option('--description <text>', 'what the project computes')
  .option('--weight <w>', 'share of the swarm relative to other projects with work', weightOption)
  .option('--max-in-flight <n>', 'most copies in flight at once (0: no cap)', int('--max-in-flight', 0))
  .option('--private', 'make it a private swarm: its jobs go only to volunteers in its group')
  .option('--public', 'make it public again: its jobs go to any volunteer')
  .action(async (name, o) => {
    const { projectText } = await import('./commands/project.ts');
    if (o.private && o.public) throw new InvalidArgumentError('give --private or --public, not both');
    const r = await (await operator(o)).update(name, {
      ...(o.description !== undefined ? { description: o.description } : {}), ...(o.weight !== undefined ? { weight: o.weight } : {}),
      ...(o.maxInFlight !== undefined ? { maxInFlight: o.maxInFlight } : {}),
      ...(o.private ? { private: true } : o.public ? { private: false } : {}),
    });
    out(!!o.json, r, projectText(r));
  });
operatorCommand(project.command('delete').description('delete a project (refused while its jobs run); its tokens stop working').argument('<name>'))
  .action(async (name, o) => {
    const r = await (await operator(o)).delete(name);
    out(!!o.json, r, `project ${r.project} deleted\n`);
  });
const token = project.command('token').description('a project\'s API tokens: several per project, each revocable');
operatorCommand(token.command('create').description('issue another token for the project (one per submitter)').argument('<name>', 'project name'))
  .option('--label <text>', 'who or what the token is for')
  .action(async (name, o) => {
    const r = await (await operator(o)).createToken(name, o.label);
    out(!!o.json, r, tokenLine(r));
  });
operatorCommand(token.command('rotate').description('issue a new token and revoke every other token of the project').argument('<name>', 'project name'))
  .action(async (name, o) => {
    const r = await (await operator(o)).rotate(name);
    out(!!o.json, r, `${tokenLine(r)}revoked: ${r.revoked.join(', ') || 'none'}\n`);
  });
operatorCommand(token.command('revoke').description('revoke one token (refused at once, on every coordinator)').argument('<name>', 'project name').argument('<token-id>', 'the token\'s id (tabgrid project show NAME)'))
  .action(async (name, tokenId, o) => {
    const r = await (await operator(o)).revoke(name, tokenId);
    out(!!o.json, r, `project ${r.project}: revoked ${r.revoked.join(', ')}\n`);
  });

// Private swarms: a project's invite codes and group, with the project's token (--token) or the operator's.
const groupCommand = (c: Command) => operatorCommand(c).option('--token <t>', 'the project\'s own API token instead of the operator token');
const groupClient = async (o: { server: string; operatorToken?: string; data: string; token?: string }) => {
  const { GroupClient, resolveOperatorToken } = await import('./commands/project.ts');
  return new GroupClient(o.server, o.token ?? resolveOperatorToken(o.operatorToken, o.data));
};
const invite = project.command('invite').description('a private project\'s invite codes: volunteers join its group with one (worker --join CODE, or the link)');
groupCommand(invite.command('create').description('a new invite code and its link (shown once)').argument('<name>', 'project name'))
  .option('--label <text>', 'who the invite is for')
  .action(async (name, o) => {
    const { inviteText } = await import('./commands/project.ts');
    const r = await (await groupClient(o)).createInvite(name, o.label);
    out(!!o.json, r, inviteText(r));
  });
groupCommand(invite.command('list').description('the project\'s invites (never the codes) and how many joined by each').argument('<name>', 'project name'))
  .action(async (name, o) => {
    const { invitesTable } = await import('./commands/project.ts');
    const r = await (await groupClient(o)).invites(name);
    out(!!o.json, r, invitesTable(r));
  });
groupCommand(invite.command('revoke').description('revoke an invite: nobody joins by it, and those who did are out of the group at once')
  .argument('<name>', 'project name').argument('<invite-id>', 'the invite\'s id (tabgrid project invite list NAME)'))
  .action(async (name, id, o) => {
    const r = await (await groupClient(o)).revokeInvite(name, id);
    out(!!o.json, r, `project ${r.project}: invite ${r.invite.id} revoked\n`);
  });
const member = project.command('member').description('a private project\'s group: who joined, and removing them');
groupCommand(member.command('list').description('everyone who joined the project\'s group, and where each stands').argument('<name>', 'project name'))
  .action(async (name, o) => {
    const { membersTable } = await import('./commands/project.ts');
    const r = await (await groupClient(o)).members(name);
    out(!!o.json, r, membersTable(r.members));
  });
groupCommand(member.command('remove').description('remove a volunteer from the group: none of the project\'s work from its next request on')
  .argument('<name>', 'project name').argument('<volunteer-id>', 'the volunteer\'s id (tabgrid project member list NAME)'))
  .action(async (name, volunteer, o) => {
    const r = await (await groupClient(o)).removeMember(name, volunteer);
    out(!!o.json, r, `project ${r.project}: volunteer ${r.member.volunteerId} removed from the group\n`);
  });

const operatorCmd = program.command('operator').description('the coordinator\'s operator credential');
operatorCmd.command('token').description('the operator token').command('reset')
  .description('make a new operator token when the old one is lost or leaked (the old one is refused at once); needs the coordinator\'s data directory')
  .option('--data <dir>', 'the coordinator\'s data directory', 'data')
  .option('--postgres <url>', 'the coordinator\'s PostgreSQL, when it keeps state there (or TABGRID_POSTGRES_URL)')
  .action(async (o) => {
    const { resetOperatorToken } = await import('./commands/operator.ts');
    const postgresUrl = o.postgres ?? process.env.TABGRID_POSTGRES_URL;
    const r = await resetOperatorToken({ dataDir: o.data, ...(postgresUrl ? { postgresUrl } : {}) });
    process.stdout.write(`operator token ${r.token}\n(saved to ${r.file}, readable by you only; the old token no longer works)\n`);
  });

// Only where a job id is an operand: elsewhere such a token stays the unknown option it is.
const jobCommand = program.commands.find((c) => c.name() === process.argv[2] && c.registeredArguments.some((a) => a.name() === 'job'));
const argv = jobCommand ? moveDashIds(process.argv, new Set(jobCommand.options.filter((o) => o.required || o.optional).map((o) => o.long!))) : process.argv;

program.parseAsync(argv).catch((e: Error) => {
  process.stderr.write(`tabgrid: ${e.message}\n`);
  process.exit(1);
});
