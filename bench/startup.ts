/**
 * Coordinator start-up: `tabgrid serve` as shipped (compiled JavaScript in
 * dist/node, `bin/tabgrid.js`) against the same CLI run from its TypeScript
 * sources through tsx's loader (how bin/tabgrid.js ran before it shipped
 * JavaScript). Each trial starts both, in alternating order, on fresh data
 * directories, and times spawn -> first 200 from /readyz; RSS is read then.
 *
 * Flags: --startup-trials N (5; 2 with --quick).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CLI, REPO, freePort } from '../test/helpers/coordinator.ts';
import type { Flags } from './lib/flags.ts';
import { median, round, table } from './lib/stats.ts';

export const STARTUP_FLAGS = ['startup-trials'] as const;

const WAYS = {
  compiled: [CLI],
  tsx_sources: [join(REPO, 'bin/run-ts.js'), join(REPO, 'cli/main.ts')],
} as const;
type Way = keyof typeof WAYS;

async function startOnce(way: Way): Promise<{ readyMs: number; rssMb: number }> {
  const dataDir = mkdtempSync(join(tmpdir(), 'tabgrid-bench-startup-'));
  const port = await freePort();
  const t0 = performance.now();
  const proc = spawn(process.execPath, [...WAYS[way], 'serve', '--host', '127.0.0.1', '--port', String(port), '--data', dataDir, '--log-level', 'warn'], {
    cwd: REPO, stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  proc.stderr!.on('data', (c: Buffer) => { stderr += c.toString(); });
  const exited = new Promise<void>((r) => proc.on('exit', () => r()));
  try {
    for (;;) {
      if (proc.exitCode !== null) throw new Error(`${way} coordinator exited: ${stderr}`);
      const ok = await fetch(`http://127.0.0.1:${port}/readyz`).then((r) => r.ok, () => false);
      if (ok) break;
      if (performance.now() - t0 > 60_000) throw new Error(`${way} coordinator not ready within 60 s: ${stderr}`);
      await new Promise((r) => setTimeout(r, 10));
    }
    const readyMs = performance.now() - t0;
    const rssKb = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${proc.pid}/status`, 'utf8'))?.[1]);
    return { readyMs, rssMb: rssKb / 1024 };
  } finally {
    proc.kill('SIGTERM');
    await exited;
    rmSync(dataDir, { recursive: true, force: true });
  }
}

export async function startupBench(flags: Flags, log: (line: string) => void): Promise<Record<string, number>> {
  const trials = flags.int('startup-trials', flags.has('quick') ? 2 : 5);
  const runs: Record<Way, { readyMs: number; rssMb: number }[]> = { compiled: [], tsx_sources: [] };
  for (let i = 0; i < trials; i++) {
    // Alternating who goes first evens out a warm page cache and a load that drifts.
    const order: Way[] = i % 2 === 0 ? ['compiled', 'tsx_sources'] : ['tsx_sources', 'compiled'];
    for (const way of order) runs[way].push(await startOnce(way));
  }
  const ready = (w: Way) => median(runs[w].map((r) => r.readyMs));
  const rss = (w: Way) => median(runs[w].map((r) => r.rssMb));
  log(`tabgrid serve, spawn to the first 200 from /readyz (median of ${trials}, alternating order, fresh SQLite data):`);
  log(table(['way', 'ready ms', 'RSS MB', 'trials (ms)'], (Object.keys(WAYS) as Way[]).map((w) => [
    w, round(ready(w)), round(rss(w), 1), runs[w].map((r) => round(r.readyMs)).join(' '),
  ])));
  log(`compiled / tsx start-up time: ${round(ready('compiled') / ready('tsx_sources'), 3)}`);
  return {
    startup_compiled_ready_ms: round(ready('compiled')),
    startup_tsx_ready_ms: round(ready('tsx_sources')),
    startup_compiled_vs_tsx_ratio: round(ready('compiled') / ready('tsx_sources'), 3),
    startup_compiled_rss_mb: round(rss('compiled'), 1),
    startup_tsx_rss_mb: round(rss('tsx_sources'), 1),
  };
}
