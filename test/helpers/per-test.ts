/**
 * What one test starts and the next must not inherit: `coordinator(args)`
 * spawns one (coordinator.ts), `defer(f)` registers anything else to stop;
 * after each test they are stopped in reverse order (a failure to stop is
 * ignored: the test has already said what went wrong). Call it in a
 * `describe` body. (Apart from coordinator.ts, which the benches import
 * outside vitest.)
 */
import { afterEach } from 'vitest';
import { type SpawnedCoordinator, spawnCoordinator } from './coordinator.ts';

export interface PerTest {
  coordinator(args?: string[]): Promise<SpawnedCoordinator>;
  defer(stop: () => Promise<void> | void): void;
}

export function perTest(): PerTest {
  const stops: (() => Promise<void> | void)[] = [];
  afterEach(async () => {
    for (const f of stops.splice(0).reverse()) await Promise.resolve().then(f).catch(() => {});
  });
  return {
    async coordinator(args = []) {
      const c = await spawnCoordinator({ args });
      stops.push(() => c.stop());
      return c;
    },
    defer(stop) { stops.push(stop); },
  };
}
