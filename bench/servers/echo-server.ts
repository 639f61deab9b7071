/**
 * The bare socket.io baseline: an HTTP server with socket.io 4.8 whose one
 * event acknowledges with the payload it received. Same socket.io options as
 * the coordinator (server/app.ts), so the only difference the benchmark sees
 * is what the coordinator does per message.
 */
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
io.on('connection', (socket) => {
  socket.on('echo', (data: unknown, ack: unknown) => {
    if (typeof ack === 'function') ack(data);
  });
});
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
