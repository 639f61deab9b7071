/**
 * Server processes for the benchmarks. Every server under test runs in its own
 * child process, so that each side has the same layout (one server process,
 * the clients elsewhere) and so that its RSS and CPU time can be read from
 * /proc without the load generator mixed in.
 *
 * Parent and child talk over Node's IPC channel: the child announces `ready`
 * with whatever the parent needs (its URL...), then answers requests by id.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';

const REPO = resolve(import.meta.dirname, '../..');
const RUN_TS = resolve(REPO, 'bin/run-ts.js');

/** Linux reports utime/stime in USER_HZ, which the kernel ABI fixes at 100 per second. */
const USER_HZ = 100;

type Handler = (arg: unknown) => unknown;
interface Request { id: number; op: string; arg?: unknown }
interface Response { id: number; ok: boolean; value?: unknown; error?: string }

/** Child side: announce readiness, then answer the parent's requests until it goes away. */
export function serveParent(ready: object, handlers: Record<string, Handler>): void {
  if (!process.send) throw new Error('this script is a benchmark child process; run it through npm run bench');
  process.on('message', async (m: Request) => {
    const h = handlers[m.op];
    let reply: Response;
    try {
      if (!h) throw new Error(`unknown op ${m.op}`);
      reply = { id: m.id, ok: true, value: await h(m.arg) };
    } catch (e) {
      reply = { id: m.id, ok: false, error: (e as Error).stack ?? String(e) };
    }
    process.send!(reply);
  });
  // A benchmark that crashed must not leave servers behind holding ports.
  process.on('disconnect', () => process.exit(0));
  process.send({ ready });
}

export interface ServerChild<R> {
  proc: ChildProcess;
  pid: number;
  ready: R;
  request<T>(op: string, arg?: unknown): Promise<T>;
  /** Resident set size now, from /proc/<pid>/status (VmRSS). */
  rssBytes(): number;
  /** User + system CPU time the process has used so far, ms (10 ms resolution). */
  cpuMs(): number;
  /** Lines the child wrote to stdout/stderr (the coordinator's warn-level log). */
  output: string[];
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** Asks the child to close and exit normally (so --cpu-prof can write), SIGKILL after `graceMs`. */
  stop(graceMs?: number): Promise<void>;
}

export async function startServerChild<R>(script: string, args: string[], o: { nodeArgs?: string[] } = {}): Promise<ServerChild<R>> {
  const proc = spawn(process.execPath, [...(o.nodeArgs ?? []), RUN_TS, resolve(REPO, script), ...args], {
    // Structured clone over IPC, so requests may carry binary (a recorded reply with its tensors).
    cwd: REPO, stdio: ['ignore', 'pipe', 'pipe', 'ipc'], serialization: 'advanced',
  });
  const output: string[] = [];
  const collect = (chunk: Buffer) => { for (const l of chunk.toString().split('\n')) if (l.trim()) output.push(l); };
  proc.stdout!.on('data', collect);
  proc.stderr!.on('data', collect);
  const exited = new Promise<void>((r) => proc.once('exit', () => r()));
  const pending = new Map<number, { res: (v: unknown) => void; rej: (e: Error) => void }>();
  let nextId = 1;
  let readyValue: R | undefined;
  const ready = new Promise<R>((res, rej) => {
    proc.on('message', (m: { ready?: R } & Partial<Response>) => {
      if (m.ready) { readyValue = m.ready; res(m.ready); return; }
      const p = pending.get(m.id!);
      if (!p) return;
      pending.delete(m.id!);
      if (m.ok) p.res(m.value);
      else p.rej(new Error(`${script} failed: ${m.error}`));
    });
    void exited.then(() => {
      const why = new Error(`${script} exited (code ${proc.exitCode}, signal ${proc.signalCode}); its output:\n${output.slice(-30).join('\n')}`);
      if (!readyValue) rej(why);
      for (const p of pending.values()) p.rej(why);
      pending.clear();
    });
  });
  const r = await ready;
  const pid = proc.pid!;
  return {
    proc, pid, ready: r, output,
    request<T>(op: string, arg?: unknown) {
      return new Promise<T>((res, rej) => {
        const id = nextId++;
        pending.set(id, { res: res as (v: unknown) => void, rej });
        proc.send({ id, op, arg } satisfies Request);
      });
    },
    rssBytes() {
      const m = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
      if (!m) throw new Error(`no VmRSS for process ${pid}`);
      return Number(m[1]) * 1024;
    },
    cpuMs() {
      // The command name (field 2) may hold spaces; fields are counted after its closing parenthesis.
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      return ((Number(f[11]) + Number(f[12])) * 1000) / USER_HZ;
    },
    async stop(graceMs = 15_000) {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      // No reply is awaited: the child exits right after closing, possibly before an answer could leave.
      proc.send({ id: 0, op: 'close' } satisfies Request);
      const t = setTimeout(() => proc.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(t);
    },
    async kill(signal: NodeJS.Signals = 'SIGTERM') {
      if (proc.exitCode === null && proc.signalCode === null) {
        proc.kill(signal);
        await exited;
      }
    },
  };
}
