/**
 * The bare socket.io baseline: an HTTP server with socket.io 4.8 whose one
 * event acknowledges with the payload it received. Same socket.io options as
 * the coordinator (server/app.ts), so the only difference the benchmark sees
 * is what the coordinator does per message.
 *
 * argv: [--durable FILE]: the durable floor. Each payload is first INSERTed
 * into an SQLite file set up as the coordinator's store sets up its own (WAL,
 * synchronous=NORMAL), in one transaction per event-loop turn, and the echo
 * answers only after that COMMIT: the least any server can do per result and
 * still call it persisted (one socket.io round trip, one row written), against
 * which the coordinator's own work per result can be told apart from the
 * price of durability on this machine.
 *
 * argv: --durable FILE --protocol: the protocol floor. The server speaks the
 * volunteer protocol's lean path instead of `echo`: it answers `hello`,
 * answers `work:request` and `work:result` with a reply the real coordinator
 * gave (recorded by the parent and set with the `setReply` request: the next
 * assignment with its 1 KiB input, the news it carried), and INSERTs each
 * result's output bytes as the durable floor does, answering after the
 * COMMIT. The bench's volunteers drive it with the same code as the
 * coordinator, so its rate is the most a coordinator exchanging these very
 * messages, durably, could reach on this machine with this load generator.
 */
import Database from 'better-sqlite3';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Server } from 'socket.io';
import { SOCKET_PATH } from '../../shared/protocol/version.ts';
import { serveParent } from '../lib/child.ts';

const http = createServer();
const io = new Server(http, {
  path: SOCKET_PATH,
  maxHttpBufferSize: 16 * 1024 * 1024 * 2 + 1024 * 1024,
  cors: { origin: true, credentials: false },
  pingInterval: 10_000,
  pingTimeout: 20_000,
});
const durableAt = process.argv.indexOf('--durable');
const persist = durableAt >= 0 ? durable(process.argv[durableAt + 1]!) : null;

const protocol = process.argv.includes('--protocol');
if (protocol && !persist) throw new Error('--protocol needs --durable FILE');
/** A `work:result` reply of the real coordinator; its `next` answers `work:request`. */
let recorded: { next?: unknown } | null = null;

io.on('connection', (socket) => {
  if (protocol) {
    socket.on('hello', (_req: unknown, ack: unknown) => { if (typeof ack === 'function') ack({ ok: true }); });
    socket.on('work:request', (_req: unknown, ack: unknown) => {
      if (typeof ack !== 'function') return;
      ack(recorded ? { ok: true, ...recorded.next as object } : { ok: false, code: 'internal', error: 'no reply recorded yet' });
    });
    socket.on('work:result', (req: { outputs?: { data?: unknown }[] } | undefined, ack: unknown) => {
      if (typeof ack !== 'function') return;
      const data = req?.outputs?.[0]?.data;
      if (!recorded || !(data instanceof Uint8Array)) { ack({ ok: false, code: 'bad_request', error: 'no reply recorded, or no output bytes' }); return; }
      const reply = recorded;
      persist!(socket.id, data, () => ack(reply));
    });
    return;
  }
  socket.on('echo', (data: unknown, ack: unknown) => {
    if (typeof ack !== 'function') return;
    if (persist) persist(socket.id, data as Uint8Array, () => ack(data));
    else ack(data);
  });
});

function durable(file: string) {
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.pragma('wal_autocheckpoint = 8192');
  db.exec('CREATE TABLE IF NOT EXISTS results (id INTEGER PRIMARY KEY, socket TEXT NOT NULL, data BLOB NOT NULL)');
  const insert = db.prepare('INSERT INTO results (socket, data) VALUES (?, ?)');
  let waiting: (() => void)[] | null = null;
  const commit = () => {
    const w = waiting!;
    waiting = null;
    db.exec('COMMIT');
    for (const done of w) done();
  };
  return (socket: string, data: Uint8Array, done: () => void) => {
    if (!waiting) { db.exec('BEGIN IMMEDIATE'); waiting = []; setImmediate(commit); }
    insert.run(socket, data);
    waiting.push(done);
  };
}
await new Promise<void>((r) => http.listen(0, '127.0.0.1', () => r()));
const { port } = http.address() as AddressInfo;

serveParent({ url: `http://127.0.0.1:${port}` }, {
  gc: () => { globalThis.gc?.(); return process.memoryUsage(); },
  setReply: (reply) => { recorded = reply as { next?: unknown }; return null; },
  close: async () => {
    io.disconnectSockets(true);
    await new Promise<void>((r) => io.close(() => r()));
    setImmediate(() => process.exit(0));
    return null;
  },
});
