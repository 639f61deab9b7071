import { describe, expect, it } from 'vitest';
import { isSha256Hex, sha256Hex } from '../../../shared/hash.ts';
import { readShared } from './shared-data.ts';

describe('sha256Hex', () => {
  it('matches the FIPS 180-2 vectors', () => {
    expect(sha256Hex(new Uint8Array(0))).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
    expect(sha256Hex(new TextEncoder().encode('abc'))).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
    expect(sha256Hex(new TextEncoder().encode('abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq')))
      .toBe('248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1');
  });

  it('hashes only the view it is given, not the whole buffer', () => {
    const buf = new TextEncoder().encode('xxabcxx');
    expect(sha256Hex(buf.subarray(2, 5))).toBe(sha256Hex(new TextEncoder().encode('abc')));
  });

  it('agrees with Node crypto on a real model file', async () => {
    const { createHash } = await import('node:crypto');
    const bytes = readShared('light/light_resnet50.onnx');
    expect(sha256Hex(bytes)).toBe(createHash('sha256').update(bytes).digest('hex'));
  });
});

describe('isSha256Hex', () => {
  it('accepts exactly 64 lowercase hex digits', () => {
    expect(isSha256Hex('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855')).toBe(true);
    expect(isSha256Hex('E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855')).toBe(false);
    expect(isSha256Hex('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b85')).toBe(false);
    expect(isSha256Hex('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n')).toBe(false);
    expect(isSha256Hex(null)).toBe(false);
  });
});
