/**
 * The package as `npm install --omit=dev` would leave it: package.json, bin/,
 * the compiled dist/node and the built dist/client, and a node_modules holding
 * only what package-lock.json does not mark dev-only (linked to this checkout's
 * copies). No TypeScript sources and no tsx: whatever the shipped CLI still
 * needs from them fails to load here.
 */
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { REPO } from './coordinator.ts';

interface Lock { packages: Record<string, { dev?: boolean }> }

export function productionInstall(): string {
  const dir = mkdtempSync(join(tmpdir(), 'tabgrid-installed-'));
  cpSync(join(REPO, 'package.json'), join(dir, 'package.json'));
  cpSync(join(REPO, 'bin/tabgrid.js'), join(dir, 'bin/tabgrid.js'));
  // Copied, not linked: a link would resolve to this checkout, next to its sources and full node_modules.
  cpSync(join(REPO, 'dist/node'), join(dir, 'dist/node'), { recursive: true });
  symlinkSync(join(REPO, 'dist/client'), join(dir, 'dist/client'));
  const lock = JSON.parse(readFileSync(join(REPO, 'package-lock.json'), 'utf8')) as Lock;
  for (const [path, meta] of Object.entries(lock.packages)) {
    // Top-level packages only (node_modules/x, node_modules/@s/x); nested ones come with their parent's link.
    if (!/^node_modules\/(@[^/]+\/)?[^/@][^/]*$/.test(path) || meta.dev || !existsSync(join(REPO, path))) continue;
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    symlinkSync(join(REPO, path), join(dir, path));
  }
  return dir;
}
