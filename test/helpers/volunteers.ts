/** In-process volunteers for tests: honest ones, and ones that lie. */
import { io, type ManagerOptions, type SocketOptions } from 'socket.io-client';
import { blobLoader, nodeCapabilities } from '../../cli/commands/worker-node.ts';
import type { WireTensor } from '../../shared/protocol/events.ts';
import { PROTOCOL_VERSION, SOCKET_PATH } from '../../shared/protocol/version.ts';
import { typedView } from '../../shared/tensor/tensor.ts';
import { MemoryPendingStore } from '../../shared/volunteer/pending.ts';
import { Volunteer, type VolunteerHooks, type VolunteerSocket } from '../../shared/volunteer/volunteer.ts';
import { ShardExecutor } from '../../shared/worker-core/executor.ts';
import { ort } from '../../server/models/ort-node.ts';
import { wireParser } from '../../shared/protocol/wire-parser.ts';

export type Tamper = (outputs: WireTensor[]) => WireTensor[];

/** Multiplies every float32 output element by `factor`. */
export const scaleOutputs = (factor: number): Tamper => (outs) => outs.map((o) => {
  if (o.dtype !== 'float32') return o;
  const v = Float32Array.from(typedView(o as WireTensor & { dtype: 'float32' }), (x) => x * factor + 0.5);
  return { ...o, data: new Uint8Array(v.buffer) };
});

export interface TestVolunteer {
  volunteer: Volunteer;
  socket: VolunteerSocket;
  uploaded: string[];
  outcomes: { copyId: string; outcome: string; reason?: string; credit: number }[];
  account: () => string | null;
  stop(): Promise<void>;
}

export function startVolunteer(server: string, o: {
  tamper?: Tamper; wallet?: string; hooks?: VolunteerHooks;
  /** The coordinator's operator token: this volunteer is one of the operator's own hosts, trusted from the start. */
  operatorToken?: string;
  /** An embed's hello: the project it computes for and the page it is on. */
  embed?: { projectId: string; embedOrigin: string };
  /** The local address the socket connects from (any 127.x.y.z reaches a coordinator on 127.0.0.1): another network. */
  localAddress?: string;
  /** Stands between the volunteer loop and its socket (a test that orders volunteers' requests). */
  wrapSocket?: (s: VolunteerSocket) => VolunteerSocket;
  /** More socket.io client options (transports, extraHeaders...). */
  socketOptions?: Partial<ManagerOptions & SocketOptions>;
} = {}): TestVolunteer {
  const executor = new ShardExecutor({ ort, backend: 'wasm', loadBlob: blobLoader(server) });
  const raw: VolunteerSocket = io(server, { path: SOCKET_PATH, auth: { protocol: PROTOCOL_VERSION }, transports: ['websocket'], autoConnect: false, parser: wireParser, ...(o.localAddress ? { localAddress: o.localAddress } : {}), ...o.socketOptions });
  const socket = o.wrapSocket ? o.wrapSocket(raw) : raw;
  const uploaded: string[] = [];
  const outcomes: TestVolunteer['outcomes'] = [];
  const volunteer = new Volunteer({
    socket,
    hello: { backend: 'wasm', capabilities: nodeCapabilities(), ...(o.wallet ? { wallet: o.wallet } : {}), ...(o.operatorToken ? { operatorToken: o.operatorToken } : {}), ...o.embed },
    execute: async (a, abort) => {
      const r = await executor.run(a, abort);
      return o.tamper ? { ...r, outputs: o.tamper(r.outputs) } : r;
    },
    pending: new MemoryPendingStore(),
    hooks: {
      ...o.hooks,
      uploaded: (id, status) => { uploaded.push(id); o.hooks?.uploaded?.(id, status); },
      outcome: (x) => { outcomes.push(x); o.hooks?.outcome?.(x); },
    },
  });
  volunteer.start();
  return {
    volunteer, socket, uploaded, outcomes, account: () => volunteer.account,
    async stop() {
      await volunteer.stop();
      raw.disconnect();
      await executor.dispose();
    },
  };
}
