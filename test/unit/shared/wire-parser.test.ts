/**
 * socket.io's parser as the protocol uses it: a result carries one binary
 * attachment per tensor, and socket.io-parser's default Decoder refuses more
 * than 10 (the receiver then closes the connection: a sync transformer shard's
 * 32 gradients dropped its volunteer, issue 16).
 */
import { Decoder, Encoder, type Packet, PacketType } from 'socket.io-parser';
import { describe, expect, it } from 'vitest';
import { MAX_WIRE_TENSORS, wireParser } from '../../../shared/protocol/wire-parser.ts';
import { ResultUploadSchema } from '../../../shared/protocol/schemas.ts';
import * as v from 'valibot';

/** A `work:result` event as a client emits it: one tensor per output. */
function resultPacket(tensors: number): Packet {
  const outputs = Array.from({ length: tensors }, (_, i) => ({ name: `g${i}`, dtype: 'float32', dims: [1], data: new Uint8Array(4) }));
  return { type: PacketType.EVENT, nsp: '/', id: 1, data: ['work:result', { copyId: 'VP7up7uaW4P6Y6hsLiyuRk', outputs, computeMs: 1 }] };
}

/** Feeds `packet`, encoded, to a decoder; resolves with what it decoded or throws what it refused. */
function roundTrip(decoder: Decoder, packet: Packet): { outputs: unknown[] } {
  let got: unknown;
  decoder.on('decoded', (p: Packet) => { got = p.data[1]; });
  for (const part of new Encoder().encode(packet)) decoder.add(part);
  return got as { outputs: unknown[] };
}

describe('wire parser', () => {
  it('decodes a result of 32 tensors, which socket.io-parser\'s default decoder refuses', () => {
    expect(() => roundTrip(new Decoder(), resultPacket(32))).toThrow('too many attachments');
    expect(roundTrip(new wireParser.Decoder(), resultPacket(32)).outputs).toHaveLength(32);
  });

  it('allows as many tensors as a result may carry, and refuses one more before reading any', () => {
    const most = roundTrip(new wireParser.Decoder(), resultPacket(MAX_WIRE_TENSORS));
    expect(most.outputs).toHaveLength(MAX_WIRE_TENSORS);
    expect(v.safeParse(ResultUploadSchema, most).success).toBe(true);
    expect(() => roundTrip(new wireParser.Decoder(), resultPacket(MAX_WIRE_TENSORS + 1))).toThrow('too many attachments');
  });
});
