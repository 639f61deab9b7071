/**
 * Coordinator throughput against bare socket.io, side by side in one run.
 *
 * Coordinator side: validated and persisted results per second. Inference
 * jobs of y = Relu(x) with 4 records × 64 float32 per shard (1 KiB in and
 * 1 KiB out per copy), replicas 2, and `clients` volunteers that each loop
 * work:request → work:ack → work:result with the right output, so both copies
 * agree and are validated and credited. A result counts when its ack says
 * `accepted`: by then its SQLite transaction has committed, and so have the
 * shard's validation and ledger credit when it completed the quorum
 * (submitResult awaits both before answering). At the end the SQLite file is
 * read after a SIGKILL and must hold exactly what was acknowledged.
 *
 * Jobs have a fixed size (--job-shards, default 10,000 shards) and more are
 * queued between windows when the work left would not last: the coordinator
 * does per-job work on every validation that grows with the job's size, so
 * one job sized to the run would make the figure depend on the run's length.
 *
 * Bare side: the same number of clients, each looping one emit-with-ack of a
 * 1 KiB binary payload that the server acknowledges with the same bytes.
 *
 * Durable floor: the same echo, but the server first INSERTs each payload
 * into SQLite (WAL, synchronous=NORMAL, one transaction per event-loop turn,
 * as the coordinator's store) and answers after the COMMIT. No server can
 * persist a result for less than one round trip and one row written, so the
 * floor's rate bounds what any durable coordinator reaches on this machine,
 * and the gap between floor and coordinator is the coordinator's own work.
 *
 * Protocol floor: a server that speaks the volunteer protocol to the same
 * volunteer clients, answering each result with a reply the coordinator gave
 * (next assignment and news included) after INSERTing the result's bytes and
 * committing, as the durable floor does, and nothing else: the most any
 * coordinator exchanging these messages durably reaches here, with this load
 * generator on the same two cores.
 *
 * Both servers run in their own child process with the same socket.io
 * options. The clients of both sides live in this process, in one event
 * loop: the client-side cost is then paid the same way on both sides, and
 * this process does nothing else while a window runs (a separate load
 * generator would only add a hop for the start/stop control). The machine is
 * shared and noisy, so the sides alternate (ABBA order) and each figure is the
 * median of the windows.
 */
import pg from 'pg';
import { mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism as cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { ApiClient } from '../cli/api-client.ts';
import { encodeNpy } from '../shared/tensor/npy.ts';
import { tensorFromTyped } from '../shared/tensor/tensor.ts';
import { startServerChild, type ServerChild } from './lib/child.ts';
import {
  type Counters, connectMany, disconnectAll, EchoSide, type EchoSocket, type Load, sleep, volunteers, VolunteerSide,
} from './lib/clients.ts';
import { summariseProfiles } from './lib/cpuprofile.ts';
import { cpuMsOfCommand } from './lib/proc-cpu.ts';
import type { Flags } from './lib/flags.ts';
import { reluModel } from './lib/relu-model.ts';
import { median, round, table } from './lib/stats.ts';
import type { SqlTiming } from './servers/coordinator-server.ts';
import { type CoordinatorDb, postgresDb, remainingCopies, sqliteDb } from './lib/queue.ts';

export interface CoordinatorFigures {
  coordinator_results_per_s: number;
  bare_socketio_per_s: number;
  ratio: number;
  durable_floor_per_s: number;
  durable_floor_ratio: number;
  coordinator_vs_floor_ratio: number;
  durable_floor_cpu_ms_per_round_trip: number;
  protocol_floor_per_s: number;
  protocol_floor_ratio: number;
  coordinator_vs_protocol_floor_ratio: number;
  protocol_floor_cpu_ms_per_result: number;
  client_cpu_ms_per_result: number;
  bare_client_cpu_ms_per_round_trip: number;
  reply_json_bytes: number;
  store: 'sqlite' | 'postgres';
  /** PostgreSQL runs only: CPU of every postgres process on this machine per result. */
  postgres_cpu_ms_per_result: number | null;
  coordinator_emits_per_s: number;
  emits_ratio: number;
  clients: number;
  payload_bytes: number;
  rss_mib_per_1000_idle: number;
  bare_rss_mib_per_1000_idle: number;
  validated_copies_checked: number;
  durable_check_ok: boolean;
  coordinator_cpu_ms_per_result: number;
  bare_cpu_ms_per_round_trip: number;
  coordinator_cold_start_s: number;
  window_s: number;
  rounds: number;
  job_shards: number;
}

const WIDTH = 64;
/** 4 records × 64 float32 = 1 KiB per shard, in and out. */
const RECORDS_PER_SHARD = 4;
const PAYLOAD_BYTES = RECORDS_PER_SHARD * WIDTH * 4;
const MiB = 1024 * 1024;

interface CoordinatorReady { url: string; token: string | null; projectId: string }
interface EchoReady { url: string }

interface Window { side: 'bare' | 'floor' | 'protocol' | 'coordinator'; round: number; seconds: number; rampS: number; delta: Counters; serverCpuMs: number; clientCpuMs: number; dbCpuMs: number }

type Log = (line: string) => void;

export const COORDINATOR_FLAGS = ['clients', 'rounds', 'window', 'idle', 'job-shards', 'profile', 'postgres'] as const;

export async function coordinatorBench(flags: Flags, log: Log): Promise<CoordinatorFigures> {
  const quick = flags.has('quick');
  const clients = flags.int('clients', 500);
  const rounds = flags.int('rounds', 3);
  const windowMs = flags.number('window', quick ? 2 : 5) * 1000;
  const minRampMs = quick ? 500 : 1000;
  const warmupMs = quick ? 1000 : 3000;
  const idle = flags.int('idle', quick ? 1000 : 2000);
  const jobShards = flags.int('job-shards', 10_000);
  const profile = flags.has('profile');
  /** A PostgreSQL server URL: the coordinator then keeps its state there, in a schema of its own made for the run. */
  const postgresServer = flags.string('postgres');

  const work = mkdtempSync(join(tmpdir(), 'tabgrid-bench-'));
  const dataDir = join(work, 'data');
  const dbFile = join(dataDir, 'tabgrid.sqlite');
  const cleanup: (() => Promise<void> | void)[] = [() => rmSync(work, { recursive: true, force: true })];
  try {
    let postgresUrl: string | null = null;
    if (postgresServer) {
      const schema = `tabgrid_bench_${Date.now().toString(36)}`;
      const admin = new pg.Client({ connectionString: postgresServer });
      await admin.connect();
      cleanup.push(async () => { await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`); await admin.end(); });
      await admin.query(`CREATE SCHEMA ${schema}`);
      const u = new URL(postgresServer);
      u.searchParams.set('options', `-c search_path=${schema}`);
      postgresUrl = u.toString();
    }
    log(`coordinator bench: ${clients} clients, ${PAYLOAD_BYTES} B payloads, ${rounds} rounds × ${windowMs / 1000} s per side, ` +
      `${idle} idle connections, jobs of ${jobShards} shards × 2 replicas, ${postgresUrl ? `PostgreSQL (${postgresServer})` : 'SQLite'}${profile ? ', PROFILING (figures perturbed)' : ''}`);
    log(`load average at start: ${loadavg().map((x) => round(x, 1)).join(', ')} (${cpus()} CPUs; other work on the machine shows as CPU % well under 100 below)`);
    const [coord, echo, floorServer, protoServer] = await Promise.all([
      startServerChild<CoordinatorReady>('bench/servers/coordinator-server.ts',
        [dataDir, ...(profile ? ['--sql-timing'] : []), ...(postgresUrl ? ['--postgres', postgresUrl] : [])], { nodeArgs: ['--expose-gc'] }),
      startServerChild<EchoReady>('bench/servers/echo-server.ts', [], { nodeArgs: ['--expose-gc'] }),
      startServerChild<EchoReady>('bench/servers/echo-server.ts', ['--durable', join(work, 'floor.sqlite')], { nodeArgs: ['--expose-gc'] }),
      startServerChild<EchoReady>('bench/servers/echo-server.ts', ['--durable', join(work, 'protocol.sqlite'), '--protocol'], { nodeArgs: ['--expose-gc'] }),
    ]);
    cleanup.push(() => coord.kill('SIGKILL'), () => echo.kill('SIGKILL'), () => floorServer.kill('SIGKILL'), () => protoServer.kill('SIGKILL'));

    const vSockets = await volunteers(coord.ready.url, clients);
    const eSockets = await connectMany<EchoSocket>(echo.ready.url, clients, {});
    const fSockets = await connectMany<EchoSocket>(floorServer.ready.url, clients, {});
    const pSockets = await volunteers(protoServer.ready.url, clients);
    cleanup.push(() => disconnectAll(vSockets), () => disconnectAll(eSockets), () => disconnectAll(fSockets), () => disconnectAll(pSockets));

    // Idle connections first, before jobs and load: memory they freed (a job's upload, onnxruntime's
    // model check) would otherwise be reused by the new connections and hide their cost.
    const rssCoord = await idleRss(coord, idle, async (n) => volunteers(coord.ready.url, n));
    const rssBare = await idleRss(echo, idle, async (n) => connectMany<EchoSocket>(echo.ready.url, n, {}));
    log(`idle connections: coordinator +${round(rssCoord.rssMiB, 1)} MiB RSS per 1000 (V8 heap +${round(rssCoord.heapMiB, 1)}; ` +
      `RSS growth at each quarter of ${idle}: ${rssCoord.rssPointsMiB.slice(1).join(', ')} MiB), ` +
      `bare socket.io +${round(rssBare.rssMiB, 1)} MiB RSS per 1000 (V8 heap +${round(rssBare.heapMiB, 1)}; ${rssBare.rssPointsMiB.slice(1).join(', ')} MiB)`);

    const state: CoordinatorDb = postgresUrl ? await postgresDb(postgresUrl) : sqliteDb(dbFile);
    cleanup.push(() => state.close());
    const jobs = new JobFeeder(coord.ready, state, jobShards);
    await jobs.ensure(1);

    const payload = new Uint8Array(PAYLOAD_BYTES).map((_, i) => (i * 131 + 7) & 0xff);
    const bare = new EchoSide(eSockets, payload);
    const floor = new EchoSide(fSockets, payload);
    const vol = new VolunteerSide(vSockets);
    const proto = new VolunteerSide(pSockets);
    const sides: Record<Window['side'], { load: Load; server: ServerChild<unknown> }> = {
      bare: { load: bare, server: echo }, floor: { load: floor, server: floorServer }, protocol: { load: proto, server: protoServer },
      coordinator: { load: vol, server: coord },
    };

    // Warm-up (JIT, socket buffers, SQLite page cache), not counted. The coordinator's first burst,
    // every volunteer asking at once of a job nobody has asked of yet, is its cold start: reported
    // on its own, then a second warm-up gives the steady rate that sizes ramps and jobs.
    const warm = async (name: Window['side'], what: string) => {
      const load = sides[name].load;
      const c0 = { ...load.counters };
      const t0 = performance.now();
      load.start();
      await sleep(warmupMs);
      const t1 = performance.now();
      await load.pause();
      const t2 = performance.now();
      const done = load.counters.done - c0.done;
      log(`${what}: ${done} done in ${round((t1 - t0) / 1000, 1)} s, then ${round((t2 - t1) / 1000, 1)} s until every client finished its unit; ` +
        `${load.counters.errors - c0.errors} errors`);
      return { rate: done / ((t2 - t0) / 1000), drainS: (t2 - t1) / 1000 };
    };
    const rateSeen = { bare: (await warm('bare', 'warm-up bare')).rate, floor: (await warm('floor', 'warm-up durable floor')).rate, protocol: 0, coordinator: 0 };
    if (profile) await coord.request('profileStart');
    const cold = await warm('coordinator', 'coordinator cold start (first burst)');
    const coldProfile = profile ? await coord.request<string>('profileStop', join(work, 'coordinator-cold.cpuprofile')) : null;
    rateSeen.coordinator = (await warm('coordinator', 'warm-up coordinator')).rate;
    if (!vol.sampleReply) throw new Error('the coordinator accepted no result with a next copy during the warm-up');
    await protoServer.request('setReply', vol.sampleReply);
    const replyJsonBytes = JSON.stringify(withoutBinary(vol.sampleReply, () => '')).length;
    log(`protocol floor replays this coordinator reply (${replyJsonBytes} B of JSON beside its binary): ${JSON.stringify(withoutBinary(vol.sampleReply, (b) => `<${b.byteLength} bytes>`))}`);
    rateSeen.protocol = (await warm('protocol', 'warm-up protocol floor')).rate;

    const windows: Window[] = [];
    const sqlTotals = new Map<string, SqlTiming>();
    const profiles: string[] = [];
    for (let r = 0; r < rounds; r++) {
      // ABC CBA: a slow drift on the shared machine then biases no side.
      const order = r % 2 === 0 ? (['bare', 'floor', 'protocol', 'coordinator'] as const) : (['coordinator', 'protocol', 'floor', 'bare'] as const);
      for (const name of order) {
        const { load, server } = sides[name];
        // Steady state needs every client past its first unit: about clients / rate seconds.
        const rampMs = Math.min(5000, Math.max(minRampMs, (1.5 * clients * 1000) / Math.max(1, rateSeen[name])));
        // Work for the whole round at the best rate seen, twice over, queued before the clock starts.
        if (name === 'coordinator') await jobs.ensure(Math.ceil(2 * rateSeen.coordinator * (rampMs + windowMs + 5000) / 1000) + 2 * clients);
        load.start();
        await sleep(rampMs);
        const profiled = profile && name === 'coordinator';
        if (profiled) { await coord.request('resetSqlTimings'); await coord.request('profileStart'); }
        const c0 = { ...load.counters };
        const t0 = performance.now();
        const s0 = server.cpuMs();
        const d0 = postgresUrl ? cpuMsOfCommand(/^postgres/) : 0;
        const u0 = process.cpuUsage();
        await sleep(windowMs);
        const c1 = { ...load.counters };
        const t1 = performance.now();
        const s1 = server.cpuMs();
        const d1 = postgresUrl ? cpuMsOfCommand(/^postgres/) : 0;
        const u1 = process.cpuUsage(u0);
        if (profiled) {
          profiles.push(await coord.request<string>('profileStop', join(work, `coordinator-${r}.cpuprofile`)));
          for (const t of await coord.request<SqlTiming[]>('sqlTimings')) addTiming(sqlTotals, t);
        }
        await load.pause();
        const delta = Object.fromEntries(Object.keys(c1).map((k) => [k, c1[k as keyof Counters] - c0[k as keyof Counters]])) as unknown as Counters;
        const w: Window = { side: name, round: r, seconds: (t1 - t0) / 1000, rampS: rampMs / 1000, delta, serverCpuMs: s1 - s0, clientCpuMs: (u1.user + u1.system) / 1000, dbCpuMs: d1 - d0 };
        windows.push(w);
        rateSeen[name] = Math.max(rateSeen[name], w.delta.done / w.seconds);
      }
    }

    const rate = (w: Window) => w.delta.done / w.seconds;
    const of = (side: Window['side']) => windows.filter((w) => w.side === side);
    const coordRate = median(of('coordinator').map(rate));
    const bareRate = median(of('bare').map(rate));
    const floorRate = median(of('floor').map(rate));
    const floorCpu = median(of('floor').map((w) => w.serverCpuMs / Math.max(1, w.delta.done)));
    const protoRate = median(of('protocol').map(rate));
    const protoCpu = median(of('protocol').map((w) => w.serverCpuMs / Math.max(1, w.delta.done)));
    const dbCpu = postgresUrl ? median(of('coordinator').map((w) => w.dbCpuMs / Math.max(1, w.delta.done))) : null;
    const clientCpu = (side: Window['side']) => median(of(side).map((w) => w.clientCpuMs / Math.max(1, w.delta.done)));
    const coordEmits = median(of('coordinator').map((w) => w.delta.emits / w.seconds));
    const coordCpu = median(of('coordinator').map((w) => w.serverCpuMs / Math.max(1, w.delta.done)));
    const bareCpu = median(of('bare').map((w) => w.serverCpuMs / Math.max(1, w.delta.done)));

    log('');
    log(table(
      ['window', 'ramp s', 'per s', 'emits/s', 'pushes/s', 'server CPU %', 'server CPU ms/unit', 'client CPU %', 'client CPU ms/unit', 'starved', 'errors'],
      windows.map((w) => [
        `${w.side} #${w.round + 1}`, round(w.rampS, 1), round(rate(w)), round(w.delta.emits / w.seconds), round(w.delta.pushes / w.seconds),
        round((w.serverCpuMs / 10) / w.seconds), round(w.serverCpuMs / Math.max(1, w.delta.done), 3),
        round((w.clientCpuMs / 10) / w.seconds), round(w.clientCpuMs / Math.max(1, w.delta.done), 3), w.delta.starved, w.delta.errors,
      ]),
    ));
    log('(per s: bare = echo round trips, floor = echo round trips each INSERTed and committed first, protocol = results answered with a recorded coordinator reply after their INSERT committed, coordinator = results acknowledged accepted; emits/s = client emits answered by an ack; ' +
      'pushes/s = news and work:nudge pushes received (news a reply carried is no push); CPU % of one core)');
    for (const [name, s] of Object.entries(sides)) for (const e of s.load.errorSamples) log(`  ${name} error: ${e}`);
    const starved = of('coordinator').reduce((n, w) => n + w.delta.starved, 0);
    if (starved) log(`  WARNING: ${starved} work requests found no work in the windows: the jobs ran dry, the coordinator figure understates`);
    const windowErrors = windows.reduce((n, w) => n + w.delta.errors, 0);
    if (windowErrors) log(`  WARNING: ${windowErrors} refusals inside the measured windows`);

    // Durability: everything acknowledged is in the database, read by another connection after the coordinator is gone.
    await sleep(300);
    const accepted = vol.counters.done;
    const sql = profile ? sqlReport([...sqlTotals.values()]) : '';
    if (profile) await coord.stop(); else await coord.kill('SIGKILL');
    const db = await checkDatabase(state);
    // Every accepted result is a returned copy; every returned copy is either validated and credited
    // exactly once, or still waits for its shard's replica (its partner copy expired and was reissued).
    // A volunteer holds at most one copy in flight: the next one, prefetched with its last result.
    // Valid copies belong to validated shards, two or more each: a copy that expired while its volunteer
    // sat out the other sides' windows is reissued, and its late result is judged and credited too.
    const durable = db.returned === accepted && db.valid + db.awaitingReplica === db.returned && db.ledger === db.valid &&
      db.validInValidated === db.valid && db.shardsUnderQuorum === 0 && db.invalid === 0 && db.inFlight <= clients;
    log('');
    log(`durability (${postgresUrl ? 'PostgreSQL schema' : 'SQLite file'} read after the coordinator was ${profile ? 'closed' : 'SIGKILLed'}): ${accepted} results acknowledged 'accepted'; ` +
      `it holds ${db.returned} returned copies = ${db.valid} valid + ${db.awaitingReplica} awaiting their replica, ${db.ledger} ledger credits, ` +
      `${db.validatedShards} validated shards (${jobs.created} jobs) holding ${db.validInValidated} valid copies (${db.shardsUnderQuorum} with fewer than 2; ` +
      `${db.expired} copies expired and were reissued), ${db.invalid} invalid and ${db.inFlight} in-flight copies: ${durable ? 'OK' : 'MISMATCH'}`);
    log(`  'valid' outcomes the volunteers heard (on replies or pushed; the last second's may still wait): ${vol.counters.validOutcomes}`);
    if (!durable) process.exitCode = 1;

    const warnings = coord.output.filter((l) => l.includes('"level":40') || l.includes('"level":50'));
    if (warnings.length) log(`  the coordinator logged ${warnings.length} warnings/errors (cold start expiries, see above), e.g. ${warnings[0]!.slice(0, 240)}`);

    const ratio = coordRate / bareRate;
    log(`load average at end: ${loadavg().map((x) => round(x, 1)).join(', ')}`);
    log('');
    log(table(['figure (median of the windows)', 'value'], [
      ['bare socket.io round trips/s', round(bareRate)],
      ['coordinator validated+committed results/s', round(coordRate)],
      ['ratio results/s ÷ bare round trips/s (target >= 0.5)', round(ratio, 3)],
      ['durable floor: round trips/s with one SQLite row committed each', round(floorRate)],
      ['ratio durable floor ÷ bare (the most any durable server reaches here)', round(floorRate / bareRate, 3)],
      ['ratio coordinator ÷ durable floor', round(coordRate / floorRate, 3)],
      ['durable floor server CPU ms per round trip', round(floorCpu, 3)],
      ['protocol floor: results/s, the same messages, one row committed each, no other work', round(protoRate)],
      ['ratio protocol floor ÷ bare (the most a durable server of this protocol reaches here)', round(protoRate / bareRate, 3)],
      ['ratio coordinator ÷ protocol floor', round(coordRate / protoRate, 3)],
      ['protocol floor server CPU ms per result', round(protoCpu, 3)],
      ['load generator CPU ms per result (coordinator) / per round trip (bare)', `${round(clientCpu('coordinator'), 3)} / ${round(clientCpu('bare'), 3)}`],
      ['coordinator acked emits/s (request+ack+result)', round(coordEmits)],
      ['ratio coordinator emits/s ÷ bare round trips/s', round(coordEmits / bareRate, 3)],
      ['coordinator server CPU ms per result', round(coordCpu, 3)],
      ...(dbCpu !== null ? [['PostgreSQL CPU ms per result (all postgres processes on this machine)', round(dbCpu, 3)]] : []),
      ['bare server CPU ms per round trip', round(bareCpu, 3)],
      ['coordinator cold start: s to drain the first burst', round(cold.drainS, 1)],
      ['coordinator RSS MiB per 1000 idle volunteers', round(rssCoord.rssMiB, 2)],
      ['bare socket.io RSS MiB per 1000 idle connections', round(rssBare.rssMiB, 2)],
    ]));

    if (profile) {
      log('');
      log(`COLD START (the first burst of ${clients} work requests): ${summariseProfiles([coldProfile!], 12)}`);
      log('');
      log(`STEADY STATE: ${summariseProfiles(profiles)}`);
      log('');
      log(sql);
    }

    return {
      coordinator_results_per_s: round(coordRate),
      bare_socketio_per_s: round(bareRate),
      ratio: round(ratio, 3),
      durable_floor_per_s: round(floorRate),
      durable_floor_ratio: round(floorRate / bareRate, 3),
      coordinator_vs_floor_ratio: round(coordRate / floorRate, 3),
      durable_floor_cpu_ms_per_round_trip: round(floorCpu, 3),
      protocol_floor_per_s: round(protoRate),
      protocol_floor_ratio: round(protoRate / bareRate, 3),
      coordinator_vs_protocol_floor_ratio: round(coordRate / protoRate, 3),
      protocol_floor_cpu_ms_per_result: round(protoCpu, 3),
      client_cpu_ms_per_result: round(clientCpu('coordinator'), 3),
      bare_client_cpu_ms_per_round_trip: round(clientCpu('bare'), 3),
      reply_json_bytes: replyJsonBytes,
      store: postgresUrl ? 'postgres' : 'sqlite',
      postgres_cpu_ms_per_result: dbCpu === null ? null : round(dbCpu, 3),
      coordinator_emits_per_s: round(coordEmits),
      emits_ratio: round(coordEmits / bareRate, 3),
      clients,
      payload_bytes: PAYLOAD_BYTES,
      rss_mib_per_1000_idle: round(rssCoord.rssMiB, 2),
      bare_rss_mib_per_1000_idle: round(rssBare.rssMiB, 2),
      validated_copies_checked: durable ? db.valid : 0,
      durable_check_ok: durable,
      coordinator_cpu_ms_per_result: round(coordCpu, 3),
      bare_cpu_ms_per_round_trip: round(bareCpu, 3),
      coordinator_cold_start_s: round(cold.drainS, 1),
      window_s: windowMs / 1000,
      rounds,
      job_shards: jobShards,
    };
  } finally {
    for (const c of cleanup.reverse()) await c();
  }
}

/** The reply as socket.io's JSON part sees it: binary (Buffers, whose toJSON would spell every byte) replaced. */
function withoutBinary(v: unknown, mark: (b: Uint8Array) => unknown): unknown {
  if (v instanceof Uint8Array) return mark(v);
  if (Array.isArray(v)) return v.map((x) => withoutBinary(x, mark));
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, withoutBinary(x, mark)]));
  return v;
}

/**
 * Keeps enough work queued: jobs of a fixed size (so the coordinator's
 * per-job costs do not depend on how long the run is), all of the same model
 * and input, so their blobs are uploaded and decoded once.
 */
class JobFeeder {
  created = 0;
  private readonly api: ApiClient;
  private blobs: Promise<{ model: string; input: string }> | null = null;

  constructor(private readonly c: CoordinatorReady, private readonly db: CoordinatorDb, private readonly shards: number) {
    if (!c.token) throw new Error('the fresh coordinator reported no project token');
    this.api = new ApiClient(c.url, c.token);
  }



  async ensure(copies: number): Promise<void> {
    while ((this.created === 0 ? 0 : await remainingCopies(this.db)) < copies) await this.create();
  }

  private async create(): Promise<void> {
    this.blobs ??= this.upload();
    const { model, input } = await this.blobs;
    const job = await this.api.createJob({ model, inputs: [{ name: 'x', blob: input, format: 'npy' }], shardSize: RECORDS_PER_SHARD, replicas: 2 });
    if (job.shards.total !== this.shards) throw new Error(`job has ${job.shards.total} shards, expected ${this.shards}`);
    this.created++;
  }

  private async upload() {
    const records = this.shards * RECORDS_PER_SHARD;
    // Half the values negative, so Relu changes the data and a wrong volunteer would be caught.
    const x = new Float32Array(records * WIDTH);
    let s = 0x9e3779b9;
    for (let i = 0; i < x.length; i++) { s = (Math.imul(s, 1664525) + 1013904223) >>> 0; x[i] = s / 2 ** 31 - 1; }
    const model = await this.api.uploadBlob(reluModel(WIDTH));
    const input = await this.api.uploadBlob(encodeNpy(tensorFromTyped('float32', [records, WIDTH], x)));
    return { model, input };
  }
}

/**
 * Marginal memory of idle connections: RSS (and V8 heap) after a full GC at
 * 0, n/4, ..., n extra connections (for the coordinator: volunteers that said
 * hello), and the least-squares slope through those points. A slope, not one
 * before/after difference, because a process also grows in steps of its own
 * (V8 enlarging its young generation, malloc arenas) that a single difference
 * would charge to the connections.
 */
async function idleRss<S extends { disconnect(): unknown }>(server: ServerChild<unknown>, n: number, connect: (n: number) => Promise<S[]>) {
  const STEPS = 4;
  const xs: number[] = [];
  const rss: number[] = [];
  const heap: number[] = [];
  const sample = async (connected: number) => {
    const mem = await server.request<NodeJS.MemoryUsage>('gc');
    await sleep(300);
    xs.push(connected);
    rss.push(server.rssBytes());
    heap.push(mem.heapUsed);
  };
  const sockets: S[] = [];
  await sample(0);
  for (let i = 1; i <= STEPS; i++) {
    sockets.push(...await connect(Math.round((n * i) / STEPS) - sockets.length));
    await sleep(500);
    await sample(sockets.length);
  }
  for (const s of sockets) s.disconnect();
  await sleep(500);
  const perThousandMiB = (ys: number[]) => (slope(xs, ys) * 1000) / MiB;
  return { rssMiB: perThousandMiB(rss), heapMiB: perThousandMiB(heap), rssPointsMiB: rss.map((r) => round((r - rss[0]!) / MiB, 1)) };
}

function slope(xs: readonly number[], ys: readonly number[]): number {
  const mx = xs.reduce((a, b) => a + b, 0) / xs.length;
  const my = ys.reduce((a, b) => a + b, 0) / ys.length;
  let num = 0;
  let den = 0;
  for (let i = 0; i < xs.length; i++) { num += (xs[i]! - mx) * (ys[i]! - my); den += (xs[i]! - mx) ** 2; }
  return num / den;
}

async function checkDatabase(db: CoordinatorDb) {
  const n = (sql: string) => db.count(sql);
  return {
    returned: await n(`SELECT COUNT(*) AS n FROM copies WHERE state = 'returned'`),
    valid: await n(`SELECT COUNT(*) AS n FROM copies WHERE outcome = 'valid'`),
    ledger: await n(`SELECT COUNT(*) AS n FROM ledger`),
    validatedShards: await n(`SELECT COUNT(*) AS n FROM shards WHERE state = 'validated'`),
    validInValidated: await n(`SELECT COUNT(*) AS n FROM copies c JOIN shards s ON s.id = c.shard_id WHERE c.outcome = 'valid' AND s.state = 'validated'`),
    shardsUnderQuorum: await n(`SELECT COUNT(*) AS n FROM shards s WHERE s.state = 'validated'
      AND (SELECT COUNT(*) FROM copies c WHERE c.shard_id = s.id AND c.outcome = 'valid') < 2`),
    expired: await n(`SELECT COUNT(*) AS n FROM copies WHERE state = 'expired' OR (state = 'returned' AND reason IS NOT NULL)`),
    inFlight: await n(`SELECT COUNT(*) AS n FROM copies WHERE state IN ('assigned', 'running')`),
    invalid: await n(`SELECT COUNT(*) AS n FROM copies WHERE outcome = 'invalid'`),
    awaitingReplica: await n(`SELECT COUNT(*) AS n FROM copies c JOIN shards s ON s.id = c.shard_id
      WHERE c.state = 'returned' AND c.outcome = 'pending' AND s.state = 'open'
        AND (SELECT COUNT(*) FROM copies o WHERE o.shard_id = s.id AND o.state = 'returned') < s.wanted`),
  };
}

function addTiming(into: Map<string, SqlTiming>, t: SqlTiming): void {
  const key = `${t.op} ${t.sql}`;
  const have = into.get(key);
  if (have) { have.calls += t.calls; have.ms += t.ms; } else into.set(key, { ...t });
}

/** Statement costs per result, counting results as executions of the statement that stores one. */
function sqlReport(timings: SqlTiming[]): string {
  const results = timings.find((t) => t.op === 'run' && t.sql.startsWith("UPDATE copies SET state = 'returned'"))?.calls ?? 0;
  const per = (x: number) => x / Math.max(1, results);
  const exec = timings.filter((t) => t.op !== 'prepare').reduce((n, t) => n + t.ms, 0);
  const prep = timings.filter((t) => t.op === 'prepare');
  const rows = timings.sort((a, b) => b.ms - a.ms).slice(0, 20).map((t) => [
    t.op, round(t.ms), round(per(t.ms * 1000), 1), round(per(t.calls), 2), round((t.ms * 1000) / t.calls, 1), t.sql.slice(0, 100),
  ]);
  return `SQLite during the profiled spans: ${results} results stored; statements ran ${round(exec)} ms (${round(per(exec * 1000))} µs per result), ` +
    `${prep.reduce((n, t) => n + t.calls, 0)} prepare() calls took ${round(prep.reduce((n, t) => n + t.ms, 0))} ms (statements compiled again on every call)\n` +
    table(['op', 'ms', 'µs/result', 'calls/result', 'µs/call', 'sql'], rows);
}
