/**
 * socket.io's packet parser, allowed as many binary attachments as a message
 * of the protocol may carry. Every tensor on the wire (WireTensor.data) is one
 * attachment, and socket.io-parser's Decoder refuses a packet with more than
 * 10 by default ("too many attachments"): the receiving side then closes the
 * connection, which the other side sees as engine.io's "forced close". A
 * sync-mode transformer shard returns a gradient per parameter (32 tensors
 * for 2 layers), so its volunteers were dropped on every upload.
 *
 * Raising the count costs no memory guard: each attachment is one message,
 * capped by the transport (gateway/payload-cap.ts) and charged to the upload
 * budget as it arrives (gateway/upload-guard.ts), however many there are.
 * The coordinator, `tabgrid worker --node` and the contributor page all use
 * this parser (the client side for assignments, which carry a shard's inputs
 * inline).
 */
import { Decoder, Encoder } from 'socket.io-parser';

/** The most tensors one result upload (or assignment) carries; ResultUploadSchema says the same. */
export const MAX_WIRE_TENSORS = 256;

class WireDecoder extends Decoder {
  constructor(opts?: ConstructorParameters<typeof Decoder>[0]) {
    super({ ...(typeof opts === 'function' ? { reviver: opts } : opts), maxAttachments: MAX_WIRE_TENSORS });
  }
}

/** Pass as socket.io's `parser` option, on the server and in clients alike. */
export const wireParser = { Encoder, Decoder: WireDecoder };
