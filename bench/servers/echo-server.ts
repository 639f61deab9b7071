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

io.on('connection', (socket) => {
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
  close: async () => {
    io.disconnectSockets(true);
    await new Promise<void>((r) => io.close(() => r()));
    setImmediate(() => process.exit(0));
    return null;
  },
});
