/**
 * The coordinator's draws (which shard a claim gets, whether a copy is a
 * spot check, which known answer it uses): uniform in [0, 1), from a seed.
 * A seed from crypto.randomBytes per coordinator makes them unpredictable
 * to volunteers; a seed given by a test makes them repeatable. The stream is
 * HMAC-SHA256(seed, counter): no one who sees some draws can compute the
 * next ones, which a plain PRNG (xorshift, Math.random) does not promise.
 */
import { createHmac, randomBytes } from 'node:crypto';

export type Draw = () => number;

export function seededDraw(seed: Uint8Array | string = randomBytes(32)): Draw {
  const key = typeof seed === 'string' ? Buffer.from(seed, 'utf8') : Buffer.from(seed);
  let counter = 0n;
  let block = Buffer.alloc(0);
  let at = 0;
  return () => {
    if (at + 8 > block.length) {
      const c = Buffer.alloc(8);
      c.writeBigUInt64BE(counter++);
      block = createHmac('sha256', key).update(c).digest();
      at = 0;
    }
    // 53 random bits: every double in [0, 1) a multiple of 2^-53.
    const hi = block.readUInt32BE(at) >>> 11;
    const lo = block.readUInt32BE(at + 4);
    at += 8;
    return (hi * 2 ** 32 + lo) / 2 ** 53;
  };
}
