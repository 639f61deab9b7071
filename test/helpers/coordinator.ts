/**
 * Real coordinators for integration tests: `tabgrid serve` as a child process
 * on a fresh data directory, its JSON log captured for assertions.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { ApiClient } from '../../cli/api-client.ts';

export const REPO = resolve(import.meta.dirname, '../..');
export const CLI = join(REPO, 'bin/tabgrid.js');

export function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => res(port));
    });
    s.on('error', rej);
  });
}

export interface SpawnedCoordinator {
  url: string;
  port: number;
  token: string;
  dataDir: string;
  proc: ChildProcess;
  /** Parsed JSON log lines so far. */
  logs: Record<string, unknown>[];
  stderr: string[];
  api: ApiClient;
  waitForLog(pred: (l: Record<string, unknown>) => boolean, timeoutMs?: number): Promise<Record<string, unknown>>;
  kill(signal?: NodeJS.Signals): Promise<void>;
  stop(): Promise<void>;
}

type SpawnOptions = {
  dataDir?: string; port?: number; args?: string[]; nodeArgs?: string[];
  /** Another `tabgrid` entry point (a copy of the package elsewhere); bin/tabgrid.js by default. */
  cli?: string;
  env?: Record<string, string>;
};

/** What the coordinator says when its port was taken before it could listen (it then creates nothing). */
const PORT_TAKEN = /port \d+ on [^ ]+ is already in use/;

export async function spawnCoordinator(o: SpawnOptions = {}): Promise<SpawnedCoordinator> {
  // A free port is found, then handed to the coordinator: another process may take it in between (seen once in a
  // full run, beside other tests' coordinators). The coordinator then exits having created nothing: try another port.
  for (let attempt = 1; ; attempt++) {
    const dataDir = o.dataDir ?? mkdtempSync(join(tmpdir(), 'tabgrid-test-'));
    try {
      return await spawnOnce({ ...o, dataDir });
    } catch (err) {
      if (o.port !== undefined || attempt >= 3 || !PORT_TAKEN.test(String(err))) throw err;
    }
  }
}

async function spawnOnce(o: SpawnOptions & { dataDir: string }): Promise<SpawnedCoordinator> {
  const dataDir = o.dataDir;
  const port = o.port ?? await freePort();
  // Spot checks answer a random share of work requests with a known-answer copy (crypto-seeded on purpose), so a
  // test that counts copies or credit would depend on the draw: they are off unless a test turns them on itself.
  const spot = o.args?.includes('--spot-checks') ? [] : ['--spot-checks', '0'];
  const proc = spawn(process.execPath, [...(o.nodeArgs ?? []), o.cli ?? CLI, 'serve', '--host', '127.0.0.1', '--port', String(port), '--data', dataDir, '--distinct-copies', 'none', ...spot, ...(o.args ?? [])], {
    cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, TABGRID_LOG_LEVEL: 'debug', ...o.env },
  });
  const logs: Record<string, unknown>[] = [];
  const stderr: string[] = [];
  const waiters: { pred: (l: Record<string, unknown>) => boolean; resolve: (l: Record<string, unknown>) => void }[] = [];
  let buf = '';
  proc.stdout!.on('data', (chunk: Buffer) => {
    buf += chunk.toString();
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      try {
        const l = JSON.parse(line) as Record<string, unknown>;
        logs.push(l);
        for (const w of [...waiters]) if (w.pred(l)) { waiters.splice(waiters.indexOf(w), 1); w.resolve(l); }
      } catch { /* not a log line */ }
    }
  });
  proc.stderr!.on('data', (c: Buffer) => stderr.push(c.toString()));
  const exited = new Promise<void>((r) => proc.on('exit', () => r()));

  const waitForLog = (pred: (l: Record<string, unknown>) => boolean, timeoutMs = 30_000) => {
    const hit = logs.find(pred);
    if (hit) return Promise.resolve(hit);
    return new Promise<Record<string, unknown>>((res, rej) => {
      const t = setTimeout(() => rej(new Error(`no matching coordinator log line within ${timeoutMs} ms; stderr: ${stderr.join('').slice(-2000)}`)), timeoutMs);
      waiters.push({ pred, resolve: (l) => { clearTimeout(t); res(l); } });
    });
  };
  await Promise.race([
    waitForLog((l) => l.msg === 'coordinator listening', 60_000),
    exited.then(() => { throw new Error(`coordinator exited: ${stderr.join('')}`); }),
  ]);
  const token = readFileSync(join(dataDir, 'token'), 'utf8').trim();
  const url = `http://127.0.0.1:${port}`;
  return {
    url, port, token, dataDir, proc, logs, stderr, api: new ApiClient(url, token), waitForLog,
    async kill(signal = 'SIGKILL') {
      if (proc.exitCode === null && proc.signalCode === null) { proc.kill(signal); await exited; }
    },
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null) { proc.kill('SIGTERM'); await exited; }
    },
  };
}
