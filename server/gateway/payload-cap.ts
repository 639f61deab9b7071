/**
 * The largest message one connection may send, enforced where the bytes are
 * read, before anything buffers them: ws checks a frame's declared length
 * against its receiver's limit as soon as the frame header arrives (and closes
 * with 1009, Message Too Big), and engine.io's polling transport stops reading
 * a request body at its limit (413). The upload budget (upload-guard.ts) sees a
 * message only once it is whole, so without this cap every socket could make
 * the coordinator hold a full-size message first: ten strangers sending 30 MiB
 * raised its RSS from 183 to 529 MiB although each was refused.
 *
 * engine.io takes one limit for every connection (`maxHttpBufferSize`, also
 * ws's `maxPayload`); the coordinator sets it to the small allowance and
 * raises it here, per connection, while the connection holds a copy (to what
 * that copy's result can be: core/limits/result-allowance.ts). ws keeps the limit
 * on its receiver (`_receiver._maxPayload`, ws 8.x): not public API, so a ws
 * that moved it is refused loudly rather than left uncapped.
 */

/** engine.io's transport, as far as the cap needs it. */
interface EngineTransport {
  name: string;
  /** polling: bytes one request body may carry. */
  maxHttpBufferSize?: number;
  /** websocket: the ws WebSocket. */
  socket?: { _receiver?: { _maxPayload?: unknown } | null };
}

/**
 * Sets the largest message `transport` reads from now on: `messageBytes` for
 * one WebSocket message; a polling request body carries every packet sent
 * since the last one (up to `inFlightBytes`) with binary as base64, 4 bytes
 * for every 3.
 */
export function capMessages(transport: unknown, messageBytes: number, inFlightBytes = messageBytes): void {
  const t = transport as EngineTransport;
  if (t.name === 'polling') {
    t.maxHttpBufferSize = Math.ceil((Math.max(messageBytes, inFlightBytes) * 4) / 3);
    return;
  }
  if (t.name === 'websocket') {
    const receiver = t.socket?._receiver;
    if (!receiver || typeof receiver._maxPayload !== 'number') {
      throw new Error('ws no longer keeps its payload limit at _receiver._maxPayload: cannot cap this connection\'s messages');
    }
    receiver._maxPayload = messageBytes;
    return;
  }
  throw new Error(`cannot cap messages on engine.io transport ${JSON.stringify(t.name)}`);
}

/**
 * Calls `refused` when ws closes `transport` for a message over its cap (a
 * polling request over it is answered 413 and leaves the connection open).
 */
export function onOversize(transport: unknown, refused: (why: string) => void): void {
  const ws = (transport as { name: string; socket?: { on?(e: 'error', f: (e: Error & { code?: string }) => void): void } });
  if (ws.name !== 'websocket' || typeof ws.socket?.on !== 'function') return;
  ws.socket.on('error', (e) => { if (e.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH') refused(e.message); });
}
