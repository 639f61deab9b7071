/**
 * What one test starts and the next must not inherit: `coordinator(args)`
 * spawns one (coordinator.ts), `volunteers(c, n)` starts in-process
 * volunteers (volunteers.ts), `defer(f)` registers anything else to stop;
 * after each test they are stopped in reverse order (a failure to stop is
 * ignored: the test has already said what went wrong). Call it in a
 * `describe` body. `perDescribe` is the same for a coordinator that a
 * describe's tests share. (Apart from coordinator.ts, which the benches
 * import outside vitest.)
 */
import { afterAll, afterEach, beforeAll } from 'vitest';
import { type SpawnedCoordinator, spawnCoordinator } from './coordinator.ts';
import { leaderFirst } from './leader-first.ts';
import { startVolunteer, type Tamper, type TestVolunteer } from './volunteers.ts';

export interface PerTest {
  /** Its `serve` arguments, or spawnCoordinator's options (a data directory and port to restart on). */
  coordinator(o?: string[] | Parameters<typeof spawnCoordinator>[0]): Promise<SpawnedCoordinator>;
  /** `n` in-process volunteers for `c`, each lying with `tamper` when given. */
  volunteers(c: SpawnedCoordinator, n: number, tamper?: Tamper): TestVolunteer[];
  /**
   * An attacker lying with `tamper` and `honest` volunteers that claim work only after it has
   * (leader-first.ts): with one shard per volunteer per round it computes the same shard of every round.
   */
  attackerFirst(c: SpawnedCoordinator, tamper: Tamper, honest: number): { attacker: TestVolunteer; honest: TestVolunteer[] };
  defer(stop: () => Promise<void> | void): void;
}

type Stop = () => Promise<void> | void;
type SpawnOptions = NonNullable<Parameters<typeof spawnCoordinator>[0]>;

/** Runs the stops registered, last first; a failure to stop is ignored (the test has already said what went wrong). */
async function stopAll(stops: Stop[]): Promise<void> {
  for (const f of stops.splice(0).reverse()) await Promise.resolve().then(f).catch(() => {});
}

/**
 * Stops `c`. One that exited by itself with an error (not killed by the test, nor stopped by it: that exits 0)
 * crashed, and its last words say why the test failed.
 */
function stopSayingWhy(c: SpawnedCoordinator): Promise<void> {
  if (c.proc.exitCode !== null && c.proc.exitCode !== 0) console.error(`coordinator exited ${c.proc.exitCode}: ${c.stderr.join('').slice(-4000)}`);
  return c.stop();
}

export function perTest(): PerTest {
  const stops: Stop[] = [];
  afterEach(() => stopAll(stops));
  return {
    async coordinator(o = []) {
      const c = await spawnCoordinator(Array.isArray(o) ? { args: o } : o);
      stops.push(() => stopSayingWhy(c));
      return c;
    },
    attackerFirst(c, tamper, n) {
      const order = leaderFirst();
      const attacker = startVolunteer(c.url, { tamper, hooks: order.leaderHooks });
      const honest = Array.from({ length: n }, () => startVolunteer(c.url, order.follower()));
      // Opened for good first: a follower waiting on the gate would never stop.
      stops.push(() => { order.release(); return Promise.all([attacker, ...honest].map((v) => v.stop())).then(() => {}); });
      return { attacker, honest };
    },
    volunteers(c, n, tamper) {
      const vs = Array.from({ length: n }, () => startVolunteer(c.url, tamper ? { tamper } : {}));
      stops.push(() => Promise.all(vs.map((v) => v.stop())).then(() => {}));
      return vs;
    },
    defer(stop) { stops.push(stop); },
  };
}

export interface PerDescribe {
  /** The describe's coordinator: started before its first test, stopped after its last; after `restart()`, the new one. */
  readonly c: SpawnedCoordinator;
  /**
   * Stops the coordinator (SIGTERM) unless the test already has, and runs `serve` again on the same data
   * directory and port with the same arguments: what a restart by the operator is. Returns the new one.
   */
  restart(): Promise<SpawnedCoordinator>;
  /** An in-process volunteer for the coordinator (startVolunteer's options); stopped after the last test. */
  volunteer(o?: Parameters<typeof startVolunteer>[1]): TestVolunteer;
  /** Anything else to stop after the last test, before the coordinator (last registered, first stopped). */
  defer(stop: Stop): void;
}

/**
 * Call in a `describe` body: one coordinator (its `serve` arguments, or spawnCoordinator's options) for all of the
 * describe's tests, started in a `beforeAll` registered here, so a `beforeAll` registered after this call finds it.
 */
export function perDescribe(o: string[] | SpawnOptions = []): PerDescribe {
  const options = Array.isArray(o) ? { args: o } : o;
  let c: SpawnedCoordinator | undefined;
  const started: SpawnedCoordinator[] = [];
  const stops: Stop[] = [];
  beforeAll(async () => {
    c = await spawnCoordinator(options);
    started.push(c);
  });
  afterAll(async () => {
    await stopAll(stops);
    for (const x of started.reverse()) await stopSayingWhy(x);
  });
  const current = () => {
    if (!c) throw new Error('the describe\'s coordinator starts in its beforeAll: read it in a test or a later hook');
    return c;
  };
  return {
    get c() { return current(); },
    async restart() {
      const old = current();
      await old.stop();
      c = await spawnCoordinator({ ...options, dataDir: old.dataDir, port: old.port });
      started.push(c);
      return c;
    },
    volunteer(vo) {
      const v = startVolunteer(current().url, vo);
      stops.push(() => v.stop());
      return v;
    },
    defer(stop) { stops.push(stop); },
  };
}
