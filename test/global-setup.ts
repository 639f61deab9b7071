/**
 * Tests spawn `bin/tabgrid.js`, which runs the compiled build in dist/node: a
 * build older than the sources would test yesterday's code. Rebuild it when the
 * sources changed (seconds), and stop the run loudly when that fails.
 */
import { execFileSync } from 'node:child_process';
import { join, resolve } from 'node:path';

export default function setup(): void {
  const repo = resolve(import.meta.dirname, '..');
  try {
    execFileSync(process.execPath, [join(repo, 'bin/build-node.js'), '--if-stale'], { cwd: repo, stdio: ['ignore', 'inherit', 'inherit'] });
  } catch (e) {
    throw new Error(`could not build dist/node for the tests (node bin/build-node.js): ${(e as Error).message}`);
  }
}
