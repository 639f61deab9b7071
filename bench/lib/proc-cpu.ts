/**
 * CPU time of whole process trees from /proc (Linux): Chromium runs as a
 * dozen processes (browser, renderers, GPU and storage services), and a
 * tab's cost per shard is spread over several of them (IndexedDB lives in
 * the browser process, the page and its workers in a renderer).
 */
import { readdirSync, readFileSync } from 'node:fs';

/** Linux reports utime/stime in USER_HZ, which the kernel ABI fixes at 100 per second. */
const USER_HZ = 100;

interface Proc { pid: number; ppid: number; comm: string; cpuMs: number }

function snapshot(): Map<number, Proc> {
  const out = new Map<number, Proc>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${name}/stat`, 'utf8');
    } catch {
      continue; // exited meanwhile
    }
    // The command name (field 2) may hold spaces; fields are counted after its closing parenthesis.
    const close = stat.lastIndexOf(')');
    const f = stat.slice(close + 2).split(' ');
    out.set(Number(name), {
      pid: Number(name), ppid: Number(f[1]), comm: stat.slice(stat.indexOf('(') + 1, close),
      cpuMs: ((Number(f[11]) + Number(f[12])) * 1000) / USER_HZ,
    });
  }
  return out;
}

function descendants(procs: Map<number, Proc>, root: number): number[] {
  const children = new Map<number, number[]>();
  for (const p of procs.values()) {
    const list = children.get(p.ppid);
    if (list) list.push(p.pid); else children.set(p.ppid, [p.pid]);
  }
  const out: number[] = [];
  const stack = [root];
  while (stack.length) {
    const pid = stack.pop()!;
    if (procs.has(pid)) out.push(pid);
    stack.push(...(children.get(pid) ?? []));
  }
  return out;
}

/** Chromium's role for a process, from its command line: browser, renderer, gpu-process, utility:network... */
function chromiumRole(pid: number): string {
  let args: string[];
  try {
    // Chromium rewrites its child processes' titles: their arguments are then space-separated, not NUL-separated.
    args = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split(/[\0 ]/);
  } catch {
    return 'gone';
  }
  const flag = (name: string) => args.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
  const type = flag('type');
  if (!type) return 'browser';
  const sub = flag('utility-sub-type');
  return type === 'utility' && sub ? `utility:${sub.replace(/\.mojom\.\w+$/, '')}` : type;
}

export interface CpuSample {
  /** All Chromium processes this process launched (its children named chrom*, with their descendants). */
  chromium: number;
  /** The same, by Chromium process role (browser, renderer, gpu-process, utility:...). */
  roles: Record<string, number>;
  /** The process tree rooted at the pid given. */
  other: number;
}

/**
 * CPU ms used so far by Chromium and by the process tree rooted at `other`.
 * Time of processes that already exited is not counted, so take differences
 * over spans in which none exit.
 */
export function cpuMsNow(other: number): CpuSample {
  const procs = snapshot();
  const roles: Record<string, number> = {};
  let chromium = 0;
  for (const p of procs.values()) {
    if (p.ppid !== process.pid || !/chrom|headless/i.test(p.comm)) continue;
    for (const pid of descendants(procs, p.pid)) {
      const ms = procs.get(pid)!.cpuMs;
      chromium += ms;
      const role = chromiumRole(pid);
      roles[role] = (roles[role] ?? 0) + ms;
    }
  }
  const otherMs = descendants(procs, other).reduce((a, pid) => a + procs.get(pid)!.cpuMs, 0);
  return { chromium, roles, other: otherMs };
}

/** b - a per role, divided by `units`. */
export function rolesPer(a: CpuSample, b: CpuSample, units: number): Record<string, number> {
  const out: Record<string, number> = {};
  for (const k of new Set([...Object.keys(a.roles), ...Object.keys(b.roles)])) out[k] = ((b.roles[k] ?? 0) - (a.roles[k] ?? 0)) / units;
  return out;
}

/**
 * CPU ms used so far by every process whose command name matches (a database
 * server's backends, which no process tree of ours contains). Backends that
 * exit between two readings take their time with them.
 */
export function cpuMsOfCommand(name: RegExp): number {
  let ms = 0;
  for (const p of snapshot().values()) if (name.test(p.comm)) ms += p.cpuMs;
  return ms;
}
