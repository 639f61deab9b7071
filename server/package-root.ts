/**
 * The package's own directory (where package.json and dist/client live). The
 * coordinator runs from sources in tests (server/...) and from the compiled
 * build when shipped (dist/node/server/...), so paths are found from here, not
 * by counting `..` from the calling module.
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';

function findPackageRoot(from: string): string {
  for (let dir = from; ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    if (dirname(dir) === dir) throw new Error(`no package.json above ${from}`);
  }
}

export const PACKAGE_ROOT = findPackageRoot(import.meta.dirname);
