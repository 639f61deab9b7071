// socket.io's websocket layer (ws) unmasks every frame a client sends: for a 512 KiB result that is a
// millisecond of JavaScript per shard unless bufferutil's native code loads (ws uses it when it is installed;
// it comes from its prebuilt binary, npm runs no install script for it). If the prebuild stopped loading,
// ws would fall back to JavaScript silently: fail here instead.
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';

const require = createRequire(import.meta.url);

describe('websocket frame masking', () => {
  it('runs bufferutil\'s native code, and it unmasks correctly', () => {
    const bufferutil = require('bufferutil') as { unmask: (b: Buffer, m: Buffer) => void };
    expect(String(bufferutil.unmask)).toContain('[native code]');
    const data = Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 7) & 0xff));
    const mask = Buffer.from([1, 2, 3, 4]);
    const copy = Buffer.from(data);
    bufferutil.unmask(copy, mask);
    expect(copy.every((b, i) => b === (data[i]! ^ mask[i & 3]!))).toBe(true);
  });
});
