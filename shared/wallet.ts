import { secp256k1 } from '@noble/curves/secp256k1.js';
import { keccak_256 } from '@noble/hashes/sha3.js';
import { bytesToHex, hexToBytes } from '@noble/hashes/utils.js';

/**
 * EVM wallet addresses, where volunteers' credit is paid. An address is the
 * last 20 bytes of keccak-256 of the uncompressed public key; mixed case
 * carries an EIP-55 checksum that catches typos.
 */

const HEX40 = /^0x[0-9a-fA-F]{40}$/;

/** EIP-55: uppercase each hex letter whose nibble in keccak256(lowercase hex) is >= 8. */
export function toChecksumAddress(s: string): string {
  if (!HEX40.test(s)) throw new Error(`not a wallet address: ${JSON.stringify(s)}; a wallet is 0x followed by 40 hex digits`);
  const lower = s.slice(2).toLowerCase();
  const hash = bytesToHex(keccak_256(new TextEncoder().encode(lower)));
  let out = '0x';
  for (let i = 0; i < 40; i++) {
    const c = lower[i]!;
    out += parseInt(hash[i]!, 16) >= 8 ? c.toUpperCase() : c;
  }
  return out;
}

/** Why `s` is not a usable wallet address, or null when it is. All-lowercase and all-uppercase carry no checksum and are accepted. */
export function walletProblem(s: string): string | null {
  if (typeof s !== 'string' || !HEX40.test(s)) return 'a wallet is 0x followed by 40 hex digits';
  const body = s.slice(2);
  if (body === body.toLowerCase() || body === body.toUpperCase()) return null;
  const good = toChecksumAddress(s);
  if (good !== s) return `mixed-case address fails its EIP-55 checksum; did you mean ${good}?`;
  return null;
}

export function isWallet(s: unknown): s is string {
  return typeof s === 'string' && walletProblem(s) === null;
}

export function addressFromPrivateKey(hex: string): string {
  const body = hex.startsWith('0x') || hex.startsWith('0X') ? hex.slice(2) : hex;
  if (!/^[0-9a-fA-F]{64}$/.test(body)) throw new Error('a private key is 32 bytes: 64 hex digits, optionally after 0x');
  const key = hexToBytes(body.toLowerCase());
  if (!secp256k1.utils.isValidSecretKey(key)) throw new Error('private key is out of range for secp256k1');
  const pub = secp256k1.getPublicKey(key, false); // 0x04 || X || Y
  const hash = keccak_256(pub.subarray(1));
  return toChecksumAddress(`0x${bytesToHex(hash.subarray(12))}`);
}

/** A fresh random key pair; the private key is 0x-prefixed hex. */
export function createWallet(): { privateKey: string; address: string } {
  const privateKey = `0x${bytesToHex(secp256k1.utils.randomSecretKey())}`;
  return { privateKey, address: addressFromPrivateKey(privateKey) };
}
