/**
 * The contributor app in headless Chromium against onnxruntime-web alone,
 * side by side in one browser and one run:
 *
 * 1. Shard throughput of one contributor tab (WASM) computing a real
 *    coordinator's job against a raw loop of `session.run` on the same model
 *    and shard inputs, in a page of the same browser loading the same built
 *    onnxruntime-web assets (dist/client/assets) in a dedicated worker, as the
 *    tab's compute worker does. The model is an MLP of 8 MatMul+Relu layers,
 *    1024 wide (8.4 M parameters, 32 MiB), on shards of 128 records (512 KiB
 *    in, 512 KiB out): about 2.1 GFLOP, some 100 ms of compute per shard, so
 *    compute dominates and the ratio shows what the app adds per shard
 *    (socket round trip with the result and the next copy, IndexedDB writes
 *    of the copy in hand and of the result, tensor copies between page and
 *    worker). The tab's rate is read from the coordinator's SQLite file: the
 *    `returned_at` of its accepted results inside the window (replicas 1, so
 *    each accepted result is a validated shard), as (n - 1) / (last - first).
 * 2. The raw loop with onnxruntime-web's WASM backend on 2 threads against 1,
 *    in a cross-origin isolated page (this bench's page server sends
 *    COOP/COEP, as the coordinator does).
 * 3. Time to the first shard for a new visitor (fresh browser context: no
 *    HTTP cache, no IndexedDB model cache) and for the same visitor coming
 *    back (the same context, a new page): from the start of navigation of an
 *    `?autostart=1` page to the first result the coordinator accepted.
 *
 * The tab, the raw 1-thread and the raw 2-thread loops take turns, one at a
 * time (the tab is stopped with its Stop button while a raw loop runs), in
 * an order that reverses every round (tab, raw1, raw2 / raw2, raw1, tab), so
 * the windows compared are always adjacent: each ratio is taken within a
 * round, and the figure is the median of the rounds' ratios. Rates are
 * medians over the rounds. Besides rates, each window records the CPU time of
 * every Chromium process (by role) and of the coordinator per shard or run,
 * and for the tab its page's main-thread task time: on a shared 2-core machine
 * CPU time per unit moves less with other people's load than rates do.
 *
 * The contributor tab runs WASM on one thread here: its page is cross-origin
 * isolated, but it takes half the cores (navigator.hardwareConcurrency 2), so
 * the raw loop it is compared with runs on one thread too.
 */
import Database from 'better-sqlite3';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism as cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ApiClient } from '../cli/api-client.ts';
import { encodeNpy } from '../shared/tensor/npy.ts';
import { tensorFromTyped } from '../shared/tensor/tensor.ts';
import {
  contributorUrl, countBlobRequests, ensureClientBuilt, launchChromium, ortAssets, waitForStatus, watchPage,
} from '../test/e2e/browser.ts';
import { REPO, type SpawnedCoordinator, spawnCoordinator } from '../test/helpers/coordinator.ts';
import { mlpModel, randomInput } from '../test/helpers/onnx-builder.ts';
import type { BrowserContext, Page } from 'playwright-core';
import type { Flags } from './lib/flags.ts';
import { startPageServer } from '../test/helpers/page-server.ts';
import { logWireBytes } from '../test/e2e/wire-bytes.ts';
import type { TabgridStatus } from '../client/app/test-hook.ts';
import { BareTab } from './lib/bare-tab.ts';
import { summariseProfiles } from './lib/cpuprofile.ts';
import { cpuMsNow, rolesPer } from './lib/proc-cpu.ts';
import { median, round, table } from './lib/stats.ts';
import { sleep } from './lib/clients.ts';
import { type CoordinatorDb, remainingCopies, sqliteDb } from './lib/queue.ts';

export const BROWSER_FLAGS = ['browser-rounds', 'browser-window', 'first-shard-trials', 'profile'] as const;

export interface BrowserFigures {
  tab_vs_raw_session_ratio: number;
  tab_shards_per_s: number;
  raw_session_runs_per_s: number;
  tab_compute_ms_per_shard: number;
  raw_session_ms_per_run: number;
  tab_chromium_cpu_ms_per_shard: number;
  tab_main_thread_ms_per_shard: number;
  raw_chromium_cpu_ms_per_run: number;
  threads_vs_single_ratio: number;
  raw_2_threads_runs_per_s: number;
  first_shard_new_ms: number;
  first_shard_cached_ms: number;
  first_shard_new_from_start_ms: number;
  first_shard_cached_from_start_ms: number;
  first_visit_bytes_before_start: number;
  first_shard_bytes_new: number;
  first_shard_bytes_returning: number;
  model_bytes: number;
  browser_rounds: number;
  browser_window_s: number;
}

const WIDTH = 1024;
const LAYERS = 8;
const RECORDS_PER_SHARD = 128;
/** Shards per job: 32 MiB of input, uploaded once and shared by every job. */
const JOB_SHARDS = 64;

type Log = (line: string) => void;
type Side = 'tab' | 'raw1' | 'raw2';

interface RawInit { initMs: number; isolated: boolean; threads: number; hardwareConcurrency: number; ortVersion: string }
interface RawRun { runs: number; ms: number; times: number[] }
interface Window {
  side: Side; round: number; perS: number; msPerUnit: number; counterPerS: number; units: number;
  /** CPU ms per shard (tab) or per run (raw) of all Chromium processes, and of the coordinator's process. */
  browserCpuMs: number; coordCpuMs: number;
  /** Chromium CPU ms per unit by process role. */
  roles: Record<string, number>;
  /** The tab page's main-thread task time per shard (CDP Performance TaskDuration); NaN for raw windows. */
  mainThreadMs: number;
}
interface FirstShard { ready: number; running: number; computed: number; uploaded: number; blobRequests: number }

export async function browserBench(flags: Flags, log: Log): Promise<BrowserFigures> {
  const quick = flags.has('quick');
  const rounds = flags.int('browser-rounds', quick ? 2 : 3);
  const windowMs = flags.number('browser-window', quick ? 3 : 5) * 1000;
  const trials = flags.int('first-shard-trials', quick ? 2 : 3);
  const warmupMs = quick ? 1000 : 2000;
  // The tab page's main thread is CPU-profiled over the first tab window (perturbs that window a little).
  const profile = flags.has('profile');

  const work = mkdtempSync(join(tmpdir(), 'tabgrid-bench-browser-'));
  const cleanup: (() => Promise<void> | void)[] = [() => rmSync(work, { recursive: true, force: true })];
  try {
    await ensureClientBuilt();
    // A private copy of onnxruntime's built assets: another test's `vite build` empties dist/client mid-run.
    const { dir: assets, js: ortJs, wasm: ortWasm } = ortAssets();
    const assetCopy = join(work, 'assets');
    mkdirSync(assetCopy);
    // The bundle imports chunks it shares with the plain WASM build (rolldown's runtime): every script comes along.
    for (const n of [...readdirSync(assets).filter((f) => f.endsWith('.js')), ortWasm]) copyFileSync(join(assets, n), join(assetCopy, n));

    const model = mlpModel({ width: WIDTH, layers: LAYERS, seed: 5 });
    const x = randomInput(JOB_SHARDS * RECORDS_PER_SHARD, WIDTH, 17);
    const input = encodeNpy(tensorFromTyped('float32', [JOB_SHARDS * RECORDS_PER_SHARD, WIDTH], x));
    const gflop = (2 * RECORDS_PER_SHARD * WIDTH * WIDTH * LAYERS) / 1e9;
    log(`browser bench: MLP ${LAYERS} × (MatMul ${WIDTH}×${WIDTH} + Relu), ${round(model.byteLength / 2 ** 20)} MiB; shards of ${RECORDS_PER_SHARD} records ` +
      `(${RECORDS_PER_SHARD * WIDTH * 4 / 1024} KiB in and out, ${round(gflop, 2)} GFLOP); ${rounds} rounds × ${windowMs / 1000} s per side; ${trials} first-shard trials`);
    log(`load average at start: ${loadavg().map((v) => round(v, 1)).join(', ')} (${cpus()} CPUs, shared with the coordinator, Chromium and other work on the machine)`);

    const [coord, browser, pages] = await Promise.all([
      spawnCoordinator({ args: ['--log-level', 'info'] }),
      launchChromium(),
      startPageServer({
        dirs: { '/assets/': assetCopy, '/pages/': join(REPO, 'bench/pages') },
        blobs: { '/bench/model.onnx': model, '/bench/input.f32': new Uint8Array(x.buffer, x.byteOffset, x.byteLength) },
      }),
    ]);
    cleanup.push(() => coord.stop(), () => browser.close(), () => pages.close());
    const problems: string[] = [];
    const feeder = new JobFeeder(coord, model, input);
    cleanup.push(() => feeder.close());
    const coordPid = coord.proc.pid!;

    // The raw side: one persistent worker per thread count (onnxruntime fixes its thread count at first use).
    const rawCtx = await browser.newContext();
    const rawPage = await rawCtx.newPage();
    problems.push(...watchPage(rawPage, 'raw'));
    await rawPage.goto(pages.url);
    const init = (threads: number) => rawCall<RawInit>(rawPage, threads, {
      cmd: 'init', threads, ortUrl: `${pages.url}/assets/${ortJs}`, wasmUrl: `${pages.url}/assets/${ortWasm}`,
      modelUrl: `${pages.url}/bench/model.onnx`, inputUrl: `${pages.url}/bench/input.f32`, records: RECORDS_PER_SHARD, width: WIDTH,
    });
    const raw1 = await init(1);
    const raw2 = await init(2);
    log(`raw page: onnxruntime-web ${raw1.ortVersion}, crossOriginIsolated ${raw1.isolated}, navigator.hardwareConcurrency ${raw1.hardwareConcurrency}; ` +
      `workers settled on ${raw1.threads} and ${raw2.threads} threads (init ${round(raw1.initMs)} / ${round(raw2.initMs)} ms)`);
    if (raw2.threads !== 2 || !raw2.isolated) log('  WARNING: the 2-thread worker did not get 2 threads: threads_vs_single_ratio compares 1 with 1');

    // The tab: the contributor app, WASM, full intensity, on the coordinator's own (cross-origin isolated) page.
    await feeder.ensure(4 * JOB_SHARDS);
    // In a Chromium of its own that no automation instruments (see lib/bare-tab.ts): what a visitor's tab does.
    const tab = await BareTab.open(contributorUrl(coord.url, { autostart: true, backend: 'wasm', intensity: 1 }));
    cleanup.push(() => tab.close());
    const s0 = await bareWait(tab, (s) => s.counts.uploaded >= 3, 'tab computing', 120_000);
    log(`tab: ${s0.backendReason}`);
    const volunteer = s0.volunteerId!;
    // Main-thread task time of the tab page (socket.io, IndexedDB calls, Svelte, charts), apart from its compute
    // worker: read only with --profile, so that otherwise no DevTools domain is enabled on the measured tab.
    if (profile) await tab.send('Performance.enable');
    const mainThreadMs = async () => {
      if (!profile) return NaN;
      const { metrics } = await tab.send('Performance.getMetrics') as { metrics: { name: string; value: number }[] };
      return (metrics.find((m) => m.name === 'TaskDuration')?.value ?? NaN) * 1000;
    };
    // Warm-up beyond the first shards: V8 keeps tiering hot wasm functions up for a while.
    await sleep(warmupMs);
    await bareStop(tab);
    await rawCall<RawRun>(rawPage, 1, { cmd: 'run', warmupMs, durationMs: 1 });
    await rawCall<RawRun>(rawPage, 2, { cmd: 'run', warmupMs, durationMs: 1 });

    const windows: Window[] = [];
    const db = new Database(join(coord.dataDir, 'tabgrid.sqlite'), { readonly: true, fileMustExist: true });
    cleanup.push(() => { db.close(); });
    const returned = db.prepare(`SELECT returned_at AS at, compute_ms AS ms FROM copies
      WHERE volunteer_id = ? AND state = 'returned' AND returned_at >= ? AND returned_at <= ? ORDER BY returned_at`);
    for (let r = 0; r < rounds; r++) {
      const order: Side[] = r % 2 === 0 ? ['tab', 'raw1', 'raw2'] : ['raw2', 'raw1', 'tab'];
      for (const side of order) {
        if (side === 'tab') {
          // Work for the whole window at twice a generous rate, queued before the clock starts.
          await feeder.ensure(Math.ceil((windowMs / 1000 + 3) * 20));
          await bareStart(tab);
          await sleep(1000);
          const c0 = (await bareStatus(tab)).counts.uploaded;
          const profiling = profile && r === 0;
          if (profiling) {
            await tab.send('Profiler.enable');
            await tab.send('Profiler.setSamplingInterval', { interval: 250 });
            await tab.send('Profiler.start');
          }
          const cpu0 = cpuMsNow(coordPid);
          const m0 = await mainThreadMs();
          const t0 = Date.now();
          await sleep(windowMs);
          const t1 = Date.now();
          const m1 = await mainThreadMs();
          const cpu1 = cpuMsNow(coordPid);
          const c1 = (await bareStatus(tab)).counts.uploaded;
          if (profiling) {
            const { profile: p } = await tab.send('Profiler.stop');
            const file = join(work, 'tab-main-thread.cpuprofile');
            writeFileSync(file, JSON.stringify(p));
            log(`TAB PAGE MAIN THREAD over the first tab window (${windowMs / 1000} s): ${summariseProfiles([file], 30)}`);
          }
          await bareStop(tab);
          const rows = returned.all(volunteer, t0, t1) as { at: number; ms: number }[];
          if (rows.length < 3) throw new Error(`the tab returned only ${rows.length} results in a ${windowMs} ms window`);
          const span = rows.at(-1)!.at - rows[0]!.at;
          // Shards' worth of the window at the measured rate: CPU time is counted over the whole window, not the span.
          const shards = (rows.length - 1) * ((t1 - t0) / span);
          windows.push({
            side, round: r, units: rows.length, perS: ((rows.length - 1) * 1000) / span,
            msPerUnit: median(rows.map((x) => x.ms)), counterPerS: ((c1 - c0) * 1000) / (t1 - t0),
            browserCpuMs: (cpu1.chromium - cpu0.chromium) / shards, coordCpuMs: (cpu1.other - cpu0.other) / shards,
            roles: rolesPer(cpu0, cpu1, shards), mainThreadMs: (m1 - m0) / shards,
          });
        } else {
          const threads = side === 'raw1' ? 1 : 2;
          // A short warm-up again, outside the CPU accounting: the worker sat idle while the others ran.
          await rawCall<RawRun>(rawPage, threads, { cmd: 'run', warmupMs: 300, durationMs: 1 });
          const cpu0 = cpuMsNow(coordPid);
          const res = await rawCall<RawRun>(rawPage, threads, { cmd: 'run', warmupMs: 0, durationMs: windowMs });
          const cpu1 = cpuMsNow(coordPid);
          windows.push({
            side, round: r, units: res.runs, perS: (res.runs * 1000) / res.ms, msPerUnit: median(res.times), counterPerS: NaN,
            browserCpuMs: (cpu1.chromium - cpu0.chromium) / res.runs, coordCpuMs: (cpu1.other - cpu0.other) / res.runs,
            roles: rolesPer(cpu0, cpu1, res.runs), mainThreadMs: NaN,
          });
        }
      }
    }

    // First shard: fresh contexts (new visitors), then the same context again (returning visitors).
    const firsts: { fresh: FirstShard; back: FirstShard }[] = [];
    for (let t = 0; t < trials; t++) {
      await feeder.ensure(40);
      const ctx = await browser.newContext();
      const blobs = countBlobRequests(ctx);
      await ctx.addInitScript(firstShardProbe);
      const fresh = await firstShardVisit(ctx, coord.url, blobs, problems);
      const back = await firstShardVisit(ctx, coord.url, blobs, problems);
      await ctx.close();
      firsts.push({ fresh, back });
    }
    // Bytes on the wire: a visit that does not autostart (so "before Start" is a state the page rests in), then Start.
    const wire: { fresh: VisitBytes; back: VisitBytes }[] = [];
    for (let t = 0; t < trials; t++) {
      await feeder.ensure(40);
      const ctx = await browser.newContext();
      const fresh = await visitBytes(ctx, coord.url, problems);
      const back = await visitBytes(ctx, coord.url, problems);
      await ctx.close();
      wire.push({ fresh, back });
    }
    await tab.close();
    await rawCtx.close();

    const of = (side: Side) => windows.filter((w) => w.side === side);
    const tabRate = median(of('tab').map((w) => w.perS));
    const raw1Rate = median(of('raw1').map((w) => w.perS));
    const raw2Rate = median(of('raw2').map((w) => w.perS));
    const tabMs = median(of('tab').map((w) => w.msPerUnit));
    const raw1Ms = median(of('raw1').map((w) => w.msPerUnit));
    // Ratios within each round first: the tab's and the raw 1-thread windows are adjacent in every round (and so are
    // the 1- and 2-thread ones), so a load change on the shared machine between rounds cancels out of the ratio.
    const perRound = (a: Side, b: Side) => Array.from({ length: rounds }, (_, r) => {
      const x = windows.find((w) => w.side === a && w.round === r)!;
      const y = windows.find((w) => w.side === b && w.round === r)!;
      return x.perS / y.perS;
    });
    const tabRatio = median(perRound('tab', 'raw1'));
    const threadsRatio = median(perRound('raw2', 'raw1'));
    const newMs = median(firsts.map((f) => f.fresh.uploaded));
    const cachedMs = median(firsts.map((f) => f.back.uploaded));
    // From Start: with autostart the app starts as soon as it is ready (device probed, backend self-tested).
    const newFromStart = median(firsts.map((f) => f.fresh.uploaded - f.fresh.ready));
    const cachedFromStart = median(firsts.map((f) => f.back.uploaded - f.back.ready));

    log('');
    log(table(
      ['window', 'per s', 'ms per shard/run (median)', 'units', 'tab counter per s', 'Chromium CPU ms/unit', 'coordinator CPU ms/unit', 'Chromium CPU %'],
      windows.map((w) => [
        `${w.side} #${w.round + 1}`, round(w.perS, 2), round(w.msPerUnit, 1), w.units, Number.isNaN(w.counterPerS) ? '' : round(w.counterPerS, 2),
        round(w.browserCpuMs), round(w.coordCpuMs), round((w.browserCpuMs * w.perS) / 10),
      ]),
    ));
    log('(tab: accepted results per s from the coordinator\'s returned_at, ms = the tab\'s reported session time per shard; ' +
      'raw1/raw2: session.run per s on 1/2 threads, ms = one run; tab counter: uploaded count over the window, coarser; ' +
      'CPU: all Chromium processes / the coordinator process, per shard or run, 10 ms ticks; CPU % of one core)');
    const roles = [...new Set(windows.flatMap((w) => Object.keys(w.roles)))].sort();
    log('');
    log(table(
      ['Chromium CPU ms per unit by process (median)', ...roles],
      (['tab', 'raw1', 'raw2'] as const).map((side) => [side, ...roles.map((k) => round(median(of(side).map((w) => w.roles[k] ?? 0)), 1))]),
    ));
    log('(renderer: the pages and their workers; browser: the browser process, where IndexedDB and the network stack run unless a utility process has them)');
    log('');
    log(table(
      ['first shard, ms from navigation', 'app ready', 'running', 'first computed', 'first accepted', 'model downloads'],
      firsts.flatMap((f, i) => [
        [`new visitor #${i + 1}`, round(f.fresh.ready), round(f.fresh.running), round(f.fresh.computed), round(f.fresh.uploaded), f.fresh.blobRequests],
        [`returning visitor #${i + 1}`, round(f.back.ready), round(f.back.running), round(f.back.computed), round(f.back.uploaded), f.back.blobRequests],
      ]),
    ));
    log('(app ready: device probed and backend self-tested; running: connected and said hello; model downloads: /blobs/ requests from the page)');
    if (problems.length) log(`  page problems: ${problems.slice(0, 5).join(' | ')}`);
    log(`load average at end: ${loadavg().map((v) => round(v, 1)).join(', ')}`);
    log('');
    const betweenMs = 1000 / tabRate - tabMs;
    const tabCpu = median(of('tab').map((w) => w.browserCpuMs));
    const rawCpu = median(of('raw1').map((w) => w.browserCpuMs));
    log(table(['figure (medians)', 'value'], [
      ['tab accepted shards/s', round(tabRate, 2)],
      ['raw session.run/s, 1 thread (the tab\'s own thread count here)', round(raw1Rate, 2)],
      ['ratio tab ÷ raw (target >= 0.9; median of the rounds\' ratios)', round(tabRatio, 3)],
      ['  per round', perRound('tab', 'raw1').map((x) => round(x, 3)).join(', ')],
      ['tab session ms per shard vs raw ms per run', `${round(tabMs, 1)} vs ${round(raw1Ms, 1)}`],
      ['tab ms per shard outside session.run (socket, IndexedDB, copies)', round(betweenMs, 1)],
      ['Chromium CPU ms per shard (tab) vs per run (raw, 1 thread)', `${round(tabCpu)} vs ${round(rawCpu)} (ratio ${round(rawCpu / tabCpu, 3)})`],
      ['  of which the tab page\'s main thread (CDP TaskDuration; read with --profile only)', profile ? round(median(of('tab').map((w) => w.mainThreadMs)), 1) : '(run with --profile)'],
      ['coordinator CPU ms per tab shard', round(median(of('tab').map((w) => w.coordCpuMs)))],
      ['raw session.run/s, 2 threads', round(raw2Rate, 2)],
      [`ratio 2 threads ÷ 1 thread (${cpus()} cores, shared; median of the rounds' ratios)`, round(threadsRatio, 3)],
      ['  per round', perRound('raw2', 'raw1').map((x) => round(x, 3)).join(', ')],
      ['first accepted shard, new visitor, ms', round(newMs)],
      ['first accepted shard, returning visitor (model cached), ms', round(cachedMs)],
      ['the same from Start (app ready): new vs returning visitor, ms', `${round(newFromStart)} vs ${round(cachedFromStart)}`],
      ['bytes on the wire before Start, new visitor (every request, headers included)', Math.round(median(wire.map((w) => w.fresh.beforeStart)))],
      ['  the same, returning visitor', Math.round(median(wire.map((w) => w.back.beforeStart)))],
      ['HTTP bytes to the first accepted shard, new vs returning visitor (WebSocket frames not counted)',
        `${Math.round(median(wire.map((w) => w.fresh.toFirstShard)))} vs ${Math.round(median(wire.map((w) => w.back.toFirstShard)))}`],
    ]));

    return {
      tab_vs_raw_session_ratio: round(tabRatio, 3),
      tab_shards_per_s: round(tabRate, 2),
      raw_session_runs_per_s: round(raw1Rate, 2),
      tab_compute_ms_per_shard: round(tabMs, 1),
      raw_session_ms_per_run: round(raw1Ms, 1),
      tab_chromium_cpu_ms_per_shard: round(tabCpu),
      tab_main_thread_ms_per_shard: round(median(of('tab').map((w) => w.mainThreadMs)), 1),
      raw_chromium_cpu_ms_per_run: round(rawCpu),
      threads_vs_single_ratio: round(threadsRatio, 3),
      raw_2_threads_runs_per_s: round(raw2Rate, 2),
      first_shard_new_ms: round(newMs),
      first_shard_cached_ms: round(cachedMs),
      first_shard_new_from_start_ms: round(newFromStart),
      first_shard_cached_from_start_ms: round(cachedFromStart),
      first_visit_bytes_before_start: Math.round(median(wire.map((w) => w.fresh.beforeStart))),
      first_shard_bytes_new: Math.round(median(wire.map((w) => w.fresh.toFirstShard))),
      first_shard_bytes_returning: Math.round(median(wire.map((w) => w.back.toFirstShard))),
      model_bytes: model.byteLength,
      browser_rounds: rounds,
      browser_window_s: windowMs / 1000,
    };
  } finally {
    for (const c of cleanup.reverse()) await Promise.resolve(c()).catch(() => {});
  }
}

/** Sends one command to the page's raw worker for `threads` (created on first use) and awaits its reply. */
function rawCall<T>(page: Page, threads: number, msg: Record<string, unknown>): Promise<T> {
  return page.evaluate(async ({ threads, msg }) => {
    const w = window as unknown as { __raw?: Record<number, Worker>; __rawSeq?: number };
    w.__raw ??= {};
    const worker = (w.__raw[threads] ??= new Worker('/pages/raw-worker.js', { type: 'module', name: `raw-${threads}` }));
    const id = (w.__rawSeq = (w.__rawSeq ?? 0) + 1);
    // No named inner functions here: tsx (esbuild keepNames) would wrap them in a __name() the page lacks.
    const done = new AbortController();
    return new Promise<unknown>((resolve, reject) => {
      worker.addEventListener('message', (e: MessageEvent<{ id: number; ok: boolean; error?: string }>) => {
        if (e.data.id !== id) return;
        done.abort();
        if (e.data.ok) resolve(e.data); else reject(new Error(e.data.error));
      }, { signal: done.signal });
      worker.addEventListener('error', (e) => { done.abort(); reject(new Error(`raw worker: ${e.message}`)); }, { signal: done.signal });
      worker.postMessage({ id, ...msg });
    });
  }, { threads, msg }) as Promise<T>;
}

function bareStatus(tab: BareTab): Promise<TabgridStatus> {
  return tab.evaluate<TabgridStatus>('window.__tabgrid');
}

async function bareWait(tab: BareTab, pred: (s: TabgridStatus) => boolean, what: string, timeoutMs = 45_000): Promise<TabgridStatus> {
  const deadline = Date.now() + timeoutMs;
  let last: TabgridStatus | null = null;
  while (Date.now() < deadline) {
    last = await bareStatus(tab).catch(() => null);
    if (last && pred(last)) return last;
    await sleep(200);
  }
  throw new Error(`the tab never reached: ${what}; last status ${JSON.stringify(last)}`);
}

async function bareStart(tab: BareTab): Promise<void> {
  await tab.evaluate(`document.querySelector('[data-testid="start"]').click()`);
  await bareWait(tab, (s) => s.phase === 'running', 'tab running');
}

/** Stop lets the shard in hand finish and upload, and hands a prefetched copy back. */
async function bareStop(tab: BareTab): Promise<void> {
  await tab.evaluate(`document.querySelector('[data-testid="stop"]').click()`);
  await bareWait(tab, (s) => s.phase === 'stopped', 'tab stopped', 60_000);
}

/**
 * Runs in the contributor page before its own scripts: notes when the app is
 * ready, running, and has its first shard computed and accepted, in ms since
 * navigation started (performance.now() in a page counts from there). It
 * polls every 10 ms: the page exposes a status snapshot, not events.
 */
function firstShardProbe(): void {
  type Counts = { computed: number; uploaded: number };
  const w = window as unknown as { __tabgrid?: { phase: string; counts: Counts }; __firstShard?: Record<string, number> };
  const f: Record<string, number> = {};
  w.__firstShard = f;
  const t = setInterval(() => {
    const s = w.__tabgrid;
    if (!s) return;
    const now = performance.now();
    if (f.ready === undefined && s.phase !== 'probing') f.ready = now;
    if (f.running === undefined && s.phase === 'running') f.running = now;
    if (f.computed === undefined && s.counts.computed >= 1) f.computed = now;
    if (s.counts.uploaded >= 1) { f.uploaded = now; clearInterval(t); }
  }, 10);
}

async function firstShardVisit(ctx: BrowserContext, server: string, blobs: string[], problems: string[]): Promise<FirstShard> {
  const before = blobs.length;
  const page = await ctx.newPage();
  problems.push(...watchPage(page, 'first-shard'));
  await page.goto(contributorUrl(server, { autostart: true, backend: 'wasm', intensity: 1 }));
  const handle = await page.waitForFunction(() => {
    const f = (window as unknown as { __firstShard?: Record<string, number> }).__firstShard;
    return f?.uploaded !== undefined ? f : null;
  }, undefined, { timeout: 120_000, polling: 50 });
  const f = await handle.jsonValue() as Record<string, number>;
  // Stopped cleanly, so the next visit finds no interrupted shard to finish first.
  await page.getByTestId('stop').click();
  await waitForStatus(page, (s) => s.phase === 'stopped', 'first-shard tab stopped', 60_000);
  await page.close();
  return { ready: f.ready ?? NaN, running: f.running ?? NaN, computed: f.computed ?? NaN, uploaded: f.uploaded!, blobRequests: blobs.length - before };
}

interface VisitBytes { beforeStart: number; toFirstShard: number }

/**
 * One visit without autostart: what Chromium received before Start (the page
 * ready and its network quiet), then after pressing Start until the first
 * accepted shard, counted over every HTTP request of the page and its workers.
 */
async function visitBytes(ctx: BrowserContext, server: string, problems: string[]): Promise<VisitBytes> {
  const wire = logWireBytes(ctx);
  const page = await ctx.newPage();
  problems.push(...watchPage(page, 'visit-bytes'));
  await page.goto(contributorUrl(server, { backend: 'wasm', intensity: 1 }));
  await waitForStatus(page, (s) => s.phase === 'ready', 'visit ready', 60_000);
  await page.waitForLoadState('networkidle');
  await wire.settled();
  const beforeStart = wire.total();
  await page.getByTestId('start').click();
  await waitForStatus(page, (s) => s.counts.uploaded >= 1, 'visit computed a shard', 120_000);
  await wire.settled();
  const toFirstShard = wire.total();
  wire.stop();
  await page.getByTestId('stop').click();
  await waitForStatus(page, (s) => s.phase === 'stopped', 'visit stopped', 60_000);
  await page.close();
  return { beforeStart, toFirstShard };
}

/** Keeps copies queued: jobs of JOB_SHARDS shards over one model and one input blob, uploaded once. */
class JobFeeder {
  private readonly api: ApiClient;
  private readonly db: CoordinatorDb;
  private blobs: Promise<{ model: string; input: string }> | null = null;

  constructor(c: SpawnedCoordinator, private readonly model: Uint8Array, private readonly input: Uint8Array) {
    this.api = c.api;
    this.db = sqliteDb(join(c.dataDir, 'tabgrid.sqlite'));
  }

  close(): Promise<void> {
    return this.db.close();
  }

  async ensure(copies: number): Promise<void> {
    this.blobs ??= Promise.all([this.api.uploadBlob(this.model), this.api.uploadBlob(this.input)]).then(([model, input]) => ({ model, input }));
    const { model, input } = await this.blobs;
    while (await remainingCopies(this.db) < copies) {
      await this.api.createJob({ model, inputs: [{ name: 'x', blob: input, format: 'npy' }], shardSize: RECORDS_PER_SHARD, replicas: 1 });
    }
  }
}
