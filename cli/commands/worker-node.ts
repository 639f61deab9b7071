/**
 * `tabgrid worker --node N`: N volunteers in this process, each with its own
 * identity and socket, sharing one onnxruntime-web (WASM) executor.
 */
import { createHash } from 'node:crypto';
import { io } from 'socket.io-client';
import { fetchRetryingStale } from '../../shared/http/client.ts';
import type { BlobRef, Capabilities } from '../../shared/protocol/events.ts';
import { PROTOCOL_VERSION, SOCKET_PATH } from '../../shared/protocol/version.ts';
import { wireParser } from '../../shared/protocol/wire-parser.ts';
import { RECONNECT_OPTIONS } from '../../shared/volunteer/backoff.ts';
import { MemoryPendingStore } from '../../shared/volunteer/pending.ts';
import { type JoinOutcome, Volunteer, type VolunteerHooks, type VolunteerSocket } from '../../shared/volunteer/volunteer.ts';
import { ShardExecutor } from '../../shared/worker-core/executor.ts';
import { ort } from '../../server/models/ort-node.ts';

export function nodeCapabilities(): Capabilities {
  return { agent: 'node', backends: ['wasm'], ortVersion: ort.env.versions.web ?? 'unknown', threads: 1 };
}

/** Fetches a blob from the coordinator and checks it against its hash. */
export function blobLoader(server: string) {
  const cache = new Map<string, Promise<Uint8Array>>();
  return (ref: BlobRef): Promise<Uint8Array> => {
    let p = cache.get(ref.hash);
    if (!p) {
      p = (async () => {
        // The typed client's retry rule: a shard's compute blocks this process's event loop for seconds, so undici can
        // pick a keep-alive socket the coordinator has meanwhile closed as idle; the GET goes again on a fresh one.
        // Without it the copy failed, and with replicas as many as volunteers the shard had no one left to take it.
        const res = await fetchRetryingStale(server, 'GET', new URL(ref.url, server));
        if (!res.ok) throw new Error(`cannot fetch ${ref.url}: ${res.status}`);
        const bytes = new Uint8Array(await res.arrayBuffer());
        const got = createHash('sha256').update(bytes).digest('hex');
        if (got !== ref.hash) throw new Error(`blob ${ref.url} hashes to ${got}, not ${ref.hash}`);
        return bytes;
      })();
      p.catch(() => cache.delete(ref.hash));
      cache.set(ref.hash, p);
      // Training publishes new weights every round: keep only the recent blobs.
      while (cache.size > 8) cache.delete(cache.keys().next().value!);
    }
    return p;
  };
}

/** `--join`'s value: a bare invite code, or an invite link. */
export { inviteCodeOf } from '../../shared/protocol/schemas.ts';

export interface NodeWorkerOptions {
  server: string;
  count: number;
  wallet?: string;
  /** The coordinator's operator token: these volunteers are the operator's own hosts, trusted from the start. */
  operatorToken?: string;
  intensity?: number;
  hooks?: (i: number) => VolunteerHooks;
  /** Invite codes of private projects' groups every volunteer joins (after each hello). */
  join?: readonly string[];
  /** What joining said, per volunteer. */
  joined?: (i: number, r: { ok: true; project: string; already: boolean } | { ok: false; error: string }) => void;
}

export function startNodeVolunteers(o: NodeWorkerOptions): { volunteers: Volunteer[]; sockets: VolunteerSocket[]; stop(): Promise<void> } {
  const executor = new ShardExecutor({ ort, backend: 'wasm', loadBlob: blobLoader(o.server), maxSessions: 4, warn: (m) => console.warn(m) });
  const sockets: VolunteerSocket[] = [];
  const volunteers: Volunteer[] = [];
  for (let i = 0; i < o.count; i++) {
    const socket: VolunteerSocket = io(o.server, { path: SOCKET_PATH, auth: { protocol: PROTOCOL_VERSION }, transports: ['websocket'], autoConnect: false, parser: wireParser, ...RECONNECT_OPTIONS });
    const v = new Volunteer({
      socket,
      hello: { backend: 'wasm', capabilities: nodeCapabilities(), ...(o.wallet ? { wallet: o.wallet } : {}), ...(o.operatorToken ? { operatorToken: o.operatorToken } : {}) },
      execute: (a, abort) => executor.run(a, abort),
      pending: new MemoryPendingStore(),
      // The executor holds local-steps jobs' weights in memory for all of them: freed when a job ends.
      keptWeights: { jobs: async () => executor.heldJobs(), drop: async (ids) => executor.forget(ids) },
      intensity: o.intensity ?? 1,
      ...(o.join?.length ? { join: o.join } : {}),
      hooks: withJoined(o.hooks?.(i), o.joined && ((r: JoinOutcome) => o.joined!(i, r.ok ? { ok: true, project: r.project.name, already: r.already } : { ok: false, error: r.error }))),
    });
    sockets.push(socket);
    volunteers.push(v);
    v.start();
  }
  return {
    volunteers, sockets,
    async stop() {
      await Promise.all(volunteers.map((v) => v.stop()));
      for (const s of sockets) s.disconnect();
      await executor.dispose();
    },
  };
}

function withJoined(h: VolunteerHooks | undefined, joined: ((r: JoinOutcome) => void) | undefined): VolunteerHooks | undefined {
  if (!joined) return h;
  return { ...h, joined: (r) => { h?.joined?.(r); joined(r); } };
}
