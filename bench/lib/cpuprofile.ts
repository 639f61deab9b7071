/**
 * Reads V8 CPU profiles (.cpuprofile JSON) and says where the time went:
 * self time by function, inclusive time of the project's own functions (what
 * a handler costs with everything it calls), and self time by package.
 * Several profiles (one per measurement window) are merged.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { round, table } from './stats.ts';

interface CallFrame { functionName: string; url: string; lineNumber: number }
interface ProfileNode { id: number; callFrame: CallFrame; children?: number[] }
interface CpuProfile { nodes: ProfileNode[]; startTime: number; endTime: number; samples: number[]; timeDeltas: number[] }

const REPO = resolve(import.meta.dirname, '../..');

function where(url: string): string {
  const path = url.replace(/^file:\/\//, '');
  const nm = path.lastIndexOf('/node_modules/');
  if (nm >= 0) return path.slice(nm + '/node_modules/'.length);
  return path.startsWith(REPO) ? path.slice(REPO.length + 1) : path;
}

/** `name (file:line)`; native code (better-sqlite3's run/get/all, JSON.parse) has no URL. */
function label(f: CallFrame): string {
  const name = f.functionName || '(anonymous)';
  if (!f.url) return `${name} [native]`;
  return `${name} (${where(f.url)}:${f.lineNumber + 1})`;
}

function packageOf(f: CallFrame): string {
  if (!f.url) return f.functionName.startsWith('(') ? f.functionName : 'native (V8 builtins, better-sqlite3 bindings)';
  const w = where(f.url);
  if (f.url.includes('/node_modules/')) return w.startsWith('@') ? w.split('/').slice(0, 2).join('/') : w.split('/')[0]!;
  if (w.startsWith('node:')) return 'node core';
  return w.split('/').slice(0, 2).join('/');
}

export function summariseProfiles(files: readonly string[], rows = 25): string {
  const self = new Map<string, number>();
  const inclusive = new Map<string, number>();
  const byPackage = new Map<string, number>();
  let busyMs = 0;
  let idleMs = 0;
  const add = (m: Map<string, number>, k: string, v: number) => m.set(k, (m.get(k) ?? 0) + v);

  for (const file of files) {
    const p = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
    const byId = new Map(p.nodes.map((n) => [n.id, n]));
    const parent = new Map<number, number>();
    for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
    for (let i = 0; i < p.samples.length; i++) {
      // timeDeltas[i] is the time before sample i; the time after it is what sample i stands for.
      const ms = (p.timeDeltas[i + 1] ?? p.timeDeltas[i] ?? 0) / 1000;
      const leaf = byId.get(p.samples[i]!)!;
      if (leaf.callFrame.functionName === '(idle)') { idleMs += ms; continue; }
      busyMs += ms;
      add(self, label(leaf.callFrame), ms);
      add(byPackage, packageOf(leaf.callFrame), ms);
      const seen = new Set<string>();
      for (let id: number | undefined = leaf.id; id !== undefined; id = parent.get(id)) {
        const f = byId.get(id)!.callFrame;
        const w = f.url ? where(f.url) : '';
        if (!(w.startsWith('server/') || w.startsWith('shared/'))) continue;
        const l = label(f);
        if (!seen.has(l)) { seen.add(l); add(inclusive, l, ms); }
      }
    }
  }
  const pct = (ms: number) => `${round((100 * ms) / busyMs, 1)}%`;
  const top = (m: Map<string, number>, n: number) => [...m].sort((a, b) => b[1] - a[1]).slice(0, n).map(([k, ms]) => [k, round(ms), pct(ms)]);
  return [
    `coordinator CPU profile over the measured windows: ${round(busyMs)} ms busy, ${round(idleMs)} ms idle`,
    '',
    'self time by package:',
    table(['package', 'ms', 'of busy'], top(byPackage, Math.min(14, rows))),
    '',
    'self time by function:',
    table(['function', 'ms', 'of busy'], top(self, rows)),
    '',
    'inclusive time of server/ and shared/ functions (each counted once per sample):',
    table(['function', 'ms', 'of busy'], top(inclusive, rows + 5)),
  ].join('\n');
}
