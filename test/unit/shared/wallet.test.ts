import { describe, expect, it } from 'vitest';
import { addressFromPrivateKey, createWallet, isWallet, toChecksumAddress, walletProblem } from '../../../shared/wallet.ts';

// the test vectors of EIP-55 itself
const EIP55 = [
  '0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed',
  '0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359',
  '0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB',
  '0xD1220A0cf47c7B9Be7A2E6BA89F429762e7b9aDb',
  '0x52908400098527886E0F7030069857D2E4169EE7',
  '0x8617E340B3D01FA5F11F306F4090FD50E238070D',
  '0xde709f2102306220921060314715629080e2fb77',
  '0x27b1fdb04752bbc536007a920d24acb045561c26',
];

describe('EIP-55 checksums', () => {
  it('reproduces the spec vectors from lowercase and uppercase input', () => {
    for (const a of EIP55) {
      expect(toChecksumAddress(a.toLowerCase())).toBe(a);
      expect(toChecksumAddress(`0x${a.slice(2).toUpperCase()}`)).toBe(a);
      expect(walletProblem(a)).toBeNull();
      expect(isWallet(a)).toBe(true);
    }
  });

  it('accepts all-lowercase and all-uppercase addresses, which carry no checksum', () => {
    expect(walletProblem('0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed')).toBeNull();
    expect(walletProblem('0x5AAEB6053F3E94C9B9A09F33669435E7EF1BEAED')).toBeNull();
  });

  it('catches a mistyped mixed-case address and suggests the right one', () => {
    const typo = '0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeD';
    expect(walletProblem(typo)).toBe('mixed-case address fails its EIP-55 checksum; did you mean 0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed?');
    expect(isWallet(typo)).toBe(false);
  });

  it('rejects strings that are not 0x and 40 hex digits', () => {
    for (const s of ['', '0x', '5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed', '0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAe',
      '0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAedd', '0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeg', ' 0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed']) {
      expect(walletProblem(s), JSON.stringify(s)).toBe('a wallet is 0x followed by 40 hex digits');
    }
    expect(isWallet(42)).toBe(false);
    expect(() => toChecksumAddress('0x123')).toThrow('a wallet is 0x followed by 40 hex digits');
  });
});

describe('keys', () => {
  it('derives the known address of a known private key', () => {
    const key = '0x4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318';
    expect(addressFromPrivateKey(key)).toBe('0x2c7536E3605D9C16a7a3D7b1898e529396a65c23');
    expect(addressFromPrivateKey(key.slice(2).toUpperCase())).toBe('0x2c7536E3605D9C16a7a3D7b1898e529396a65c23');
  });

  it('rejects malformed and out-of-range private keys', () => {
    expect(() => addressFromPrivateKey('0x1234')).toThrow('a private key is 32 bytes');
    expect(() => addressFromPrivateKey(`0x${'0'.repeat(64)}`)).toThrow('out of range');
    expect(() => addressFromPrivateKey(`0x${'f'.repeat(64)}`)).toThrow('out of range');
  });

  it('creates fresh wallets whose address matches their key', () => {
    const a = createWallet();
    const b = createWallet();
    expect(a.privateKey).toMatch(/^0x[0-9a-f]{64}$/);
    expect(a.privateKey).not.toBe(b.privateKey);
    expect(walletProblem(a.address)).toBeNull();
    expect(a.address).toBe(toChecksumAddress(a.address));
    expect(addressFromPrivateKey(a.privateKey)).toBe(a.address);
  });
});
