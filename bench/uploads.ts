/**
 * What hostile uploads cost the coordinator in memory: `--uploads-sockets`
 * connections (default 10) that never say hello each send one
 * `--uploads-mib` message (default 30 MiB, under the default largest socket
 * message of 33 MiB) to a coordinator on default settings. Each is refused;
 * the figures are the coordinator's resident memory (/proc/<pid>/status)
 * before, at its peak (VmHWM) and a second after the last socket closed.
 *
 * `--uploads-hello`: the sockets say hello first (anyone may) but hold no
 * copy: before each connection's cap followed the copies it holds, hello
 * alone let each send a whole result-sized message.
 *
 * `--uploads-against DIR` also measures the checkout at DIR (its
 * bin/tabgrid.js), first, in the same run: a before/after comparison.
 */
import { readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { io, type Socket } from 'socket.io-client';
import { PROTOCOL_VERSION, SOCKET_PATH } from '../shared/protocol/version.ts';
import { nodeCapabilities } from '../cli/commands/worker-node.ts';
import { spawnCoordinator } from '../test/helpers/coordinator.ts';
import type { Flags } from './lib/flags.ts';
import { round, table } from './lib/stats.ts';

export const UPLOADS_FLAGS = ['uploads-sockets', 'uploads-mib', 'uploads-against', 'uploads-hello'] as const;

const MiB = 1024 * 1024;

function status(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB$`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!m) throw new Error(`no ${field} for pid ${pid}`);
  return Number(m[1]) * 1024;
}

interface Run { rssBefore: number; rssPeak: number; rssAfter: number; closed: number }

async function measure(cli: string | undefined, sockets: number, bytes: number, hello: boolean): Promise<Run> {
  const c = await spawnCoordinator({ ...(cli ? { cli } : {}) });
  try {
    const pid = c.proc.pid!;
    await new Promise((r) => setTimeout(r, 1000));
    const rssBefore = status(pid, 'VmRSS');
    const conns = await Promise.all(Array.from({ length: sockets }, () => new Promise<Socket>((res, rej) => {
      const s = io(c.url, { path: SOCKET_PATH, auth: { protocol: PROTOCOL_VERSION }, transports: ['websocket'], forceNew: true, reconnection: false });
      s.once('connect', () => res(s));
      s.once('connect_error', rej);
    })));
    if (hello) {
      await Promise.all(conns.map((s) => s.timeout(60_000).emitWithAck('hello', { backend: 'wasm', capabilities: nodeCapabilities() })));
    }
    // A socket that said hello and holds no copy is dropped at the frame header now; before, it was answered
    // (its result refused) after the coordinator had buffered the whole message.
    const closed = conns.map((s) => new Promise<boolean>((res) => {
      const t = setTimeout(() => res(false), hello ? 15_000 : 120_000);
      s.once('disconnect', () => { clearTimeout(t); res(true); });
    }));
    const payload = new Uint8Array(bytes).fill(7);
    for (const s of conns) {
      // A result event whose one binary attachment is the whole message: what an honest upload looks like on the wire.
      const engine = (s as unknown as { io: { engine: { send(d: string | Uint8Array): void } } }).io.engine;
      engine.send('51-["work:result",{"_placeholder":true,"num":0}]');
      engine.send(payload);
    }
    const done = await Promise.all(closed);
    await new Promise((r) => setTimeout(r, 1000));
    const run = { rssBefore, rssPeak: status(pid, 'VmHWM'), rssAfter: status(pid, 'VmRSS'), closed: done.filter(Boolean).length };
    for (const s of conns) s.close();
    return run;
  } finally {
    await c.stop();
  }
}

export async function uploadsBench(flags: Flags, log: (line: string) => void): Promise<Record<string, number | string>> {
  const sockets = flags.int('uploads-sockets', 10);
  const mib = flags.number('uploads-mib', 30);
  const against = flags.string('uploads-against') ?? '';
  const hello = flags.has('uploads-hello');
  log(`${sockets} sockets that ${hello ? 'say hello, then' : 'never say hello,'} each send a ${mib} MiB message; load average ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
  const runs: [string, Run][] = [];
  if (against) runs.push([`baseline ${against}`, await measure(join(resolve(against), 'bin/tabgrid.js'), sockets, mib * MiB, hello)]);
  runs.push(['this checkout', await measure(undefined, sockets, mib * MiB, hello)]);
  log(table(['coordinator', 'RSS before MiB', 'peak MiB', 'after MiB', 'sockets dropped'], runs.map(([name, r]) => [
    name, round(r.rssBefore / MiB), round(r.rssPeak / MiB), round(r.rssAfter / MiB), `${r.closed}/${sockets}`,
  ])));
  const mine = runs.at(-1)![1];
  const base = against ? runs[0]![1] : null;
  return {
    uploads_rss_before_mib: round(mine.rssBefore / MiB, 1),
    uploads_rss_peak_mib: round(mine.rssPeak / MiB, 1),
    uploads_rss_after_mib: round(mine.rssAfter / MiB, 1),
    ...(base ? {
      uploads_baseline_rss_before_mib: round(base.rssBefore / MiB, 1),
      uploads_baseline_rss_peak_mib: round(base.rssPeak / MiB, 1),
      uploads_baseline_rss_after_mib: round(base.rssAfter / MiB, 1),
    } : {}),
  };
}
