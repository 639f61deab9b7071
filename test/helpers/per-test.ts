/**
 * What one test starts and the next must not inherit: `coordinator(args)`
 * spawns one (coordinator.ts), `volunteers(c, n)` starts in-process
 * volunteers (volunteers.ts), `defer(f)` registers anything else to stop;
 * after each test they are stopped in reverse order (a failure to stop is
 * ignored: the test has already said what went wrong). Call it in a
 * `describe` body. (Apart from coordinator.ts, which the benches import
 * outside vitest.)
 */
import { afterEach } from 'vitest';
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

export function perTest(): PerTest {
  const stops: (() => Promise<void> | void)[] = [];
  afterEach(async () => {
    for (const f of stops.splice(0).reverse()) await Promise.resolve().then(f).catch(() => {});
  });
  return {
    async coordinator(o = []) {
      const c = await spawnCoordinator(Array.isArray(o) ? { args: o } : o);
      stops.push(() => {
        // One that exited by itself (not killed by the test) crashed: its last words say why the test failed.
        if (c.proc.exitCode !== null) console.error(`coordinator exited ${c.proc.exitCode}: ${c.stderr.join('').slice(-4000)}`);
        return c.stop();
      });
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
